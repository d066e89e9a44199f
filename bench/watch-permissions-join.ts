/**
 * `npx tsx bench/watch-permissions-join.ts [--scale s|m] [--rounds 3]`: the one write of the
 * WatchPermissions bench that makes most of its changes, alone. A fresh user, subscribed to
 * `document#view`, joins the group that views the root folder (at `m`, 100,000 documents) and
 * leaves it again, `rounds` times. Reports for each join the watching process's CPU (the write,
 * the set's walk and lookup, the events, and reading them), when its first change and its SYNCED
 * arrived, and, for comparison, the CPU of the engine's LookupResources of that set alone (the
 * floor of a whole lookup). Wall times on a shared machine are indicative only.
 */
import { parseArgs } from "node:util";
import { openLatch } from "../src/open/index.js";
import type { PermissionEvent } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";

const { values: args } = parseArgs({
  options: { scale: { type: "string", default: "m" }, rounds: { type: "string", default: "3" } },
});
const corpus = generateCorpus(args.scale as Scale);
const raw = await createSqliteStore({ path: ":memory:" });
await raw.writeSchema(corpus.schema);
await raw.importRelationships(corpus.relationships);
const latch = await openLatch({ store: raw, approvals: false });
await latch.mirror?.ready();
const root = corpus.relationships.find(
  (r) => r.resource.type === "folder" && r.resource.id === "f0" && r.subject.type === "group",
);
if (root === undefined) throw new Error("no group views the root folder in this corpus");
const group = root.subject.id;
const user = { type: "user", id: "join-bench" };
const membership = { resource: { type: "group", id: group }, relation: "member", subject: user };
const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return ((d.user + d.system) / 1000).toFixed(0);
};

const controller = new AbortController();
const events = latch.permissions
  .watch({ resourceType: "document", permission: "view", subject: user }, { signal: controller.signal })
  [Symbol.asyncIterator]();
/** Reads to the next SYNCED: how many changes came, and when the first did (ms after `start`). */
async function untilSynced(start: number): Promise<{ changes: number; first: number }> {
  let changes = 0;
  let first = 0;
  for (;;) {
    const e = (await events.next()).value as PermissionEvent;
    if (e.kind === "SYNCED") return { changes, first };
    if (changes++ === 0) first = performance.now() - start;
  }
}
await untilSynced(performance.now());
console.log(`scale ${args.scale}: ${user.type}:${user.id} joins group:${group} (views folder f0)`);
for (let round = 0; round < Number(args.rounds); round++) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await raw.write([{ operation: "touch", relationship: membership }]);
  const { changes, first } = await untilSynced(start);
  console.log(
    `  join: ${changes} changes, CPU ${cpuMs(cpu)} ms; first change after ${first.toFixed(0)} ms, SYNCED after ${(performance.now() - start).toFixed(0)} ms (wall)`,
  );
  await raw.write([{ operation: "delete", relationship: membership }]);
  await untilSynced(performance.now());
}
await raw.write([{ operation: "touch", relationship: membership }]);
await untilSynced(performance.now());
const token = raw.encodeRevision(await raw.currentRevision());
for (let round = 0; round < Number(args.rounds); round++) {
  const cpu = process.cpuUsage();
  let n = 0;
  const results = latch.engine.lookupResources({
    resourceType: "document",
    permission: "view",
    subject: user,
    consistency: { kind: "at-exact-snapshot", token },
  });
  for await (const _ of results) n++;
  console.log(`  the engine's LookupResources of the joined set alone: ${n} results, CPU ${cpuMs(cpu)} ms`);
}
controller.abort();
await latch.close();
