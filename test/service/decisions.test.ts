/** The audit API's service layer on a decision log: watching from now, and bounded scans per page. */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { decisionCursor, queryDecisions, watchDecisions } from "../../src/service/index.js";
import type { DecisionLog, Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { decision, decisions } from "../store/conformance/decisions.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "../store/fixtures/pg-setup.js";

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

async function open(): Promise<Store> {
  const store = await createSqliteStore({ path: ":memory:", decisionCheckpointEvery: 10 });
  stores.push(store);
  return store;
}

describe("watchDecisions", () => {
  it("from now: starts after the newest record and delivers only what is appended later", async () => {
    const store = await open();
    await store.decisions.append(decisions(1, 26));
    let firstRead: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      firstRead = resolve;
    });
    // Tells the test when the watch has read the log once past its start (its first poll).
    let reads = 0;
    const log: DecisionLog = {
      ...store.decisions,
      read: async (query) => {
        const got = await store.decisions.read(query);
        if (query?.afterSeq !== undefined && query.afterSeq >= 25 && reads++ === 0) firstRead();
        return got;
      },
      checkpoints: () => store.decisions.checkpoints(),
    };
    const stop = new AbortController();
    const watch = watchDecisions(log, { pollMs: 5, signal: stop.signal });
    const next = watch.next();
    await started;
    await store.decisions.append([decision(100, { subject: "user:late" })]);
    const got = await next;
    expect(got.value?.decision).toMatchObject({ seq: 26, record: { subject: "user:late" } });
    stop.abort();
    expect((await watch.next()).done).toBe(true);
  });

  it("by a rare subject: each poll reads on from where the last one looked, not from the last match", async () => {
    const store = await open();
    await store.decisions.append(decisions(1, 41));
    // The cursor of each read the watch makes by subject; the test goes on at its second.
    const cursors: number[] = [];
    let second: () => void = () => {};
    const secondRead = new Promise<void>((resolve) => {
      second = resolve;
    });
    const log: DecisionLog = {
      ...store.decisions,
      read: async (query) => {
        if (query?.subject !== undefined && cursors.push(query.afterSeq ?? 0) === 2) second();
        return store.decisions.read(query);
      },
      checkpoints: () => store.decisions.checkpoints(),
      lastSeq: () => store.decisions.lastSeq!(),
    };
    const stop = new AbortController();
    const watch = watchDecisions(log, {
      after: decisionCursor(0),
      subject: "user:rare",
      pollMs: 1,
      signal: stop.signal,
    });
    const next = watch.next();
    await secondRead;
    // Without lastSeq the second poll would read records 1-40 again.
    expect(cursors.slice(0, 2)).toEqual([0, 40]);
    await store.decisions.append([decision(100, { subject: "user:rare" })]);
    expect((await next).value?.decision).toMatchObject({ seq: 41, record: { subject: "user:rare" } });
    stop.abort();
    expect((await watch.next()).done).toBe(true);
  });
});

describe("queryDecisions", () => {
  it("answers a selective filter over a long log in bounded steps, with a cursor to go on", async () => {
    const store = await open();
    await store.decisions.append(decisions(1, 12_001));
    await store.decisions.append([decision(20_000, { resource: "vault:1" })]);
    const first = await queryDecisions(store.decisions, { resourceType: "vault" });
    // The first page scanned its limit of records and found none: it says where to go on.
    expect(first.decisions).toEqual([]);
    expect(first.cursor).toBeDefined();
    const second = await queryDecisions(store.decisions, { resourceType: "vault", cursor: first.cursor! });
    expect(second.decisions.map((d) => d.seq)).toEqual([12_001]);
    expect(second.cursor).toBeUndefined();
  });
});

describe.skipIf(PG_URL === undefined)(
  `on PostgreSQL, two replicas${PG_URL === undefined ? ` (${PG_SKIP_REASON})` : ""}`,
  () => {
    const schemas = new SchemaTracker();
    afterAll(() => schemas.dropAll());

    it("a watch on one replica delivers what the other appends; a query there filters by the chain", async () => {
      const schema = schemas.next();
      const a = await createPostgresStore({ url: PG_URL!, schema, pool: { max: 2 } });
      stores.push(a);
      const b = await createPostgresStore({ url: PG_URL!, schema, pool: { max: 2 } });
      stores.push(b);
      const stop = new AbortController();
      const watch = watchDecisions(b.decisions, { after: decisionCursor(0), pollMs: 5, signal: stop.signal });
      await a.decisions.append(decisions(1, 7));
      const seen: number[] = [];
      for await (const { decision: d } of watch) {
        seen.push(d.seq);
        if (seen.length === 6) break;
      }
      stop.abort();
      expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
      // decision(i) acts for user:alice when i is a multiple of 3.
      const page = await queryDecisions(b.decisions, { subject: "user:alice" });
      expect(page.decisions.map((d) => d.seq)).toEqual([3, 6]);
    });
  },
);
