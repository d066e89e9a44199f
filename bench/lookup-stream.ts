/**
 * `npx tsx bench/lookup-stream.ts [s|m]`: what a streaming LookupResources costs for the corpus's
 * heaviest user (the most groups) and a typical one: the whole answer, a `limit: 10` page and the
 * first result alone. Counted in work, which a loaded machine does not distort: store reads
 * (reverse and forward calls), rows they returned, and dispatches; CPU time per call is printed
 * beside, as a ratio from the same run. Reads go through the in-memory copy, as `latch serve` does.
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine } from "../src/engine/index.js";
import { delegateReader, delegateStore, type Store } from "../src/store/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror, pickFixtures } from "./fixtures.js";

const scale = (process.argv[2] ?? "s") as Scale;
const RUNS = Number(process.argv[3] ?? 20);

const counts = { reverse: 0, forward: 0, rows: 0 };
function counted(store: Store): Store {
  return {
    ...delegateStore(store),
    at(revision) {
      const reader = store.at(revision);
      return {
        ...delegateReader(reader),
        async lookupReverse(query) {
          counts.reverse++;
          const rows = await reader.lookupReverse(query);
          counts.rows += rows.length;
          return rows;
        },
        async lookupForward(query) {
          counts.forward++;
          const rows = await reader.lookupForward(query);
          counts.rows += rows.length;
          return rows;
        },
      };
    },
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "latch-lookup-stream-"));
  try {
    const corpus = generateCorpus(scale);
    const fixtures = pickFixtures(corpus);
    const sqlite = await createSqliteStore({ path: join(dir, "bench.db") });
    await sqlite.writeSchema(corpus.schema);
    await sqlite.importRelationships(corpus.relationships);
    const mirror = await loadedMirror(sqlite);
    const engine = createEngine({ store: counted(mirror), cache: false });
    const rows: string[] = [];
    for (const [who, user] of [
      ["typical", fixtures.typicalUser],
      ["heaviest", fixtures.heaviestUser],
    ] as const) {
      for (const [what, limit, stopAfter] of [
        ["all", undefined, undefined],
        ["limit 10", 10, undefined],
        ["first result", undefined, 1],
      ] as const) {
        const run = async () => {
          let n = 0;
          for await (const _ of engine.lookupResources({
            resourceType: "document",
            permission: "view",
            subject: { type: "user", id: user },
            ...(limit === undefined ? {} : { limit }),
          })) {
            if (++n === stopAfter) break;
          }
          return n;
        };
        const before = engine.stats().dispatches;
        Object.assign(counts, { reverse: 0, forward: 0, rows: 0 });
        const results = await run();
        const once = { ...counts, dispatches: engine.stats().dispatches - before };
        for (let i = 0; i < 3; i++) await run();
        const cpu = process.cpuUsage();
        for (let i = 0; i < RUNS; i++) await run();
        const used = process.cpuUsage(cpu);
        const cpuUs = (used.user + used.system) / RUNS;
        rows.push(
          `| ${who} | ${what} | ${results} | ${once.reverse} | ${once.forward} | ${once.rows} | ${once.dispatches} | ${cpuUs.toFixed(0)} |`,
        );
      }
    }
    console.log(`scale ${scale}, ${corpus.relationships.length} relationships; CPU on a loaded machine\n`);
    console.log(
      "| user | call | results | reverse reads | forward reads | rows read | dispatches | CPU µs/call |",
    );
    console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const row of rows) console.log(row);
    await mirror.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
