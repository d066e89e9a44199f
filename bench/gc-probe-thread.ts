/**
 * `bench/gc-probe.ts --variant thread`: history compaction in a worker thread, on a connection of
 * its own to the same file; each message is one run's options, each reply its report.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { CompactionOptions } from "../src/store/index.js";
import { createSqliteCompaction } from "../src/store/sqlite/compaction.js";
import { openConnection } from "../src/store/sqlite/connection.js";

const { db } = openConnection({ path: (workerData as { path: string }).path });
const compaction = createSqliteCompaction(db, () => {});
parentPort!.on("message", async (options: CompactionOptions) => {
  parentPort!.postMessage(await compaction.run(options));
});
