/**
 * `npx tsx bench/watch-permissions-bench.ts [--scale s|m] [--subscriptions 1000] [--rate 100]
 * [--seconds 20] [--database FILE] [--slowest N]`: WatchPermissions under load. Loads the benchmark corpus into
 * SQLite, subscribes that many users to their readable documents (`document#view`), then writes
 * at `rate` writes per second for `seconds`: nine in ten grant or revoke one document to one
 * subscribed user, one in ten adds a subscribed user to a group (which may add many documents).
 * The writes come from another process on the same database file (as from another service or
 * replica: better-sqlite3 writes block their own thread while the disk syncs), so the watching
 * process sees them through the store's cross-process feed (polled every 20 ms here).
 * Reports, for every ADDED / CONDITIONAL / REMOVED event delivered, the time from the start of
 * the write that caused it to its delivery (p50, p99, max), and the watching process's CPU from
 * the first write until every set has reached the last one (the "server": the writer's CPU is
 * not included), also per write. Target: p99 under 200 ms.
 * Numbers from a shared, loaded machine are not reliable: label them so, or measure on a quiet one.
 */
import { fork } from "node:child_process";
import { setMaxListeners } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as hdr from "hdr-histogram-js";
import type { Relationship } from "../src/core/index.js";
import { openLatch } from "../src/open/index.js";
import type { PermissionEvent } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, SCALES, type Scale } from "./corpus.js";

const { values: args } = parseArgs({
  options: {
    scale: { type: "string", default: "s" },
    subscriptions: { type: "string", default: "1000" },
    rate: { type: "string", default: "100" },
    seconds: { type: "string", default: "20" },
    database: { type: "string" },
    writer: { type: "boolean", default: false },
    /** Also list the N slowest changes of writes making up to 1,000 changes, with their user's writes. */
    slowest: { type: "string", default: "0" },
  },
});
const scale = args.scale as Scale;
const subscriptions = Number(args.subscriptions);
const rate = Number(args.rate);
const seconds = Number(args.seconds);
const users = Array.from({ length: subscriptions }, (_, i) => `u${i}`);
/** Wall-clock ms, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

if (args.writer) {
  await runWriter(args.database!);
  process.exit(0);
}

const dir = args.database === undefined ? mkdtempSync(join(tmpdir(), "latch-watch-bench-")) : undefined;
const path = args.database ?? join(dir!, "bench.db");
const corpus = generateCorpus(scale);
console.log(`corpus ${scale}: ${corpus.relationships.length} relationships; loading into ${path}`);
// The watching side polls for other processes' commits every 20 ms (the default is 100 ms).
const raw = await createSqliteStore({ path, subscribePollMs: 20 });
await raw.writeSchema(corpus.schema);
await raw.importRelationships(corpus.relationships);
const latch = await openLatch({ store: raw, approvals: false });
// A server answers from its in-memory copy of the relationships once it has loaded; until then
// every read goes to SQLite. Measure the steady state, not the first seconds after a start.
const loadStarted = performance.now();
const mirrored = (await latch.mirror?.ready()) === true;
console.log(
  `in-memory copy ${mirrored ? "ready" : "not used"} after ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
);

/** Each change delivered: its stream, the revision it holds at, the stream's previous SYNCED, when. */
const deliveries: { user: string; id: string; kind: string; revision: bigint; after: bigint; at: number }[] =
  [];
const startedAt = new Map<bigint, number>();
/** A write: its revision, start, and what it did (a document granted or revoked, or a group joined). */
interface Write {
  readonly revision: bigint;
  readonly at: number;
  readonly target: string;
  readonly operation: "touch" | "delete";
}
/** By user: the writes that concern that user's set, in revision order. */
const writesOf = new Map<string, Write[]>();
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

/** The revision of each stream's last SYNCED. */
const syncedAt = new Map<string, bigint>();

function observe(user: string, event: PermissionEvent): void {
  if (event.kind === "SYNCED" || event.kind === "RESYNC") {
    syncedAt.set(user, event.revision);
    return;
  }
  if (!measuring) return;
  deliveries.push({
    user,
    id: event.resourceId,
    kind: event.kind,
    revision: event.revision,
    after: syncedAt.get(user) ?? 0n,
    at: now(),
  });
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
    observe(id, event);
  }
});
while (synced < subscriptions) await new Promise((r) => setTimeout(r, 50));
console.log(`all first sets in ${((performance.now() - started) / 1000).toFixed(1)} s`);

console.log(`writing ${rate}/s for ${seconds} s from another process ...`);
measuring = true;
const cpuBefore = process.cpuUsage();
const wallBefore = performance.now();
const writer = fork(
  fileURLToPath(import.meta.url),
  [...process.argv.slice(2), "--writer", "--database", path],
  {
    execArgv: process.execArgv,
  },
);
let late = 0;
const total = rate * seconds;
interface WriterMessage {
  revision?: string;
  at?: number;
  user?: string;
  target?: string;
  operation?: "touch" | "delete";
  late?: number;
}
writer.on("message", (m: WriterMessage) => {
  if (m.revision !== undefined) {
    startedAt.set(BigInt(m.revision), m.at!);
    const list = writesOf.get(m.user!) ?? [];
    list.push({ revision: BigInt(m.revision), at: m.at!, target: m.target!, operation: m.operation! });
    writesOf.set(m.user!, list);
  }
  if (m.late !== undefined) late = m.late;
});
await new Promise<void>((resolve, reject) => {
  writer.once("exit", (code) =>
    code === 0 ? resolve() : reject(new Error(`the writer exited with ${code}`)),
  );
});
// Every set must reach the last write before the clocks are read, so that the CPU figure covers
// all the work the writes caused (however far behind a loaded machine left the watcher).
const lastRevision = [...startedAt.keys()].reduce((a, b) => (b > a ? b : a), 0n);
const lastWrite = performance.now();
while ((latch.permissions.stats().revision ?? 0n) < lastRevision && performance.now() - lastWrite < 120_000) {
  await new Promise((r) => setTimeout(r, 20));
}
const caughtUp = (latch.permissions.stats().revision ?? 0n) >= lastRevision;
console.log(
  `sets ${caughtUp ? "reached" : "did NOT reach"} the last write ${((performance.now() - lastWrite) / 1000).toFixed(1)} s after the writer ended`,
);
// The last events are pushed to the queues as the sets reach the revision: let them be read.
await new Promise((r) => setTimeout(r, 200));
const wall = (performance.now() - wallBefore) / 1000;
const cpu = process.cpuUsage(cpuBefore);
measuring = false;

/** Per write that changed some set: when its last change arrived, and how many changes it made. */
const perWrite = new Map<bigint, { first: number; last: number; events: number }>();
/**
 * A change is timed from the start of the write that caused it, among its user's writes after the
 * stream's previous SYNCED, up to the change's revision: the last one on that very document when
 * it goes the same way (a grant for ADDED, a revoke for REMOVED), else the first group joined (of
 * several coalesced into one step, the longest wait), else the first write. Writes that changed
 * nothing send no SYNCED (a grant of a document the user already sees through a group, a grant
 * revoked within one step), so "the first write since the SYNCED" alone could be one from seconds
 * earlier: that was the 10-16 s "max" the bench once reported for writes making one change.
 */
function causeOf(d: (typeof deliveries)[number]): Write | undefined {
  const writes = writesOf.get(d.user)?.filter((w) => w.revision > d.after && w.revision <= d.revision) ?? [];
  const direct = writes.filter((w) => w.target === `document:${d.id}`).at(-1);
  if (direct !== undefined && (direct.operation === "delete") === (d.kind === "REMOVED")) return direct;
  return writes.find((w) => w.target.startsWith("group:")) ?? writes[0];
}
for (const d of deliveries) {
  const cause = causeOf(d);
  if (cause === undefined) continue;
  delivered++;
  histogram.recordValue(Math.max(1, Math.round(d.at - cause.at)));
  const w = perWrite.get(cause.revision) ?? { first: Number.POSITIVE_INFINITY, last: 0, events: 0 };
  w.first = Math.min(w.first, d.at - cause.at);
  w.last = Math.max(w.last, d.at - cause.at);
  w.events++;
  perWrite.set(cause.revision, w);
}
/**
 * The same latencies by the size of the write that caused them: one write that adds a user to a
 * group reaching most documents makes more changes than all the others together, and would
 * otherwise decide every percentile alone.
 */
const SIZES = [
  { label: "up to 1,000", max: 1_000 },
  { label: "1,001 to 10,000", max: 10_000 },
  { label: "over 10,000", max: Number.POSITIVE_INFINITY },
];
const bySize = SIZES.map(() => ({ values: [] as number[], writes: new Set<bigint>() }));
for (const d of deliveries) {
  const cause = causeOf(d);
  if (cause === undefined) continue;
  const events = perWrite.get(cause.revision)!.events;
  const bucket = bySize[SIZES.findIndex((s) => events <= s.max)]!;
  bucket.values.push(d.at - cause.at);
  bucket.writes.add(cause.revision);
}
{
  const small = deliveries
    .map((d) => ({ d, cause: causeOf(d) }))
    .filter((x) => x.cause !== undefined && perWrite.get(x.cause.revision)!.events <= 1000)
    .sort((a, b) => b.d.at - b.cause!.at - (a.d.at - a.cause!.at))
    .slice(0, Number(args.slowest));
  for (const { d, cause } of small) {
    const inInterval = (writesOf.get(d.user) ?? []).filter(
      (w) => w.revision > d.after && w.revision <= d.revision,
    );
    console.log(
      `  slow: ${d.user} ${d.id} rev ${d.revision} after ${d.after} latency ${(d.at - cause!.at).toFixed(0)} cause ${cause!.revision}; user's writes in interval: ${inInterval.map((w) => `${w.revision}:${w.target}@+${(d.at - w.at).toFixed(0)}`).join(" ")}`,
    );
  }
}
const percentile = (sorted: readonly number[], q: number) =>
  (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(0);
const writeLatencies = [...perWrite.values()].map((w) => w.last).sort((a, b) => a - b);
const at = (q: number) => percentile(writeLatencies, q);
const largest = Math.max(0, ...[...perWrite.values()].map((w) => w.events));
const stats = latch.permissions.stats();
console.log("\nWatchPermissions bench (state the machine and its load with the numbers)");
console.log(
  `  subscriptions ${subscriptions}, writes ${total} at ${rate}/s (${late} sent late), scale ${scale}`,
);
console.log(`  changes delivered ${delivered}`);
console.log(
  `  delivery latency ms: p50 ${histogram.getValueAtPercentile(50)}, p99 ${histogram.getValueAtPercentile(99)}, max ${histogram.maxValue}`,
);
console.log(
  `  watching process CPU during writes: ${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)}% of one core (user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s over ${wall.toFixed(1)} s)`,
);
for (const [i, size] of SIZES.entries()) {
  const { values, writes } = bySize[i]!;
  if (values.length === 0) continue;
  values.sort((x, y) => x - y);
  console.log(
    `  changes of writes that made ${size.label} changes (${writes.size} writes, ${values.length} changes): p50 ${percentile(values, 0.5)}, p99 ${percentile(values, 0.99)}, max ${percentile(values, 1)} ms`,
  );
}
console.log(
  `  per write, its last change: p50 ${at(0.5)}, p99 ${at(0.99)}, max ${at(1)} ms over ${perWrite.size} writes that changed a set (largest: ${largest} changes)`,
);
// A step's changes can leave in chunks (a set looked up whole streams them): when the first came.
const firsts = [...perWrite.values()].filter((w) => w.events > 10_000).map((w) => w.first.toFixed(0));
if (firsts.length > 0)
  console.log(`  writes making over 10,000 changes, their first change: ${firsts.join(", ")} ms`);
console.log(
  `  CPU per write ${((cpu.user + cpu.system) / 1000 / total).toFixed(2)} ms, per change delivered ${((cpu.user + cpu.system) / 1000 / Math.max(1, delivered)).toFixed(3)} ms`,
);
console.log(
  `  re-checked ${stats.rechecked} resources, ${stats.recomputed} whole recomputations, ${stats.lookedUp ?? 0} sets looked up whole as cheaper, ${stats.resyncs} resyncs`,
);
console.log(
  `  objects walked: ${stats.walkedInPlanning} by planning (every set waits for these), ${stats.walkedBySets} by sets on their own queues`,
);
controller.abort();
await Promise.all(streams);
await latch.close();
if (dir !== undefined) rmSync(dir, { recursive: true, force: true });

/** The writer process: `rate` writes a second for `seconds`, each reported to the parent with its start time. */
async function runWriter(file: string): Promise<void> {
  const store = await createSqliteStore({ path: file });
  const shape = SCALES[scale];
  const random = createRandom(11);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const granted: Relationship[] = [];
  const nextWrite = (): { operation: "touch" | "delete"; relationship: Relationship } => {
    const user = { type: "user", id: pick(users) };
    if (random() < 0.1) {
      const group = `g${Math.floor(random() * shape.groups)}`;
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
      resource: { type: "document", id: `d${Math.floor(random() * shape.documents)}` },
      relation: "viewer",
      subject: user,
    };
    granted.push(relationship);
    return { operation: "touch", relationship };
  };
  const first = performance.now();
  let late = 0;
  for (let i = 0; i < rate * seconds; i++) {
    const wait = first + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else late++;
    const at = now();
    const update = nextWrite();
    const revision = await store.write([update]);
    // Every write concerns the set of one subscribed user: its subject.
    const r = update.relationship.resource;
    process.send!({
      revision: String(revision),
      at,
      user: update.relationship.subject.id,
      target: `${r.type}:${r.id}`,
      operation: update.operation,
    });
  }
  process.send!({ late });
  await store.close();
}
