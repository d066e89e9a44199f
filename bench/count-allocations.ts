/**
 * Counts, rather than times, what a check costs in garbage: `node --max-semi-space-size=1 --import
 * tsx bench/count-allocations.ts [scale]` runs a fixed list of uncached checks (the bench's mix)
 * a fixed number of times, with and without `witness: true`, and prints the young-generation
 * collections (scavenges) each run caused and the dispatches it made. With a 1 MiB semi-space a
 * scavenge stands for about 1 MiB allocated, so the counts compare allocation on a loaded machine
 * where timings cannot; run it on two commits to see that a change allocates nothing more.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { PerformanceObserver } from "node:perf_hooks";
import { createEngine } from "../src/engine/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror, mixKinds, pickFixtures } from "./fixtures.js";

const scale = (process.argv[2] ?? "s") as Scale;
const rounds = Number(process.env.COUNT_ROUNDS ?? 20);
const corpus = generateCorpus(scale);
const sqlite = await createSqliteStore({ path: ":memory:" });
await sqlite.writeSchema(corpus.schema);
await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
const store = await loadedMirror(sqlite);
const fx = pickFixtures(corpus, 1_000);
const inputs = mixKinds(fx);

let scavenges = 0;
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    // NODE_PERFORMANCE_GC_MINOR
    if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === 1) scavenges++;
  }
});
observer.observe({ entryTypes: ["gc"] });

async function run(witness: boolean): Promise<void> {
  const engine = createEngine({ store, cache: false });
  // Warm up first, so that compiled code, not the interpreter, is counted.
  for (const input of inputs) await engine.check({ ...input, ...(witness ? { witness } : {}) });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const before = scavenges;
  const requests = inputs.map((input) => (witness ? { ...input, witness } : input));
  for (let r = 0; r < rounds; r++) for (const request of requests) await engine.check(request);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const checks = rounds * inputs.length;
  const { dispatches } = engine.stats();
  console.log(
    `${witness ? "witness on " : "witness off"}: ${checks} checks, ${scavenges - before} scavenges (${((scavenges - before) / (checks / 1000)).toFixed(2)} per 1000 checks), ${dispatches} dispatches`,
  );
}

for (const witness of [false, true, false, true]) await run(witness);
observer.disconnect();
await store.close();
