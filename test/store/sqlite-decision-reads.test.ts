/**
 * The SQLite decision log's long reads, with pages and ranges a few records long: verify walks one
 * snapshot however the log changes between its pages, and both it and a filtered read let the
 * event loop turn (a macrotask) between their statements.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import { openConnection } from "../../src/store/sqlite/connection.js";
import { createSqliteDecisionLog } from "../../src/store/sqlite/decisions.js";
import { createSqliteStore, type SqliteStoreOptions } from "../../src/store/sqlite/index.js";
import { checkSubjectReads } from "./conformance/decision-subjects.js";
import { decision, decisions } from "./conformance/decisions.js";

const dir = mkdtempSync(join(tmpdir(), "latch-decision-reads-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SMALL = { verifyPageRows: 7, scanRangeRows: 5 } as const;
const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

async function open(options: Partial<SqliteStoreOptions> = {}, path?: string): Promise<Store> {
  const store = await createSqliteStore({
    path: path ?? join(dir, `log-${files++}.db`),
    decisionCheckpointEvery: 10,
    decisionLongReads: SMALL,
    ...options,
  });
  opened.push(store);
  return store;
}

/** A decision log on a file of its own, counting the readers its verify opens. */
function countedLog(prepare: (db: Database.Database) => void = () => {}) {
  const path = join(dir, `log-${files++}.db`);
  const { db, storeId, tokenSecret } = openConnection({ path });
  prepare(db);
  const readers = { opened: 0 };
  const log = createSqliteDecisionLog(db, storeId, tokenSecret, {
    checkpointEvery: 10,
    longReads: SMALL,
    openReader: () => {
      readers.opened += 1;
      return new Database(path, { readonly: true });
    },
  });
  return { db, log, readers };
}

/** A pause that counts the turns and runs `between` (once) at the first of them. */
function steppedPause() {
  const state = { pauses: 0, between: undefined as (() => Promise<void>) | undefined };
  const pause = async () => {
    state.pauses += 1;
    const step = state.between;
    state.between = undefined;
    await step?.();
  };
  return { state, pause };
}

describe("sqlite decision log: verify from one snapshot, in pages", () => {
  it("reports the chain it began on as good when records are appended and pruned between pages", async () => {
    const { state, pause } = steppedPause();
    const store = await open({ decisionLongReads: { ...SMALL, pause } });
    await store.decisions.append(decisions(1, 61));
    const before = await store.decisions.verify();
    let pruned = 0;
    state.between = async () => {
      await store.decisions.append(decisions(61, 91));
      // Drops records 1-60, all but the first page of which the walk has yet to read.
      pruned = await store.decisions.prune({ keepLast: 25 });
    };
    state.pauses = 0;
    const report = await store.decisions.verify();
    expect(pruned).toBe(60);
    expect(state.pauses).toBeGreaterThan(5);
    expect(report).toEqual(before);
    expect(report).toMatchObject({ ok: true, records: 60, firstSeq: 1, lastSeq: 60 });
    expect(await store.decisions.verify()).toMatchObject({
      ok: true,
      records: 30,
      firstSeq: 61,
      lastSeq: 90,
    });
  });

  it("names the first bad record of a log many pages long", async () => {
    const path = join(dir, `log-${files++}.db`);
    const store = await open({}, path);
    await store.decisions.append(decisions(1, 61));
    const raw = new Database(path);
    try {
      const body = raw.prepare("SELECT body FROM decisions WHERE seq = 44").pluck().get() as string;
      raw.prepare("UPDATE decisions SET body = ? WHERE seq = 44").run(body.replace("reserve", "cancel"));
      raw.exec("DELETE FROM decisions WHERE seq = 51");
      expect((await store.decisions.verify()).problem).toMatchObject({ seq: 44, kind: "edited" });
      raw.prepare("UPDATE decisions SET body = ? WHERE seq = 44").run(body);
      expect((await store.decisions.verify()).problem).toMatchObject({ seq: 51, kind: "missing" });
      raw.exec(
        "UPDATE decisions SET seq = -1 WHERE seq = 22; UPDATE decisions SET seq = 22 WHERE seq = 23; UPDATE decisions SET seq = 23 WHERE seq = -1",
      );
      expect((await store.decisions.verify()).problem).toMatchObject({ seq: 22, kind: "out-of-order" });
    } finally {
      raw.close();
    }
  });
});

describe("sqlite decision log: long reads let the event loop turn", () => {
  const cases: [string, () => Promise<Store>][] = [
    ["file", () => open()],
    ["memory", () => open({ path: ":memory:" })],
  ];
  for (const [name, make] of cases) {
    it(`runs an immediate scheduled before verify first (${name})`, async () => {
      const store = await make();
      await store.decisions.append(decisions(1, 61));
      const order: string[] = [];
      setImmediate(() => order.push("immediate"));
      const report = await store.decisions.verify();
      order.push("verify");
      expect(report).toMatchObject({ ok: true, records: 60 });
      expect(order).toEqual(["immediate", "verify"]);
    });

    it(`runs an immediate scheduled before a read by a rare subject first (${name})`, async () => {
      const store = await make();
      await store.decisions.append([...decisions(1, 60), decision(60, { onBehalfOf: ["user:rare"] })]);
      const order: string[] = [];
      setImmediate(() => order.push("immediate"));
      const found = await store.decisions.read({ subject: "user:rare" });
      order.push("read");
      expect(found.map((d) => d.seq)).toEqual([60]);
      expect(order).toEqual(["immediate", "read"]);
    });

    it(`reads by subject across many ranges as a naive filter does (${name})`, async () => {
      const store = await make();
      await checkSubjectReads(store.decisions, 60);
    });
  }

  it("leaves records appended during a read to the next page, and skips records pruned meanwhile", async () => {
    const { state, pause } = steppedPause();
    const store = await open({ decisionLongReads: { ...SMALL, pause } });
    await store.decisions.append(decisions(1, 41));
    const bot = "agent:calendar-bot-v2";
    state.between = async () => {
      await store.decisions.append(decisions(41, 61));
      // Cuts at 20: the read has scanned 1-5 and goes on at 6, past what is gone.
      await store.decisions.prune({ keepLast: 40 });
    };
    const first = await store.decisions.read({ subject: bot, limit: 100 });
    expect(first.map((d) => d.seq)).toEqual([3, 21, 24, 27, 30, 33, 36, 39]);
    const next = await store.decisions.read({ subject: bot, afterSeq: 40 });
    expect(next.map((d) => d.seq)).toEqual([42, 45, 48, 51, 54, 57, 60]);
  });

  it("refuses page or range sizes below one (a read would walk nothing forever)", async () => {
    for (const sizes of [{ verifyPageRows: 0 }, { scanRangeRows: 0 }, { scanRangeRows: 2.5 }]) {
      await expect(open({ decisionLongReads: { ...SMALL, ...sizes } })).rejects.toMatchObject({
        code: "audit/invalid-option",
      });
    }
  });

  it("verifies on a reader of its own only in WAL mode (else one transaction on the serving connection)", async () => {
    for (const mode of ["wal", "delete"] as const) {
      const { db, log, readers } = countedLog((db) => {
        // A rollback journal: a reader's shared lock held across turns would stall this connection's writers.
        if (mode === "delete") db.pragma("journal_mode = DELETE");
      });
      await log.append(decisions(1, 31));
      expect(await log.verify()).toMatchObject({ ok: true, records: 30 });
      expect(readers.opened).toBe(mode === "wal" ? 1 : 0);
      db.close();
    }
  });

  it("runs one verify at a time: a call during a walk gets that walk's report", async () => {
    const { db, log, readers } = countedLog();
    await log.append(decisions(1, 31));
    const [a, b] = await Promise.all([log.verify(), log.verify()]);
    expect(a).toMatchObject({ ok: true, records: 30 });
    expect(b).toBe(a);
    expect(readers.opened).toBe(1);
    // Once it is over, the next call walks again.
    expect(await log.verify()).toEqual(a);
    expect(readers.opened).toBe(2);
    db.close();
  });
});
