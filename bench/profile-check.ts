/**
 * Profiling helper: `node --cpu-prof --import tsx bench/profile-check.ts [scale] [--no-mirror]`.
 * Loops uncached checks; reads come from the in-memory copy unless `--no-mirror`.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { createEngine } from "../src/engine/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror, pickFixtures } from "./fixtures.js";

const args = process.argv.slice(2);
const scale = (args.find((a) => !a.startsWith("--")) ?? "s") as Scale;
const corpus = generateCorpus(scale);
const sqlite = await createSqliteStore({ path: ":memory:" });
await sqlite.writeSchema(corpus.schema);
await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
const mirror = args.includes("--no-mirror") ? undefined : await loadedMirror(sqlite);
const store = mirror ?? sqlite;
const fx = pickFixtures(corpus, 1_000);
const engine = createEngine({ store, cache: false });
const only = process.env.PROFILE_KIND as keyof typeof fx | undefined;
const inputs =
  only === undefined
    ? [...fx.deniedRandom, ...fx.folderInherited, ...fx.groupNested]
    : (fx[only] as typeof fx.direct);
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < Number(process.env.PROFILE_MS ?? 8_000)) {
  for (const input of inputs) {
    await engine.check(input);
    n++;
  }
}
console.log(`${n} checks, mean ${((performance.now() - t0) / n) * 1000} µs`);
await store.close();
