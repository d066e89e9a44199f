/**
 * SQLite store benchmark on the standard corpus (scale m, about 412k relationships):
 *   npx tsx bench/store-bench.ts [--scale s|m|l]
 * Measures bulk import into a temp-file store, single-relationship write latency and the engine's
 * batched forward/reverse lookups. The corpus is generated before any timer starts.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Store } from "../src/store/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror } from "./fixtures.js";

const scaleArg = process.argv.indexOf("--scale");
const scale = (scaleArg >= 0 ? process.argv[scaleArg + 1] : "m") as Scale;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU time of this process (user + system) in ns: on a shared, loaded machine wall time lies. */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1_000;
}

function summarize(label: string, samplesNs: number[], unit: "µs" | "ms", cpuTotalNs?: number): void {
  samplesNs.sort((a, b) => a - b);
  const div = unit === "µs" ? 1e3 : 1e6;
  const mean = samplesNs.reduce((a, b) => a + b, 0) / samplesNs.length;
  const f = (ns: number) => `${(ns / div).toFixed(unit === "µs" ? 1 : 3)} ${unit}`;
  console.log(
    `${label.padEnd(44)} n=${samplesNs.length}  p50 ${f(percentile(samplesNs, 50))}  p99 ${f(percentile(samplesNs, 99))}  mean ${f(mean)}${cpuTotalNs === undefined ? "" : `  cpu/op ${f(cpuTotalNs / samplesNs.length)}`}`,
  );
}

const corpus = generateCorpus(scale);
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} on this machine while measuring`,
);
const dir = mkdtempSync(join(tmpdir(), "latch-store-bench-"));
try {
  const store = await createSqliteStore({ path: join(dir, "bench.db") });
  await store.writeSchema(corpus.schema);

  const t0 = process.hrtime.bigint();
  const c0 = cpuNs();
  const imported = await store.importRelationships(corpus.relationships);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuSeconds = (cpuNs() - c0) / 1e9;
  const rate = (s: number) => Math.round(imported.count / s).toLocaleString("en-US");
  console.log(
    `import (scale ${scale}, bulk load into an empty store): ${imported.count} relationships in ${seconds.toFixed(2)} s = ${rate(seconds)} rel/s (cpu ${cpuSeconds.toFixed(2)} s = ${rate(cpuSeconds)} rel/cpu-s)`,
  );
  // Into a store that already holds relationships: one transaction, a revision per batch of 5,000.
  const batchedStore = await createSqliteStore({ path: join(dir, "batched.db") });
  await batchedStore.writeSchema(corpus.schema);
  await batchedStore.importRelationships(corpus.relationships.slice(0, 1));
  const t1 = process.hrtime.bigint();
  const c1 = cpuNs();
  const batched = await batchedStore.importRelationships(corpus.relationships.slice(1));
  const seconds1 = Number(process.hrtime.bigint() - t1) / 1e9;
  const cpu1 = (cpuNs() - c1) / 1e9;
  console.log(
    `import (non-empty store, one transaction):    ${batched.count} relationships in ${seconds1.toFixed(2)} s = ${Math.round(batched.count / seconds1).toLocaleString("en-US")} rel/s (cpu ${cpu1.toFixed(2)} s = ${Math.round(batched.count / cpu1).toLocaleString("en-US")} rel/cpu-s)`,
  );
  await batchedStore.close();

  const random = createRandom(99);
  const docs = corpus.shape.documents;
  const pickDocs = (n: number) => Array.from({ length: n }, () => `d${Math.floor(random() * docs)}`);

  // Warm the page cache and statement caches outside the timed loops.
  let revision = await store.currentRevision();
  for (let i = 0; i < 200; i++) {
    await store
      .at(revision)
      .lookupForward({ resourceType: "document", resourceIds: pickDocs(100), relations: ["viewer"] });
  }

  const writes: number[] = [];
  const c = cpuNs();
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
  summarize("single-relationship write", writes, "ms", cpuNs() - c);

  revision = await store.currentRevision();
  // The engine's two hot reads, from SQLite and from the in-memory copy that `latch serve` uses.
  const timeLookups = async (target: Store, label: string) => {
    let rows = 0;
    let c = cpuNs();
    const forward: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      const ids = pickDocs(100);
      const start = process.hrtime.bigint();
      const found = await target
        .at(revision)
        .lookupForward({ resourceType: "document", resourceIds: ids, relations: ["viewer"] });
      forward.push(Number(process.hrtime.bigint() - start));
      rows += found.length;
    }
    summarize(
      `${label}: forward lookup, 100 ids (~${Math.round(rows / 5_000)} rows)`,
      forward,
      "µs",
      cpuNs() - c,
    );

    const forwardAll: number[] = [];
    rows = 0;
    c = cpuNs();
    for (let i = 0; i < 5_000; i++) {
      const ids = pickDocs(100);
      const start = process.hrtime.bigint();
      const found = await target.at(revision).lookupForward({
        resourceType: "document",
        resourceIds: ids,
        relations: ["viewer", "owner", "parent"],
      });
      forwardAll.push(Number(process.hrtime.bigint() - start));
      rows += found.length;
    }
    summarize(
      `${label}: forward, 100 ids x 3 relations (~${Math.round(rows / 5_000)} rows)`,
      forwardAll,
      "µs",
      cpuNs() - c,
    );

    const reverse: number[] = [];
    rows = 0;
    c = cpuNs();
    for (let i = 0; i < 5_000; i++) {
      const groups = Array.from({ length: 10 }, () => `g${Math.floor(random() * corpus.shape.groups)}`);
      const start = process.hrtime.bigint();
      const found = await target.at(revision).lookupReverse({
        resourceType: "document",
        relations: ["viewer"],
        subjectType: "group",
        subjectIds: groups,
        subjectRelation: "member",
      });
      reverse.push(Number(process.hrtime.bigint() - start));
      rows += found.length;
    }
    summarize(
      `${label}: reverse lookup, 10 groups (~${Math.round(rows / 5_000)} rows)`,
      reverse,
      "µs",
      cpuNs() - c,
    );
  };
  await timeLookups(store, "sqlite");
  const loading = process.hrtime.bigint();
  const mirror = await loadedMirror(store);
  console.log(`in-memory copy loaded in ${(Number(process.hrtime.bigint() - loading) / 1e9).toFixed(2)} s`);
  await timeLookups(mirror, "in-memory copy");
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} at the end`,
  );
  await mirror.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
