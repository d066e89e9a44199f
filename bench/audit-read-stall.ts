/**
 * How long do reads of a large SQLite decision log hold the event loop, and how much memory do
 * they take? Fills a log of N records (appended through the store's own append, so the chain is
 * real), then, each in a fresh process (so that peak RSS is the read's own, not the fill's):
 * `verify` (what VerifyDecisions, embedded `verifyDecisions` and `latch audit verify` run) and
 * `query` (QueryDecisions by a subject found in one record, near the end of the log). A 1 ms
 * event-loop delay histogram (monitorEventLoopDelay) runs meanwhile: its max is the longest stall.
 *
 * Run: `npx tsx bench/audit-read-stall.ts [records=1000000] [db path]`. Target: every stall under
 * 50 ms (README, "Limits and hostile input"). The file is kept (and reused) when a path is given.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { queryDecisions } from "../src/service/index.js";
import { canonicalJson, type DecisionRecord } from "../src/store/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";

const RARE = "user:rare-principal";
const BATCH = 20_000;
const T0 = Date.parse("2026-01-01T00:00:00Z");

/** Record `i`: an agent acting for one of 1,000 users, like the trail a RAG pipeline leaves. */
function record(i: number, total: number): DecisionRecord {
  const user = i === total - 10 ? RARE : `user:u${i % 1_000}`;
  return {
    time: new Date(T0 + i * 30).toISOString(),
    requestId: `req-${i.toString(36)}`,
    caller: "rag-pipeline",
    operation: "check",
    subject: `agent:retriever-${i % 7}`,
    onBehalfOf: [user],
    resource: `document:doc-${(i * 7919) % 200_000}`,
    permission: "view",
    answer: i % 5 === 0 ? "DENIED" : "ALLOWED",
    revision: String(1_000 + Math.floor(i / 100)),
    latencyUs: 40 + (i % 97),
    ...(i % 5 === 0 ? {} : { witness: [`document:doc-${(i * 7919) % 200_000}#viewer@${user}`] }),
  };
}

async function fill(path: string, total: number): Promise<void> {
  const store = await createSqliteStore({ path });
  const log = store.decisions;
  const started = performance.now();
  for (let from = 0; from < total; from += BATCH) {
    const batch = [];
    for (let i = from; i < Math.min(total, from + BATCH); i++) {
      const r = record(i, total);
      batch.push({ at: Date.parse(r.time), subject: r.subject, body: canonicalJson(r) });
    }
    await log.appendEncoded!(batch);
  }
  await store.close();
  console.log(`filled ${total} records in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * The longest gap between two 1 ms timer ticks, and the CPU time the process spent within the
 * longest-CPU gap: on a loaded machine a gap also counts time the process waited for a core,
 * which the CPU time within it does not (it counts other threads' too, GC helpers: an upper bound).
 */
function gapSampler() {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let maxWall = 0;
  let maxCpu = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    maxWall = Math.max(maxWall, now - last);
    maxCpu = Math.max(maxCpu, (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000);
    last = now;
    lastCpu = cpu;
  }, 1);
  return {
    stop: () => {
      clearInterval(timer);
      return { maxGapMs: Math.round(maxWall * 10) / 10, maxGapCpuMs: Math.round(maxCpu * 10) / 10 };
    },
  };
}

/** One measured read, in this (fresh) process: prints one JSON line. */
async function measure(path: string, what: string): Promise<void> {
  const store = await createSqliteStore({ path });
  const log = store.decisions;
  const rssBefore = process.resourceUsage().maxRSS;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  // Let the histogram take its first samples before the read starts.
  await new Promise((r) => setTimeout(r, 20));
  delay.enable();
  await new Promise((r) => setTimeout(r, 20));
  const gaps = gapSampler();
  await new Promise((r) => setTimeout(r, 5));
  const cpu = process.cpuUsage();
  const started = performance.now();
  let result: unknown;
  if (what === "verify") {
    const report = await log.verify();
    result = { ok: report.ok, records: report.records };
  } else {
    const page = await queryDecisions(log, { subject: RARE, pageSize: 100 });
    result = { found: page.decisions.map((d) => d.seq), cursor: page.cursor !== undefined };
  }
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await new Promise((r) => setTimeout(r, 20));
  delay.disable();
  const gap = gaps.stop();
  const line = {
    what,
    result,
    wallMs: Math.round(wallMs),
    cpuMs: Math.round((used.user + used.system) / 1000),
    maxStallMs: Math.round(delay.max / 1e5) / 10,
    p99StallMs: Math.round(delay.percentile(99) / 1e5) / 10,
    ...gap,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    rssAtOpenMiB: Math.round(rssBefore / 1024),
  };
  console.log(JSON.stringify(line));
  await store.close();
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === "--measure") return measure(rest[0]!, rest[1]!);
  const total = Number(mode ?? 1_000_000);
  const given = rest[0];
  const dir = given === undefined ? mkdtempSync(join(tmpdir(), "latch-audit-stall-")) : undefined;
  const path = given ?? join(dir!, "audit.db");
  if (!existsSync(path)) await fill(path, total);
  const self = fileURLToPath(import.meta.url);
  for (const what of ["verify", "query", "verify", "query"]) {
    const run = spawnSync(process.execPath, [...process.execArgv, self, "--measure", path, what], {
      stdio: ["ignore", "pipe", "inherit"],
      encoding: "utf8",
    });
    process.stdout.write(run.stdout);
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

await main();
