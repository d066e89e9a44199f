/**
 * Check at scales `m` and `l` through the in-memory copy of two source trees in one process: this
 * tree ("new") and another checkout given by path ("old", e.g. `git worktree add /tmp/old <commit>`
 * or `git archive <commit> | tar -x -C /tmp/old`, with node_modules linked). Both load the same
 * generated corpus (no SQLite import) and answer the same check mix; the four (scale, tree) pairs
 * run round by round in alternating order, so load on the machine hits them alike. Prints each
 * pair's p50 and each tree's `l`/`m` ratio: a change to the copy's layout judged in one run.
 *
 * The place in the run is not neutral: with the same code in both places (two copies of one tree),
 * "new" came out 3.5-5% faster at `l` and its ratio 0.04-0.09 lower (2026-12-05). Run it both ways
 * (from each tree, the other as `<old-tree>`) and compare each tree's figures across the two runs.
 *
 * Run: `npx tsx bench/layout-ab.ts <old-tree> [rounds]`.
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as newEngine from "../src/engine/index.js";
import * as newMirror from "../src/store/mirror/index.js";
import * as newSqlite from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, checkMix, corpusStore, pickFixtures } from "./fixtures.js";

const [oldTree, roundsArg] = process.argv.slice(2);
if (oldTree === undefined) throw new Error("usage: bench/layout-ab.ts <old-tree> [rounds]");
const rounds = Number(roundsArg ?? 8);
const oldSrc = resolve(oldTree, "src");
type EngineModule = typeof newEngine;
type MirrorModule = typeof newMirror;
type SqliteModule = typeof newSqlite;
const oldEngine: EngineModule = await import(join(oldSrc, "engine/index.js"));
const oldMirror: MirrorModule = await import(join(oldSrc, "store/mirror/index.js"));
const oldSqlite: SqliteModule = await import(join(oldSrc, "store/sqlite/index.js"));

interface Pair {
  readonly key: string;
  readonly engine: newEngine.Engine;
  readonly mix: readonly CheckInput[];
}

async function load(
  dir: string,
  scale: Scale,
  tree: string,
  E: EngineModule,
  M: MirrorModule,
  S: SqliteModule,
) {
  const corpus = generateCorpus(scale);
  const sqlite = await S.createSqliteStore({ path: join(dir, `${scale}-${tree}.db`) });
  await sqlite.writeSchema(corpus.schema);
  const mirror = M.createMirroredStore(corpusStore(sqlite, { relationships: corpus.relationships }), {
    maxRelationships: 10_000_000,
  });
  if (!(await mirror.ready())) throw new Error("the copy did not load");
  const mix = checkMix(pickFixtures(corpus, 2_000), 6_000, createRandom(11));
  console.log(`loaded ${scale} (${tree})`);
  return { key: `${scale}/${tree}`, engine: E.createEngine({ store: mirror, cache: false }), mix };
}

async function timeAll(pair: Pair): Promise<number[]> {
  const out: number[] = [];
  for (const input of pair.mix) {
    const t0 = performance.now();
    await pair.engine.check(input);
    out.push(performance.now() - t0);
  }
  return out;
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), "latch-layout-ab-"));
try {
  const pairs: Pair[] = [];
  for (const scale of ["m", "l"] as Scale[]) {
    pairs.push(await load(dir, scale, "old", oldEngine, oldMirror, oldSqlite));
    pairs.push(await load(dir, scale, "new", newEngine, newMirror, newSqlite));
  }
  // The corpora are garbage now: collected here, not inside the timed rounds.
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  for (const pair of pairs) await timeAll(pair); // warm-up
  const times = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const pair of round % 2 === 0 ? pairs : [...pairs].reverse()) {
      times.set(pair.key, [...(times.get(pair.key) ?? []), ...(await timeAll(pair))]);
    }
  }
  for (const [key, t] of times) console.log(`${key}: p50 ${(p50(t) * 1000).toFixed(2)} µs`);
  for (const tree of ["old", "new"]) {
    const ratio = p50(times.get(`l/${tree}`)!) / p50(times.get(`m/${tree}`)!);
    console.log(`${tree}: l/m p50 ${ratio.toFixed(3)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
