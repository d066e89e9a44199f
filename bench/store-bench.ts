/**
 * SQLite store benchmark on the standard corpus (scale m, about 412k relationships):
 *   npx tsx bench/store-bench.ts [--scale s|m|l]
 * Measures bulk import into a temp-file store, single-relationship write latency and the engine's
 * batched forward/reverse lookups. The corpus is generated before any timer starts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";

const scaleArg = process.argv.indexOf("--scale");
const scale = (scaleArg >= 0 ? process.argv[scaleArg + 1] : "m") as Scale;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summarize(label: string, samplesNs: number[], unit: "µs" | "ms"): void {
  samplesNs.sort((a, b) => a - b);
  const div = unit === "µs" ? 1e3 : 1e6;
  const mean = samplesNs.reduce((a, b) => a + b, 0) / samplesNs.length;
  const f = (ns: number) => `${(ns / div).toFixed(unit === "µs" ? 1 : 3)} ${unit}`;
  console.log(
    `${label.padEnd(38)} n=${samplesNs.length}  p50 ${f(percentile(samplesNs, 50))}  p99 ${f(percentile(samplesNs, 99))}  mean ${f(mean)}`,
  );
}

const corpus = generateCorpus(scale);
const dir = mkdtempSync(join(tmpdir(), "latch-store-bench-"));
try {
  const store = await createSqliteStore({ path: join(dir, "bench.db") });
  await store.writeSchema(corpus.schema);

  const t0 = process.hrtime.bigint();
  const imported = await store.importRelationships(corpus.relationships);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(
    `import (scale ${scale})                     ${imported.count} relationships in ${seconds.toFixed(2)} s = ${Math.round(imported.count / seconds).toLocaleString("en-US")} rel/s`,
  );

  const random = createRandom(99);
  const docs = corpus.shape.documents;
  const pickDocs = (n: number) => Array.from({ length: n }, () => `d${Math.floor(random() * docs)}`);

  // Warm the page cache and statement caches outside the timed loops.
  let revision = await store.currentRevision();
  for (let i = 0; i < 200; i++) {
    await store.lookupForward(
      { resourceType: "document", resourceIds: pickDocs(100), relations: ["viewer"] },
      revision,
    );
  }

  const writes: number[] = [];
  for (let i = 0; i < 3_000; i++) {
    const relationship = {
      resource: { type: "document", id: `bench${i}` },
      relation: "viewer",
      subject: { type: "user", id: `u${i % corpus.shape.users}` },
    };
    const start = process.hrtime.bigint();
    await store.write([{ operation: "create", relationship }]);
    writes.push(Number(process.hrtime.bigint() - start));
  }
  summarize("single-relationship write", writes, "ms");

  revision = await store.currentRevision();
  const forward: number[] = [];
  let rows = 0;
  for (let i = 0; i < 5_000; i++) {
    const ids = pickDocs(100);
    const start = process.hrtime.bigint();
    const found = await store.lookupForward(
      { resourceType: "document", resourceIds: ids, relations: ["viewer"] },
      revision,
    );
    forward.push(Number(process.hrtime.bigint() - start));
    rows += found.length;
  }
  summarize(`forward lookup, 100 ids (~${Math.round(rows / 5_000)} rows)`, forward, "µs");

  const forwardAll: number[] = [];
  rows = 0;
  for (let i = 0; i < 5_000; i++) {
    const ids = pickDocs(100);
    const start = process.hrtime.bigint();
    const found = await store.lookupForward(
      { resourceType: "document", resourceIds: ids, relations: ["viewer", "owner", "parent"] },
      revision,
    );
    forwardAll.push(Number(process.hrtime.bigint() - start));
    rows += found.length;
  }
  summarize(`forward, 100 ids x 3 relations (~${Math.round(rows / 5_000)} rows)`, forwardAll, "µs");

  const reverse: number[] = [];
  rows = 0;
  for (let i = 0; i < 5_000; i++) {
    const groups = Array.from({ length: 10 }, () => `g${Math.floor(random() * corpus.shape.groups)}`);
    const start = process.hrtime.bigint();
    const found = await store.lookupReverse(
      {
        resourceType: "document",
        relations: ["viewer"],
        subjectType: "group",
        subjectIds: groups,
        subjectRelation: "member",
      },
      revision,
    );
    reverse.push(Number(process.hrtime.bigint() - start));
    rows += found.length;
  }
  summarize(`reverse lookup, 10 groups (~${Math.round(rows / 5_000)} rows)`, reverse, "µs");
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
