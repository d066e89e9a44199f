/**
 * `npx tsx bench/lookup-join-cpu.ts [--scale m] [--rounds 20]`: the engine's part of the
 * WatchPermissions join (bench/watch-permissions-join.ts) alone: a user who joins the group that
 * views the root folder, and the chunked LookupResources of `document#view` the watch makes for
 * that set (`cursors: false`, engine/lookup-batches.ts). Prints the CPU time (process.cpuUsage:
 * user + system, so the machine's other load counts less than in wall time) of each round after
 * warm-up, their median and minimum, and per result; and beside it, for comparison, the public
 * one-result-at-a-time LookupResources with cursors. Reads go through the in-memory copy.
 */
import "../src/cli/v8-flags.js";
import { parseArgs } from "node:util";
import { createEngine, type LookupResourcesRequest, lookupBatchesOf } from "../src/engine/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror } from "./fixtures.js";

const { values: args } = parseArgs({
  options: {
    scale: { type: "string", default: "m" },
    rounds: { type: "string", default: "20" },
    public: { type: "boolean", default: false },
  },
});
const corpus = generateCorpus(args.scale as Scale);
const sqlite = await createSqliteStore({ path: ":memory:" });
await sqlite.writeSchema(corpus.schema);
await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
const root = corpus.relationships.find(
  (r) => r.resource.type === "folder" && r.resource.id === "f0" && r.subject.type === "group",
);
if (root === undefined) throw new Error("no group views the root folder in this corpus");
const user = { type: "user", id: "join-bench" };
await sqlite.write([
  {
    operation: "touch",
    relationship: { resource: { type: "group", id: root.subject.id }, relation: "member", subject: user },
  },
]);
const store = await loadedMirror(sqlite);
const engine = createEngine({ store });
const batches = lookupBatchesOf(engine.lookupResources);
if (batches === undefined) throw new Error("the engine's lookupResources carries no chunked form");
const request: LookupResourcesRequest = {
  resourceType: "document",
  permission: "view",
  subject: user,
  consistency: { kind: "fully-consistent" },
};

async function chunked(): Promise<number> {
  let n = 0;
  for await (const chunk of batches!(request, { cursors: false })) n += chunk.length;
  return n;
}
async function single(): Promise<number> {
  let n = 0;
  for await (const _ of engine.lookupResources(request)) n++;
  return n;
}

async function measure(label: string, run: () => Promise<number>): Promise<void> {
  const rounds = Number(args.rounds);
  for (let i = 0; i < 3; i++) await run();
  const ms: number[] = [];
  let results = 0;
  for (let i = 0; i < rounds; i++) {
    const cpu = process.cpuUsage();
    results = await run();
    const d = process.cpuUsage(cpu);
    ms.push((d.user + d.system) / 1000);
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(
    `${label}: ${results} results; CPU ms per lookup median ${median.toFixed(1)}, min ${sorted[0]!.toFixed(1)}` +
      ` (${((median * 1000) / results).toFixed(2)} µs per result); rounds ${ms.map((m) => m.toFixed(0)).join(" ")}`,
  );
}

await measure("chunked, cursors: false (the watch)", chunked);
if (args.public) await measure("one at a time, with cursors (public API)", single);
await store.close();
