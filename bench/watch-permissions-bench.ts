/**
 * `npx tsx bench/watch-permissions-bench.ts [--scale s|m] [--subscriptions 1000] [--rate 100]
 * [--seconds 20] [--database FILE]`: WatchPermissions under load. Loads the benchmark corpus into
 * SQLite, subscribes that many users to their readable documents (`document#view`), then writes
 * at `rate` writes per second for `seconds`: nine in ten grant or revoke one document to one
 * subscribed user, one in ten adds a subscribed user to a group (which may add many documents).
 * Reports, for every ADDED / CONDITIONAL / REMOVED event delivered, the time from the write's
 * commit to the event's delivery (p50, p99, max), and the process's CPU during the write phase
 * (the server is in process here, so the writer's own CPU is included). Target: p99 under 200 ms.
 * Numbers from a shared, loaded machine are not reliable: label them so, or measure on a quiet one.
 */
import { setMaxListeners } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as hdr from "hdr-histogram-js";
import type { Relationship } from "../src/core/index.js";
import { openLatch } from "../src/open/index.js";
import type { PermissionEvent } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";

const { values: args } = parseArgs({
  options: {
    scale: { type: "string", default: "s" },
    subscriptions: { type: "string", default: "1000" },
    rate: { type: "string", default: "100" },
    seconds: { type: "string", default: "20" },
    database: { type: "string" },
  },
});
const scale = args.scale as Scale;
const subscriptions = Number(args.subscriptions);
const rate = Number(args.rate);
const seconds = Number(args.seconds);

const dir = args.database === undefined ? mkdtempSync(join(tmpdir(), "latch-watch-bench-")) : undefined;
const path = args.database ?? join(dir!, "bench.db");
const corpus = generateCorpus(scale);
console.log(`corpus ${scale}: ${corpus.relationships.length} relationships; loading into ${path}`);
const raw = await createSqliteStore({ path });
await raw.writeSchema(corpus.schema);
await raw.importRelationships(corpus.relationships);
const latch = await openLatch({ store: raw, approvals: false });

const users = Array.from({ length: subscriptions }, (_, i) => `u${i}`);
const committedAt = new Map<bigint, number>();
const histogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 600_000,
  numberOfSignificantValueDigits: 3,
});
let delivered = 0;
let measuring = false;
const controller = new AbortController();
// One abort listener per subscription is expected here.
setMaxListeners(0, controller.signal);

function observe(event: PermissionEvent): void {
  if (!measuring || event.kind === "SYNCED" || event.kind === "RESYNC") return;
  const at = committedAt.get(event.revision);
  if (at === undefined) return;
  delivered++;
  histogram.recordValue(Math.max(1, Math.round(performance.now() - at)));
}

console.log(`subscribing ${subscriptions} users to document#view ...`);
const started = performance.now();
let synced = 0;
const streams = users.map(async (id) => {
  let first = true;
  for await (const event of latch.permissions.watch(
    { resourceType: "document", permission: "view", subject: { type: "user", id } },
    { signal: controller.signal },
  )) {
    if (first && event.kind === "SYNCED") {
      first = false;
      synced++;
    }
    observe(event);
  }
});
while (synced < subscriptions) await new Promise((r) => setTimeout(r, 50));
console.log(`all first sets in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const random = createRandom(11);
const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
const granted: Relationship[] = [];
function nextWrite(): { operation: "touch" | "delete"; relationship: Relationship } {
  const user = { type: "user", id: pick(users) };
  if (random() < 0.1) {
    const group = `g${Math.floor(random() * corpus.shape.groups)}`;
    return {
      operation: "touch",
      relationship: { resource: { type: "group", id: group }, relation: "member", subject: user },
    };
  }
  if (granted.length > 0 && random() < 0.4) {
    return {
      operation: "delete",
      relationship: granted.splice(Math.floor(random() * granted.length), 1)[0]!,
    };
  }
  const relationship = {
    resource: { type: "document", id: `d${Math.floor(random() * corpus.shape.documents)}` },
    relation: "viewer",
    subject: user,
  };
  granted.push(relationship);
  return { operation: "touch", relationship };
}

console.log(`writing ${rate}/s for ${seconds} s ...`);
measuring = true;
const cpuBefore = process.cpuUsage();
const wallBefore = performance.now();
const total = rate * seconds;
let late = 0;
for (let i = 0; i < total; i++) {
  const due = wallBefore + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  else late++;
  const start = performance.now();
  const revision = await latch.store.write([nextWrite()]);
  // The commit time: when the write was sent is the fairer start, as the client would see it.
  committedAt.set(revision, start);
}
// Let the last changes arrive before reading the clock.
const lastWrite = performance.now();
while (performance.now() - lastWrite < 2000) await new Promise((r) => setTimeout(r, 100));
const wall = (performance.now() - wallBefore) / 1000;
const cpu = process.cpuUsage(cpuBefore);
measuring = false;

const stats = latch.permissions.stats();
console.log("\nWatchPermissions bench (measured on a loaded machine; shared by other sessions)");
console.log(
  `  subscriptions ${subscriptions}, writes ${total} at ${rate}/s (${late} sent late), scale ${scale}`,
);
console.log(`  changes delivered ${delivered}`);
console.log(
  `  delivery latency ms: p50 ${histogram.getValueAtPercentile(50)}, p99 ${histogram.getValueAtPercentile(99)}, max ${histogram.maxValue}`,
);
console.log(
  `  process CPU during writes: ${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)}% of one core (user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s over ${wall.toFixed(1)} s)`,
);
console.log(
  `  re-checked ${stats.rechecked} resources, ${stats.recomputed} whole recomputations, ${stats.resyncs} resyncs`,
);
controller.abort();
await Promise.all(streams);
await latch.close();
if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
