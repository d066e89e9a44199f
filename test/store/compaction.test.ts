/**
 * History compaction seen from a client: checks pinned to tokens inside the window answer as
 * before, tokens outside are refused (at-exact-snapshot) or served fresher (at-least-as-fresh), and
 * on PostgreSQL two stores compacting one database at once, while writes go on, lose nothing.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import { watchChanges } from "../../src/service/index.js";
import type { Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { exportAll, SCHEMA, sleep } from "./conformance/helpers.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });
const remove = (text: string) => ({ operation: "delete" as const, relationship: parseRelationship(text) });

function checkAt(
  engine: Engine,
  token: string,
  user: string,
  kind: "at-exact-snapshot" | "at-least-as-fresh",
) {
  return engine.check({
    resource: { type: "document", id: "d" },
    permission: "view",
    subject: { type: "user", id: user },
    consistency: { kind, token },
  });
}

describe("compaction through the engine (SQLite file)", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-gc-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("answers checks at tokens inside the window as before and refuses exact snapshots outside", async () => {
    const store = await createSqliteStore({ path: join(dir, "engine.db") });
    try {
      await store.writeSchema(SCHEMA);
      const users = ["alice", "bob", "carol"];
      const tokens: string[] = [];
      // Each user gains and loses access in turn, so every revision has its own answer.
      for (const user of users) {
        tokens.push(store.encodeRevision(await store.write([touch(`document:d#viewer@user:${user}`)])));
        tokens.push(store.encodeRevision(await store.write([remove(`document:d#viewer@user:${user}`)])));
      }
      await sleep(30);
      const split = Date.now();
      await sleep(30);
      for (const user of users) {
        tokens.push(store.encodeRevision(await store.write([touch(`document:d#owner@user:${user}`)])));
      }
      const engine = createEngine({ store, quantizationMs: 0, cache: false });
      const answers = async (from: number) => {
        const out: string[] = [];
        for (const token of tokens.slice(from)) {
          for (const user of users) out.push((await checkAt(engine, token, user, "at-exact-snapshot")).state);
        }
        return out;
      };
      const insideFrom = 5; // tokens[5] is the last revision before the split: the horizon
      const before = await answers(insideFrom);
      const report = await store.compactHistory!({ windowMs: 0, now: split, graceMs: 0 });
      expect(report.horizon).toBe(store.decodeRevision(tokens[insideFrom]!));
      expect(report.relationshipVersions).toBeGreaterThan(0);
      expect(await answers(insideFrom)).toEqual(before);

      const refused = await checkAt(engine, tokens[0]!, "alice", "at-exact-snapshot").catch(
        (e: unknown) => e,
      );
      expect(isLatchError(refused) && refused.code).toBe("revision/compacted");
      expect(isLatchError(refused) && refused.kind).toBe("failed-precondition");
      // Watch from a compacted revision is refused too, through the service's change feed.
      const watch = watchChanges(store, { after: store.decodeRevision(tokens[0]!) });
      const watched = await watch.next().catch((e: unknown) => e);
      expect(isLatchError(watched) && watched.code).toBe("revision/compacted");
      const fromHorizon = watchChanges(store, { after: report.horizon });
      expect((await fromHorizon.next()).value?.revision).toBe(report.horizon + 1n);
      await fromHorizon.return(undefined);
      // At least as fresh as an old token: any newer revision honours it.
      const fresher = await checkAt(engine, tokens[0]!, "alice", "at-least-as-fresh");
      expect(fresher.revision).toBe(await store.currentRevision());
      expect(fresher.state).toBe("ALLOWED");
    } finally {
      await store.close();
    }
  });
});

describe("background compaction in a thread (SQLite file)", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-gc-thread-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A history of `rounds` grants and revocations, then a split time: the window ends there. */
  async function history(store: Store, rounds: number): Promise<{ split: number; tokens: string[] }> {
    await store.writeSchema(SCHEMA);
    const tokens: string[] = [];
    for (let i = 0; i < rounds; i++) {
      tokens.push(store.encodeRevision(await store.write([touch(`document:d#viewer@user:u${i}`)])));
      tokens.push(store.encodeRevision(await store.write([remove(`document:d#viewer@user:u${i}`)])));
    }
    await sleep(30);
    const split = Date.now();
    await sleep(30);
    tokens.push(store.encodeRevision(await store.write([touch("document:d#owner@user:kept")])));
    return { split, tokens };
  }

  it("runs on its worker thread and the serving side refuses below the new horizon at once", async () => {
    const threads: number[] = [];
    const path = join(dir, "thread.db");
    const store = await createSqliteStore({ path, onCompactionThreadRun: (id) => threads.push(id) });
    try {
      const { split, tokens } = await history(store, 3);
      const engine = createEngine({ store, quantizationMs: 0, cache: false });
      // Cache the horizon (none yet) on the serving side first: the run must not be hidden by it.
      expect(await store.historyHorizon!()).toBeUndefined();
      const report = await store.compactHistory!({ background: true, windowMs: 0, now: split, graceMs: 0 });
      expect(threads).toHaveLength(1);
      expect(threads[0]).not.toBe(threadId);
      expect(report.horizon).toBe(store.decodeRevision(tokens[5]!));
      expect(report.applied).toBe(report.horizon);
      expect(report.relationshipVersions).toBeGreaterThan(0);
      const refused = await checkAt(engine, tokens[0]!, "u0", "at-exact-snapshot").catch((e: unknown) => e);
      expect(isLatchError(refused) && refused.code).toBe("revision/compacted");
      expect((await checkAt(engine, tokens[5]!, "u2", "at-exact-snapshot")).state).toBe("DENIED");
      expect(await exportAll(store)).toEqual(["document:d#owner@user:kept"]);
      // `latch gc` (no background flag) stays on this thread.
      await store.compactHistory!({ windowMs: 0, graceMs: 0 });
      expect(threads).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("applies in a later run the horizon an earlier one published, refused below since that run", async () => {
    const store = await createSqliteStore({ path: join(dir, "grace.db") });
    try {
      const { split, tokens } = await history(store, 3);
      const engine = createEngine({ store, quantizationMs: 0, cache: false });
      const refusedBelow = async () => {
        const refused = await checkAt(engine, tokens[0]!, "u0", "at-exact-snapshot").catch((e: unknown) => e);
        expect(isLatchError(refused) && refused.code).toBe("revision/compacted");
      };
      const grace = { background: true, windowMs: 0, graceMs: 1_000 } as const;
      const published = await store.compactHistory!({ ...grace, now: split });
      expect(published.pending).toBe(store.decodeRevision(tokens[5]!));
      expect(published.relationshipVersions).toBe(0);
      await refusedBelow();
      // The thread deletes below the horizon its last report carried without asking again.
      const applied = await store.compactHistory!({ ...grace, windowMs: 2_000, now: split + 2_000 });
      expect(applied.applied).toBe(published.horizon);
      expect(applied.relationshipVersions).toBeGreaterThan(0);
      await refusedBelow();
      expect((await checkAt(engine, tokens[5]!, "u2", "at-exact-snapshot")).state).toBe("DENIED");
      expect(await exportAll(store)).toEqual(["document:d#owner@user:kept"]);
    } finally {
      await store.close();
    }
  });

  it("fails a run with the thread's error, as a run here would fail", async () => {
    const gone = join(dir, "gone");
    mkdirSync(gone);
    const store = await createSqliteStore({ path: join(gone, "x.db") });
    try {
      await history(store, 1);
      // The thread opens its own connection on its first run: the file's directory is gone by then.
      rmSync(gone, { recursive: true });
      await expect(store.compactHistory!({ background: true, windowMs: 0, graceMs: 0 })).rejects.toThrow(
        /Cannot open database/,
      );
    } finally {
      await store.close();
    }
  });

  it("closes cleanly during a run, which ends with its horizon pending; the next run finishes it", async () => {
    const path = join(dir, "close.db");
    const store = await createSqliteStore({ path });
    const { split } = await history(store, 40);
    const before = await exportAll(store);
    // One change per batch: the run is still deleting when the close reaches the thread.
    const run = store.compactHistory!({
      background: true,
      windowMs: 0,
      now: split,
      graceMs: 0,
      batchSize: 1,
    });
    await store.close();
    const report = await run;
    expect(report.horizon).toBeGreaterThan(0n);
    expect(report.applied === report.horizon || report.pending === report.horizon).toBe(true);
    await expect(store.compactHistory!({ background: true })).rejects.toThrow(/closed/);

    const reopened = await createSqliteStore({ path });
    try {
      expect(await exportAll(reopened)).toEqual(before);
      const finished = await reopened.compactHistory!({
        background: true,
        windowMs: 0,
        now: split,
        graceMs: 0,
      });
      expect(finished.applied).toBe(report.horizon);
      expect(finished.pending).toBeUndefined();
      expect(await exportAll(reopened)).toEqual(before);
    } finally {
      await reopened.close();
    }
  });
});

if (PG_URL === undefined) {
  describe.skip(PG_SKIP_REASON, () => {
    it("compacts one PostgreSQL database from two stores at once", () => undefined);
  });
} else {
  const url = PG_URL;
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());

  describe("concurrent compaction (PostgreSQL)", () => {
    it("two stores compacting at once, while writes go on, lose nothing inside the window", async () => {
      const schema = schemas.next();
      const a = await createPostgresStore({ url, schema, pool: { max: 3 } });
      const b = await createPostgresStore({ url, schema, pool: { max: 3 } });
      const stores: Store[] = [a, b];
      try {
        await a.writeSchema(SCHEMA);
        for (let round = 0; round < 20; round++) {
          await stores[round % 2]!.write([
            touch(`document:d${round % 5}#viewer@user:u${round % 3}`),
            touch(`document:e#viewer@user:u${round}`),
          ]);
        }
        await sleep(30);
        const split = Date.now();
        await sleep(30);
        const kept: bigint[] = [];
        for (let round = 0; round < 6; round++) {
          kept.push(await a.write([touch(`document:d${round % 5}#owner@user:u${round % 3}`)]));
        }
        const reference = await Promise.all(kept.map((r) => exportAll(a, r)));
        const options = { windowMs: 0, now: split, graceMs: 0, batchSize: 3 };
        // Compactions from both stores at once, with writes in between.
        const writes = b.write([touch("document:late#viewer@user:z")]);
        const reports = await Promise.all([
          a.compactHistory!(options),
          b.compactHistory!(options),
          a.compactHistory!(options),
          b.compactHistory!(options),
        ]);
        const late = await writes;
        const removed = reports.reduce((n, r) => n + r.relationshipVersions, 0);
        expect(removed).toBeGreaterThan(0);
        for (const r of reports) expect(r.skipped === "locked" || r.horizon === kept[0]! - 1n).toBe(true);
        expect(await Promise.all(kept.map((r) => exportAll(b, r)))).toEqual(reference);
        expect(await exportAll(a, late)).toContain("document:late#viewer@user:z");
        // Nothing below the horizon is left, and a second pass finds nothing more.
        const again = await a.compactHistory!({ ...options, dryRun: true });
        expect(again.relationshipVersions).toBe(0);
        // The run that removed versions vacuumed the table, so their space is reused at once.
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          const stats = await client.query<{ vacuums: string }>(
            "SELECT vacuum_count::text AS vacuums FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'relationships'",
            [schema],
          );
          expect(Number(stats.rows[0]?.vacuums)).toBeGreaterThan(0);
        } finally {
          await client.end();
        }
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}
