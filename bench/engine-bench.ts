/**
 * Engine latency on the standard corpus (about 412k relationships) in a temporary SQLite store.
 * Run: `npx tsx bench/engine-bench.ts [scale] [--no-mirror]` (scale s, m or l; default m).
 * `--no-mirror` reads every relationship from SQLite instead of the in-memory copy (the default).
 *
 * Cases: Check over a mix of direct, group, folder and denied checks with no cache at all
 * ("uncached"), the same with a warm cache ("cached"), and CheckBulk of 100 documents for one user.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CheckRequest, Engine } from "../src/engine/index.js";
import { createEngine } from "../src/engine/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, checkMix, loadedMirror, pickFixtures } from "./fixtures.js";

const args = process.argv.slice(2);
const scale = (args.find((a) => !a.startsWith("--")) ?? "m") as Scale;
const mirrored = !args.includes("--no-mirror");
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

async function time(inputs: readonly CheckInput[], engine: Engine, rounds = 1): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const input of inputs) {
      const request: CheckRequest = input;
      const t0 = performance.now();
      await engine.check(request);
      out.push(performance.now() - t0);
    }
  }
  return out.sort((a, b) => a - b);
}

function line(name: string, sorted: number[]) {
  console.log(
    `${name.padEnd(34)} n=${String(sorted.length).padStart(6)}  p50 ${us(pct(sorted, 0.5)).padStart(10)}  p99 ${us(pct(sorted, 0.99)).padStart(10)}  mean ${us(sorted.reduce((a, b) => a + b, 0) / sorted.length).padStart(10)}`,
  );
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "latch-bench-"));
  try {
    const t0 = performance.now();
    const corpus = generateCorpus(scale);
    const sqlite = await createSqliteStore({ path: join(dir, "bench.db") });
    await sqlite.writeSchema(corpus.schema);
    await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
    const mirror = mirrored ? await loadedMirror(sqlite) : undefined;
    const store = mirror ?? sqlite;
    console.log(
      `corpus ${scale}: ${corpus.relationships.length} relationships loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s${mirror === undefined ? ", reads from SQLite" : `, reads from memory (${JSON.stringify(mirror.stats(), (_k, v) => (typeof v === "bigint" ? Number(v) : v))})`}`,
    );
    const fx = pickFixtures(corpus, 2_000);
    const random = createRandom(11);
    const mix = checkMix(fx, 6_000, random);

    const uncached = createEngine({ store, cache: false });
    await time(mix.slice(0, 500), uncached); // JIT warm-up
    line("check uncached (mix)", await time(mix, uncached));
    for (const [name, list] of [
      ["  direct", fx.direct],
      ["  owner", fx.owner],
      ["  nested groups", fx.groupNested],
      ["  folder inherited", fx.folderInherited],
      ["  folder + group", fx.folderAndGroup],
      ["  denied", fx.deniedRandom],
    ] as const) {
      line(`check uncached ${name.trim()}`, await time(list.slice(0, 1000), uncached));
    }

    const cached = createEngine({ store, quantizationMs: 1_000 });
    line("check cold cache (first sight)", await time(mix, cached));
    line("check cached (repeat)", await time(mix, cached, 3));

    const docs = fx.documentIds;
    const bulk = async (engine: Engine, rounds: number) => {
      const out: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const items = Array.from({ length: 100 }, () => ({
          resource: { type: "document", id: docs[Math.floor(random() * docs.length)]! },
          permission: "view",
          subject: { type: "user", id: fx.typicalUser },
        }));
        const t = performance.now();
        await engine.checkBulk({ items });
        out.push(performance.now() - t);
      }
      return out.sort((a, b) => a - b);
    };
    await bulk(uncached, 20);
    line("checkBulk(100) uncached", await bulk(uncached, 200));
    line("checkBulk(100) cache on, new docs", await bulk(cached, 200));
    console.log("stats (cached engine)", cached.stats());
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
