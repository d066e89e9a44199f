/**
 * Why is Check slower at scale `l` than at `m` with the in-memory copy: more work per check, or the
 * same work costing more (memory latency)? Loads both scales into one process as a server loads
 * its copy (each corpus imported into a SQLite file and let go, then the copies streamed from the
 * files), then for each kind of check reports, per check:
 *
 * - work: subproblems the walk computed (the engine's dispatches) and relationships it read from the
 *   copy (counted through a wrapped snapshot, in a separate pass);
 * - time: p50 and mean, scales alternating round by round in the same process, so load on the
 *   machine hits both alike; and time per relationship read (work-normalised cost).
 *
 * Run: `npx tsx bench/check-scale-work.ts [m l] [--rounds N] [--kind direct]`.
 * Under callgrind (instruction counts and simulated cache misses of the check loop only):
 * `valgrind --tool=callgrind --instr-atstart=no --cache-sim=yes node --import tsx
 * bench/check-scale-work.ts l --callgrind` prints a line `READY <pid>`; then run
 * `callgrind_control -i on <pid>` and create the file it names; the loop runs `--checks` checks
 * (of the mix, or of one kind with `--kind direct`).
 */
import "../src/cli/v8-flags.js";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createEngine, type Engine } from "../src/engine/index.js";
import type { MemorySnapshot, Store } from "../src/store/index.js";
import { createMirroredStore } from "../src/store/mirror/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, checkMix, pickFixtures } from "./fixtures.js";

const args = process.argv.slice(2);
const scales = args.filter((a) => /^[sml]$/.test(a)) as Scale[];
if (scales.length === 0) scales.push("m", "l");
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args[i + 1]);
};
const rounds = flag("--rounds", 5);
const callgrind = args.includes("--callgrind");
const callgrindChecks = flag("--checks", 3_000);
/** One kind only (`--kind direct`). */
const kindArg = args.indexOf("--kind");
const onlyKind = kindArg < 0 ? undefined : args[kindArg + 1];

/** Counts the relationships a snapshot hands out. */
function countingStore(store: Store, counter: { rows: number }): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== "at") return Reflect.get(target, prop, receiver);
      return (revision: bigint) =>
        new Proxy(target.at(revision), {
          get(reader, p, r) {
            if (p !== "snapshot") return Reflect.get(reader, p, r);
            return (): MemorySnapshot | undefined => {
              const snap = reader.snapshot?.();
              if (snap === undefined) return undefined;
              return {
                relationshipsOf(type, id) {
                  const rows = snap.relationshipsOf(type, id);
                  counter.rows += rows.length;
                  return rows;
                },
                lookupReverse(query) {
                  const rows = snap.lookupReverse(query);
                  counter.rows += rows?.length ?? 0;
                  return rows;
                },
              };
            };
          },
        });
    },
  });
}

interface Loaded {
  readonly scale: Scale;
  readonly kinds: [string, readonly CheckInput[]][];
  readonly engine: Engine;
  readonly counted: Engine;
  readonly counter: { rows: number };
  readonly close: () => Promise<void>;
}

/** What a scale's run needs once its corpus is gone: the SQLite file it was imported into, its questions. */
interface Prepared {
  readonly scale: Scale;
  readonly path: string;
  readonly kinds: [string, readonly CheckInput[]][];
}

/**
 * The corpus imported into a SQLite file and the questions picked from it; the corpus itself is
 * garbage when this returns, so the copies load (`load`) into a heap without it, as a server's does.
 */
async function prepare(scale: Scale, dir: string): Promise<Prepared> {
  const t0 = performance.now();
  const corpus = generateCorpus(scale);
  const path = join(dir, `${scale}.db`);
  const sqlite = await createSqliteStore({ path });
  await sqlite.writeSchema(corpus.schema);
  await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
  await sqlite.close();
  // Under callgrind one kind's checks are as many as the loop runs: each object read once, as in the mix.
  const fx = pickFixtures(
    corpus,
    callgrind && onlyKind !== undefined ? Math.max(2_000, callgrindChecks) : 2_000,
  );
  const kinds: [string, readonly CheckInput[]][] = [
    ["mix", checkMix(fx, 6_000, createRandom(11))],
    ["direct", fx.direct],
    ["owner", fx.owner],
    ["group-nested", fx.groupNested],
    ["folder-inherited", fx.folderInherited],
    ["folder-and-group", fx.folderAndGroup],
    ["denied-random", fx.deniedRandom],
  ];
  if (onlyKind !== undefined && !kinds.some(([k]) => k === onlyKind))
    throw new Error(`unknown kind ${onlyKind}: ${kinds.map(([k]) => k).join(", ")}`);
  console.log(
    `scale ${scale}: ${corpus.relationships.length} relationships imported, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  return { scale, path, kinds: onlyKind === undefined ? kinds : kinds.filter(([k]) => k === onlyKind) };
}

/** The copy loaded from the file by streaming, as `latch serve` loads it. */
async function load({ scale, path, kinds }: Prepared): Promise<Loaded> {
  const t0 = performance.now();
  const mirror = createMirroredStore(await createSqliteStore({ path }), { maxRelationships: 10_000_000 });
  if (!(await mirror.ready())) throw new Error("the copy did not load");
  const counter = { rows: 0 };
  console.log(
    `scale ${scale}: ${mirror.stats().relationships} relationships in the copy, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  return {
    scale,
    kinds,
    engine: createEngine({ store: mirror, cache: false }),
    counted: createEngine({ store: countingStore(mirror, counter), cache: false }),
    counter,
    close: () => mirror.close(),
  };
}

async function timeAll(engine: Engine, inputs: readonly CheckInput[]): Promise<number[]> {
  const out = new Array<number>(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const t0 = performance.now();
    await engine.check(inputs[i]!);
    out[i] = performance.now() - t0;
  }
  return out;
}

async function work(l: Loaded, inputs: readonly CheckInput[]) {
  const d0 = l.counted.stats().dispatches;
  l.counter.rows = 0;
  for (const input of inputs) await l.counted.check(input);
  return {
    dispatches: (l.counted.stats().dispatches - d0) / inputs.length,
    rows: l.counter.rows / inputs.length,
  };
}

/** A full collection, from a process started without `--expose-gc`. */
function fullGc(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "latch-scale-work-"));
  try {
    const prepared: Prepared[] = [];
    for (const scale of scales) prepared.push(await prepare(scale, dir));
    // The corpora are garbage now: collected before the copies load, so that, as in a server, the
    // copies' objects do not sit among the corpus's dead ones (loaded beside the corpora, the two
    // copies' 563 MiB were spread over 1.15-1.23 GiB of pages; now about 640 MiB), and no full
    // collection of them runs inside the timed loop.
    fullGc();
    const loaded: Loaded[] = [];
    for (const p of prepared) loaded.push(await load(p));
    fullGc();
    const old = getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!;
    console.log(
      `old space: ${(old.space_used_size / 2 ** 20).toFixed(0)} MiB used in ${(old.space_size / 2 ** 20).toFixed(0)} MiB of pages`,
    );
    if (callgrind) {
      const l = loaded[0]!;
      const inputs = l.kinds[0]![1];
      const mix = inputs.slice(0, callgrindChecks);
      await timeAll(l.engine, mix); // JIT warm-up, outside the counted window
      const go = join(dir, "go");
      console.log(`READY ${process.pid} touch ${go}`);
      while (!existsSync(go)) await new Promise((r) => setTimeout(r, 200));
      await timeAll(l.engine, mix);
      console.log(`DONE ${mix.length} checks`);
      await new Promise((r) => setTimeout(r, 3_000)); // time to turn instrumentation off and dump
      return;
    }
    for (const l of loaded) await timeAll(l.engine, l.kinds[0]![1]); // warm-up
    const times = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      for (const l of loaded) {
        for (const [kind, inputs] of l.kinds) {
          const key = `${l.scale}/${kind}`;
          times.set(key, [...(times.get(key) ?? []), ...(await timeAll(l.engine, inputs))]);
        }
      }
    }
    console.log(
      "\n| kind | scale | dispatches/check | rows read/check | p50 µs | mean µs | ns per row read |",
    );
    console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (const [kind] of loaded[0]!.kinds) {
      for (const l of loaded) {
        const inputs = l.kinds.find(([k]) => k === kind)![1];
        const w = await work(l, inputs);
        const t = times.get(`${l.scale}/${kind}`)!;
        console.log(
          `| ${kind} | ${l.scale} | ${w.dispatches.toFixed(1)} | ${w.rows.toFixed(1)} | ${(p50(t) * 1000).toFixed(1)} | ${(mean(t) * 1000).toFixed(1)} | ${((mean(t) * 1e6) / w.rows).toFixed(0)} |`,
        );
      }
    }
    for (const l of loaded) await l.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
