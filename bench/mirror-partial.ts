/**
 * What a copy over its limit costs: the same check mix on one SQLite store through copies of
 * several limits (whole, partial, tiny) and through no copy, alternating round by round in one
 * process so that load on the machine hits each alike. Prints, per limit, the sets let go, what the
 * copy holds, and Check p50/mean (uncached engine, as bench/engine-bench.ts).
 * Run: `npx tsx bench/mirror-partial.ts [scale] [--rounds N]` (default m, 3 rounds).
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "../src/engine/index.js";
import { delegateStore } from "../src/store/index.js";
import { createMirroredStore } from "../src/store/mirror/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, checkMix, pickFixtures } from "./fixtures.js";

const args = process.argv.slice(2);
const scale = (args.find((a) => /^[sml]$/.test(a)) ?? "m") as Scale;
const roundsAt = args.indexOf("--rounds");
const rounds = roundsAt < 0 ? 3 : Number(args[roundsAt + 1]);

async function timeAll(engine: Engine, inputs: readonly CheckInput[], into: number[]): Promise<void> {
  for (const input of inputs) {
    const t0 = performance.now();
    await engine.check(input);
    into.push(performance.now() - t0);
  }
}

const dir = mkdtempSync(join(tmpdir(), "latch-mirror-partial-"));
try {
  const corpus = generateCorpus(scale);
  const n = corpus.relationships.length;
  const sqlite = await createSqliteStore({ path: join(dir, "bench.db") });
  await sqlite.writeSchema(corpus.schema);
  await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
  const mix = checkMix(pickFixtures(corpus, 2_000), 3_000, createRandom(11));
  // Every copy reads the one store; none closes it.
  const unclosed = { ...delegateStore(sqlite), close: async () => undefined };
  const cases: { name: string; engine: Engine; times: number[] }[] = [];
  for (const [name, limit] of [
    ["whole", 10 * n],
    ["60%", Math.floor(0.6 * n)],
    ["30%", Math.floor(0.3 * n)],
    ["1 (tiny)", 1],
  ] as const) {
    const copy = createMirroredStore(unclosed, { maxRelationships: limit });
    if (!(await copy.ready())) throw new Error("the copy did not load");
    const s = copy.stats();
    const away = s.sets.filter((x) => !x.mirrored).map((x) => `${x.type}#${x.relation}`);
    console.log(
      `limit ${name}: holds ${s.relationships} of ${n}; reads from SQLite: ${away.length === 0 ? "none" : away.join(", ")}`,
    );
    cases.push({
      name: `copy, limit ${name}`,
      engine: createEngine({ store: copy, cache: false }),
      times: [],
    });
  }
  cases.push({ name: "no copy (SQLite)", engine: createEngine({ store: sqlite, cache: false }), times: [] });
  for (const c of cases) await timeAll(c.engine, mix.slice(0, 500), []); // warm-up
  for (let r = 0; r < rounds; r++) for (const c of cases) await timeAll(c.engine, mix, c.times);
  console.log(`\nscale ${scale}, check mix, ${rounds} x ${mix.length} checks each (loaded machine)`);
  console.log("| reads through | p50 µs | mean µs |\n| --- | ---: | ---: |");
  for (const c of cases) {
    const sorted = [...c.times].sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
    console.log(
      `| ${c.name} | ${(sorted[Math.floor(sorted.length / 2)]! * 1000).toFixed(1)} | ${(mean * 1000).toFixed(1)} |`,
    );
  }
  await sqlite.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
