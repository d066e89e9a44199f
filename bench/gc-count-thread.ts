/**
 * `bench/gc-count.ts`'s compaction thread: the store's background compaction (a connection of
 * its own, `createSqliteCompaction`), telling the serving thread through shared memory when a run
 * starts, when each of its commits lands and when it ends, which the store's own thread does not.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { CompactionOptions } from "../src/store/index.js";
import { createSqliteCompaction } from "../src/store/sqlite/compaction.js";
import { openConnection } from "../src/store/sqlite/connection.js";

const { path, shared, nice, pauseMs } = workerData as {
  path: string;
  shared: SharedArrayBuffer;
  nice: number;
  pauseMs: number;
};
/** [0] 1 while a run is in progress; [1] commits so far. */
const flags = new Int32Array(shared, 0, 2);
/** [1] when the last commit returned, [2] when the last run ended (process.hrtime, ns). */
const times = new BigInt64Array(shared, 8, 3);
if (nice !== 0) {
  // Linux: /proc/thread-self names this thread's id, which setpriority takes as a "process".
  const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  setPriority(tid, nice);
}
type Tx = ((...a: unknown[]) => unknown) & { immediate(...a: unknown[]): unknown };
const proto = Database.prototype as unknown as { transaction(fn: unknown): Tx };
const transaction = proto.transaction;
proto.transaction = function (fn) {
  const tx = transaction.call(this, fn);
  const counted = ((...a: unknown[]) => tx(...a)) as Tx;
  counted.immediate = (...a: unknown[]) => {
    try {
      return tx.immediate(...a);
    } finally {
      Atomics.store(times, 1, process.hrtime.bigint());
      Atomics.add(flags, 1, 1);
    }
  };
  return counted;
};
const { db } = openConnection({ path });
const compaction = createSqliteCompaction(db, () => {});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The horizon as the store's thread sends it (compaction-thread.ts). */
const read = () => {
  const at = Date.now();
  return { horizon: compaction.horizon(), at };
};
parentPort!.on("message", async (options: CompactionOptions) => {
  Atomics.store(flags, 0, 1);
  const report = await compaction.run(options, {
    beforeApply: async () => {
      parentPort!.postMessage({ kind: "publishing", read: read() });
      if (pauseMs > 0) await sleep(pauseMs);
    },
  });
  const r = read();
  Atomics.store(times, 2, process.hrtime.bigint());
  Atomics.store(flags, 0, 0);
  parentPort!.postMessage({ kind: "report", report, read: r });
});
