/**
 * `npx tsx bench/watch-permissions-join.ts [--scale s|m] [--rounds 3]`: the one write of the
 * WatchPermissions bench that makes most of its changes, alone. A fresh user, subscribed to
 * `document#view`, joins the group that views the root folder (at `m`, 100,000 documents) and
 * leaves it again, `rounds` times. Reports for each join the watching process's CPU (the write,
 * the set's walk and lookup, the events, and reading them), when its first change and its SYNCED
 * arrived, and, for comparison, the CPU of the engine's LookupResources of that set alone (the
 * floor of a whole lookup). Wall times on a shared machine are indicative only.
 *
 * Then the two halves apart, CPU per round: the chunked lookup the watch asks for (`cursors:
 * false`, read and dropped), and the watch side alone: a kept set fed that lookup's recorded
 * chunks instead of a lookup, moving from empty to the joined set and back (`Group.replace`),
 * with one subscriber reading every event through `subscribe` as `PermissionWatch.watch` does:
 * the CPU until that subscriber has read the step's SYNCED, and until the replace is over (work
 * left for after the SYNCED, such as filling the set's map, counts only in the second).
 */
import { parseArgs } from "node:util";
import { type LookupResourceResult, withLookupBatches } from "../src/engine/index.js";
import { openLatch } from "../src/open/index.js";
import { lookupBatches, type PermissionEvent } from "../src/service/index.js";
import { Group, groupKey, type SetDecider } from "../src/service/permission-watch/group.js";
import { subscribe } from "../src/service/permission-watch/subscribe.js";
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
const request = { resourceType: "document", permission: "view", subject: user } as const;
const lookupRequest = { ...request, consistency: { kind: "at-exact-snapshot", token } } as const;
const recorded: (readonly LookupResourceResult[])[] = [];
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const lookupCpu: number[] = [];
for (let round = 0; round < Number(args.rounds); round++) {
  const cpu = process.cpuUsage();
  recorded.length = 0;
  for await (const batch of lookupBatches(latch.engine, lookupRequest, { cursors: false }))
    recorded.push(batch);
  lookupCpu.push(Number(cpuMs(cpu)));
}
console.log(
  `  the chunked lookup the watch asks for, alone: ${recorded.flat().length} results in ${recorded.length} chunks, CPU median ${median(lookupCpu)} ms (${lookupCpu.join(", ")})`,
);

let replaying: readonly (readonly LookupResourceResult[])[] = [];
const replay: SetDecider = {
  checkBulk: () => Promise.reject(new Error("the replay has no checks")),
  lookupResources: withLookupBatches(
    () => {
      throw new Error("the replay gives chunks only");
    },
    async function* () {
      yield* replaying;
    },
  ),
};
const kept = new Group(groupKey(request), request, replay, () => "act_as", 1000);
const replayed = new AbortController();
const stream = subscribe(
  {
    closed: () => false,
    groupFor: async () => kept,
    current: () => true,
    planned: () => undefined,
    maxQueued: 10_000,
    leave: () => undefined,
  },
  request,
  { signal: replayed.signal },
)[Symbol.asyncIterator]();
/** Reads the replayed stream to its next SYNCED: how many changes came, and the CPU spent by then. */
async function replayedUntilSynced(cpu = process.cpuUsage()): Promise<{ changes: number; cpu: number }> {
  let changes = 0;
  for (;;) {
    const e = (await stream.next()).value as PermissionEvent;
    if (e.kind === "SYNCED") return { changes, cpu: Number(cpuMs(cpu)) };
    changes++;
  }
}
await replayedUntilSynced();
const total = recorded.reduce((n, batch) => n + batch.length, 0);
const sideCpu = { join: [] as number[], leave: [] as number[] };
const syncedCpu = { join: [] as number[], leave: [] as number[] };
let revision = 1n;
for (let round = 0; round < Number(args.rounds) * 3; round++) {
  for (const step of ["join", "leave"] as const) {
    replaying = step === "join" ? recorded : [];
    const at = revision++;
    const cpu = process.cpuUsage();
    const read = replayedUntilSynced(cpu);
    await kept.replace(at, raw.encodeRevision(at));
    const { changes, cpu: toSynced } = await read;
    sideCpu[step].push(Number(cpuMs(cpu)));
    syncedCpu[step].push(toSynced);
    if (changes !== total) throw new Error(`the replay sent ${changes} changes`);
  }
}
console.log(
  `  the watch side alone, ${total} changes (replace, events, one subscriber reading them), CPU median:`,
);
for (const step of ["join", "leave"] as const) {
  console.log(
    `    ${step}: to its SYNCED read ${median([...syncedCpu[step]])} ms (${syncedCpu[step].join(", ")}), the whole replace ${median([...sideCpu[step]])} ms (${sideCpu[step].join(", ")})`,
  );
}
replayed.abort();
await stream.return?.(undefined);
controller.abort();
await latch.close();
