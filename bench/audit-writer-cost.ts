/**
 * The audit writer thread's work per record, alone and in one thread: `node --import tsx
 * bench/audit-writer-cost.ts [ROUNDS] [scale] [BATCH]` captures the witnessed answers of the
 * bench's check mix into batches of BATCH decisions (default 100) as the recorder does, outside
 * the count (again for every round, each decision a millisecond later than the one before), then
 * does what the writer thread does with each batch (`ReceivedNames.encoded`, `appendEncoded` into
 * a SQLite file, or PostgreSQL with `LATCH_BENCH_POSTGRES_URL`) ROUNDS times (default 10) over all
 * of them, and prints the CPU time
 * per record (process.cpuUsage: this thread only does the work), split into building the stored
 * forms and appending them, and how much of the append the chain alone takes (`extendChain` run
 * again on the same records, outside the append: hashing and the rows; the rest is the datastore).
 * Under `valgrind --tool=callgrind --instr-atstart=no`
 * (`AUDIT_COST_CALLGRIND=1`) only the counted rounds are counted; divide the total by the records
 * printed.
 *
 * `AUDIT_COST_THREAD=1`: the batches go through the writer thread itself (`threadWriter`, as the
 * server's recorder sends them), and the CPU per record is read per thread (schedstat): the
 * writer thread's, this thread's (posting and the replies) and V8's helpers' (the writer's
 * young-generation collections run partly there). This is what a server pays: the writer's heap
 * is its own isolate's, small, where the rounds above run in this thread's heap, which holds the
 * corpus and the in-memory copy, and so collect garbage at another cost.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import pgDriver from "pg";
import {
  CaptureBuffer,
  type CapturedBatch,
  type PostedBatch,
  ReceivedNames,
} from "../src/audit/capture-buffer.js";
import { threadWriter } from "../src/audit/writer-thread.js";
import { type CheckRequest, type CheckResult, createEngine } from "../src/engine/index.js";
import { createChainSigner, EMPTY_HEAD, extendChain } from "../src/store/decision-log.js";
import { type EncodedDecision, openRemoteDecisionLog } from "../src/store/index.js";
import { createPostgresStore } from "../src/store/postgres/index.js";
import type { Scale } from "./corpus.js";
import { auditBenchSetting } from "./fixtures.js";

const [roundsText = "10", scaleText = "s", batchText = "100"] = process.argv.slice(2);
const rounds = Number(roundsText);
const batchSize = Number(batchText);
const { dir, sqlite, mirror, mix } = await auditBenchSetting(scaleText as Scale, "audit-writer-cost");
const engine = createEngine({ store: mirror, cache: false });

const pgUrl = process.env.LATCH_BENCH_POSTGRES_URL;
const pgSchema = `audit_writer_cost_${process.pid}`;
const pg = pgUrl === undefined ? undefined : await createPostgresStore({ url: pgUrl, schema: pgSchema });
// On a connection of its own, opened as the writer thread opens it (with that connection's options).
const remote = (pg ?? sqlite).decisions.remote;
if (remote === undefined) throw new Error("the log has no remote opener");
const opened = await openRemoteDecisionLog(remote);
const { log } = opened;
if (log.appendEncoded === undefined) throw new Error("the log has no appendEncoded");

// The mix's witnessed answers, checked once; captured again for every round below, outside the
// count, each decision a millisecond after the one before it (as a server's are: the records' `at`
// only grows, so the time index is appended to at its end, not written across its pages).
const answered: { request: CheckRequest; result: CheckResult }[] = [];
for (const input of mix) {
  const request = Object.assign({}, input, { witness: true });
  answered.push({ request, result: await engine.check(request) });
}
const buffer = new CaptureBuffer(new Set(), undefined);
const received = new ReceivedNames();
let at = Date.now();
/** A round's batches as the writer thread receives them (a structured clone of what the recorder posts). */
const capture = (): PostedBatch[] => {
  const batches: PostedBatch[] = [];
  for (const { request, result } of answered) {
    buffer.captureCheck(request, result, 40, undefined, at++);
    if (buffer.count === batchSize) {
      const batch = buffer.take();
      batches.push(
        structuredClone({ numbers: batch.numbers, length: batch.length, text: batch.text, rare: batch.rare }),
      );
      received.add(batch.names.slice(received.names.length, batch.namesUpTo));
    }
  }
  // The mix's last decisions, short of a batch, are left out of every round.
  buffer.take();
  return batches;
};
const perRound = Math.floor(answered.length / batchSize) * batchSize;
const callgrind = (on: boolean) => {
  if (process.env.AUDIT_COST_CALLGRIND === "1")
    execFileSync("callgrind_control", ["-i", on ? "on" : "off", String(process.pid)]);
};

/** A round's batches as the recorder hands them to its writer (`CaptureBuffer.take`). */
const captureTaken = (): CapturedBatch[] => {
  const batches: CapturedBatch[] = [];
  for (const { request, result } of answered) {
    buffer.captureCheck(request, result, 40, undefined, at++);
    if (buffer.count === batchSize) batches.push(buffer.take());
  }
  buffer.take();
  return batches;
};

/**
 * CPU time of each of this process's threads: nanoseconds (schedstat) and the system part of it
 * in ns (stat, counted in ticks of 10 ms: read it over many rounds). This thread's own is read
 * last before a round and first after it (`mainFirst`), so that the reads are not counted in it.
 */
const threadCpuNs = (mainFirst: boolean): Map<number, { readonly ns: number; readonly systemNs: number }> => {
  const out = new Map<number, { ns: number; systemNs: number }>();
  const others = readdirSync("/proc/self/task").filter((tid) => Number(tid) !== process.pid);
  const main = String(process.pid);
  for (const tid of mainFirst ? [main, ...others] : [...others, main]) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      // After the name's closing parenthesis (a thread's name may hold one); stime is in clock
      // ticks, 100 a second on Linux here (USER_HZ).
      const text = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const stat = text.slice(text.lastIndexOf(")") + 2).split(" ");
      out.set(Number(tid), { ns, systemNs: Number(stat[12]) * 1e7 });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
};

if (process.env.AUDIT_COST_THREAD === "1") {
  const writer = threadWriter(remote);
  const send = async (batches: readonly CapturedBatch[]) => {
    for (const batch of batches) {
      const { numbers } = await writer.append(batch);
      if (numbers !== undefined) buffer.reuse(numbers);
    }
  };
  await new Promise((resolve) => setImmediate(resolve));
  for (let i = 0; i < Number(process.env.AUDIT_COST_WARMUP ?? 10); i++) await send(captureTaken());
  const spent = new Map<number, { ns: number; systemNs: number }>();
  for (let r = 0; r < rounds; r++) {
    const batches = captureTaken();
    callgrind(true);
    const before = threadCpuNs(false);
    await send(batches);
    const after = threadCpuNs(true);
    callgrind(false);
    for (const [tid, used] of after) {
      const from = before.get(tid) ?? used;
      const sum = spent.get(tid) ?? { ns: 0, systemNs: 0 };
      spent.set(tid, {
        ns: sum.ns + used.ns - from.ns,
        systemNs: sum.systemNs + used.systemNs - from.systemNs,
      });
    }
  }
  const records = rounds * perRound;
  const us = (ns: number) => (ns / 1000 / records).toFixed(2);
  const main = spent.get(process.pid)?.ns ?? 0;
  // The writer: the thread that spent most, other than this one.
  const [writerThread, ...others] = [...spent]
    .filter(([tid]) => tid !== process.pid)
    .map(([, used]) => used)
    .sort((a, b) => b.ns - a.ns);
  const writerNs = writerThread?.ns ?? 0;
  const otherNs = others.reduce((sum, used) => sum + used.ns, 0);
  console.log(
    `${records} records through the writer thread (batches of ${batchSize}) on ${pg === undefined ? "sqlite" : "postgres"}: ` +
      `writer thread (taken to be the busiest other thread) ${us(writerNs)} µs (system ${us(writerThread?.systemNs ?? 0)} µs of it), this thread ${us(main)} µs, ` +
      `other threads ${us(otherNs)} µs, total ${us(writerNs + main + otherNs)} µs CPU a record`,
  );
  await writer.close();
  await finish();
  process.exit(0);
}

const build = (batches: readonly PostedBatch[]) => batches.map((batch) => received.encoded(batch));
const appendAll = async (encoded: readonly (readonly EncodedDecision[])[]) => {
  for (const records of encoded) await log.appendEncoded!(records);
};
// A turn of the event loop, so that the store's read snapshot taken by the checks above ends (it
// would otherwise last the whole run, the rounds below being one turn: no checkpoint could then
// copy the WAL past it, and the WAL would grow without end, which the server never sees).
await new Promise((resolve) => setImmediate(resolve));
// Warm up both halves (V8 tiers the code up; SQLite's file grows).
for (let i = 0; i < Number(process.env.AUDIT_COST_WARMUP ?? 10); i++) await appendAll(build(capture()));

let systemUs = 0;
const cpu = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  systemUs += used.system;
  return used.user + used.system;
};
let buildUs = 0;
let appendUs = 0;
let faults = 0;
for (let r = 0; r < rounds; r++) {
  const batches = capture();
  const faultsBefore = process.resourceUsage().minorPageFault;
  callgrind(true);
  const before = process.cpuUsage();
  const encoded = build(batches);
  buildUs += cpu(before);
  const middle = process.cpuUsage();
  await appendAll(encoded);
  appendUs += cpu(middle);
  callgrind(false);
  faults += process.resourceUsage().minorPageFault - faultsBefore;
}
// The chain's share of the append: the same records chained again with a key of the bench's own,
// as many rounds, after the counted ones (not in the system time above).
const signer = createChainSigner("audit-writer-cost", new Uint8Array(32));
let chainHead: { seq: number; hash: string; floor: number } = EMPTY_HEAD;
let chainUs = 0;
for (let r = 0; r < rounds; r++) {
  const encoded = build(capture());
  const before = process.cpuUsage();
  for (const records of encoded) chainHead = extendChain(chainHead, records, signer, 100).head;
  const used = process.cpuUsage(before);
  chainUs += used.user + used.system;
}
const records = rounds * perRound;
const bytes = build(capture())
  .flat()
  .reduce((sum, r) => sum + r.body.length, 0);
console.log(
  `${records} records (${perRound / batchSize} batches of ${batchSize} a round, ${(bytes / perRound).toFixed(0)} body chars a record) on ${pg === undefined ? "sqlite" : "postgres"}: ` +
    `build ${(buildUs / records).toFixed(2)} µs, append ${(appendUs / records).toFixed(2)} µs (the chain alone ${(chainUs / records).toFixed(2)} µs), ` +
    `total ${((buildUs + appendUs) / records).toFixed(2)} µs CPU a record (system ${(systemUs / records).toFixed(2)} µs of it; ${(faults / records).toFixed(2)} minor page faults a record)`,
);
await finish();

/** Closes everything the bench opened and removes its files (and its PostgreSQL schema). */
async function finish(): Promise<void> {
  await opened.close();
  await mirror.close();
  await pg?.close();
  if (pgUrl !== undefined) {
    // The bench's own schema, made by the store's migrations above.
    const client = new pgDriver.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA ${pgSchema} CASCADE`);
    await client.end();
  }
  rmSync(dir, { recursive: true, force: true });
}
