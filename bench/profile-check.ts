/** Profiling helper: `node --cpu-prof --import tsx bench/profile-check.ts [scale]`. Loops uncached checks. */
import { createEngine } from "../src/engine/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { pickFixtures } from "./fixtures.js";

const scale = (process.argv[2] ?? "s") as Scale;
const corpus = generateCorpus(scale);
const store = await createSqliteStore({ path: ":memory:" });
await store.writeSchema(corpus.schema);
await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
const fx = pickFixtures(corpus, 1_000);
const engine = createEngine({ store, cache: false });
const inputs = [...fx.deniedRandom, ...fx.folderInherited, ...fx.groupNested];
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < 8_000) {
  for (const input of inputs) {
    await engine.check(input);
    n++;
  }
}
console.log(`${n} checks, mean ${((performance.now() - t0) / n) * 1000} µs`);
await store.close();
