/**
 * Would automatic batching help the embedded client (issue 22)? The same warm checks, 64 `check()`
 * calls in flight, through the embedded client as it is and through the batcher of the remote
 * client (check-batcher.ts) put in front of it, in alternating rounds; reported as this process's
 * CPU per check (process.cpuUsage: the engine runs in this process, so that is the whole cost).
 * Run: `npx tsx bench/embedded-batching.ts [s|m] [checks per round]`.
 */
import "../src/cli/v8-flags.js";
import { createCheckBatcher } from "../src/client/check-batcher.js";
import { createEmbedded } from "../src/client/index.js";
import type { CheckParams, LatchClient } from "../src/client/types.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { checkMix, pickFixtures } from "./fixtures.js";

const scale = (process.argv[2] ?? "s") as Scale;
const perRound = Number(process.argv[3] ?? 20_000);
const corpus = generateCorpus(scale);
const store = await createSqliteStore({ path: ":memory:" });
await store.writeSchema(corpus.schema);
await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
const embedded = await createEmbedded({ database: ":memory:", store, audit: false } as never);
const mix = checkMix(pickFixtures(corpus, 2_000), 6_000, createRandom(11)) as unknown as CheckParams[];
const batcher = createCheckBatcher({
  check: (p, o) => embedded.check(p, o),
  checkBulk: (p, o) => embedded.checkBulk(p, o),
  timeoutMs: 30_000,
});
const cases: Record<string, Pick<LatchClient, "check">> = {
  "embedded, as it is": embedded,
  "embedded behind the batcher": { check: (p, o) => batcher.check(p, o) },
};

async function round(client: Pick<LatchClient, "check">, n: number): Promise<number> {
  let next = 0;
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n) await client.check(mix[next++ % mix.length]!);
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / n;
}

// Warm the engine's cache and both paths first.
for (const client of Object.values(cases)) await round(client, mix.length);
const totals: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let r = 0; r < 5; r++) {
  for (const [name, client] of Object.entries(cases)) totals[name]!.push(await round(client, perRound));
}
for (const [name, list] of Object.entries(totals)) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(
    `${name.padEnd(30)} CPU per check: median ${sorted[2]!.toFixed(1)} µs (rounds ${list.map((v) => v.toFixed(1)).join(", ")})`,
  );
}
await embedded.close();
