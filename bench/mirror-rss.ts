/**
 * Resident memory of a process that serves from the in-memory copy, as `latch serve` does: the copy
 * is loaded from a SQLite file by streaming, so no corpus is held besides it.
 * Build the file once: `npx tsx bench/mirror-rss.ts build l /tmp/l.db` (s, m or l);
 * then measure: `node --expose-gc --import tsx bench/mirror-rss.ts measure /tmp/l.db`.
 */
import "../src/cli/v8-flags.js";
import { existsSync } from "node:fs";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror } from "./fixtures.js";

const [mode, a, b] = process.argv.slice(2);
if (mode === "build" && a !== undefined && b !== undefined) {
  if (existsSync(b)) throw new Error(`${b} exists already: remove it or measure it`);
  const corpus = generateCorpus(a as Scale);
  const sqlite = await createSqliteStore({ path: b });
  await sqlite.writeSchema(corpus.schema);
  await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
  await sqlite.close();
  console.log(`${b}: ${corpus.relationships.length} relationships of scale ${a}`);
} else if (mode === "measure" && a !== undefined) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc");
  const t0 = performance.now();
  const mirror = await loadedMirror(await createSqliteStore({ path: a }));
  const seconds = (performance.now() - t0) / 1000;
  gc();
  gc();
  const m = process.memoryUsage();
  const n = mirror.stats().relationships;
  const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
  console.log(
    `${n} relationships loaded into memory in ${seconds.toFixed(1)} s (loaded machine): ` +
      `RSS ${mib(m.rss)}, heap used ${mib(m.heapUsed)} (${(m.heapUsed / n).toFixed(0)} bytes/relationship, whole process)`,
  );
  await mirror.close();
} else {
  throw new Error("usage: bench/mirror-rss.ts build <s|m|l> <file> | measure <file>");
}
