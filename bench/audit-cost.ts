/**
 * What auditing costs the thread that answers, counted rather than timed where timings cannot be
 * trusted (a shared machine): `node --max-semi-space-size=1 --import tsx bench/audit-cost.ts MODE
 * [COUNT] [scale]` runs COUNT uncached checks of the bench's mix, once warmed up, with MODE
 * `plain` (no recorder), `witness` (asking for witnesses) or `audit` (`--audit all`, async,
 * through the writer thread), and prints the main thread's CPU time per check (from
 * /proc/self/task, Linux; the writer thread's and the collector's helpers' work is not in it), the
 * process's, and the young-generation collections per 1000 checks (with a 1 MiB semi-space, one
 * stands for about 1 MiB allocated). CPU time still moves with the machine's load: compare modes
 * and commits in the same minutes, alternating. `AUDIT_COST_SEAM=open` asks through the seam every
 * transport uses instead (`openLatch`: actor tokens, the recorder, the approval gate, the signal
 * gate and delegation, over the same store and an uncached engine), as `latch serve` answers.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { createAuditRecorder } from "../src/audit/index.js";
import { createEngine } from "../src/engine/index.js";
import { openLatch } from "../src/open/index.js";
import { decorate } from "../src/service/index.js";
import type { Scale } from "./corpus.js";
import { auditBenchSetting } from "./fixtures.js";

const [mode = "plain", countText = "20000", scaleText = "s"] = process.argv.slice(2);
const count = Number(countText);
const { dir, sqlite, mirror: store, mix } = await auditBenchSetting(scaleText as Scale, "audit-cost");
// A queue that never drops: a dropped record costs less than a kept one and would flatter the count.
// AUDIT_COST_FLUSH_MS (default 10, the recorder's own until 2026-12-06, kept so that the figures in
// bench/README.md compare): under valgrind 10 ms is a few dozen checks, so batches close by time,
// small; a longer one closes them by size (the recorder's batch size), as a busy server does.
const flushMs = Number(process.env.AUDIT_COST_FLUSH_MS ?? 10);
const auditOptions = {
  policy: "all",
  mode: "async",
  queueLimit: 10_000_000,
  flushMs,
} as const;
const opened =
  process.env.AUDIT_COST_SEAM === "open"
    ? await openLatch({
        store,
        mirror: false,
        engine: { cache: false },
        ...(mode === "audit" ? { audit: auditOptions } : {}),
      })
    : undefined;
const recorder =
  opened !== undefined
    ? opened.recorder
    : mode === "audit"
      ? createAuditRecorder({ log: sqlite.decisions, ...auditOptions })
      : undefined;
const engine =
  opened?.decider ??
  decorate(createEngine({ store, cache: false }), ...(recorder ? [recorder.decorator] : []));
// Built once, outside the counted loop, and not with `{ ...input, witness: true }`: on Node 20's V8
// a spread followed by a property gives every object a map of its own, and each read of such an
// object's fields then misses its inline cache (a cost of the harness, not of witnesses).
const requests = mode === "witness" ? mix.map((input) => Object.assign({}, input, { witness: true })) : mix;
let n = 0;
const run = async (times: number) => {
  for (let i = 0; i < times; i++) {
    await engine.check(requests[i % requests.length]!);
    if (++n % 100 === 0) await new Promise(setImmediate);
  }
};
/** This thread's CPU time in ms (user and system, in clock ticks of 10 ms). */
const threadCpuMs = () => {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
let scavenges = 0;
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries())
    if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === 1) scavenges++;
});
observer.observe({ entryTypes: ["gc"] });
await run(Number(process.env.AUDIT_COST_WARMUP ?? 5_000));
await recorder?.flush();
// Under `valgrind --tool=callgrind --instr-atstart=no` (AUDIT_COST_CALLGRIND=1): count only the checks.
const callgrind = (on: boolean) => {
  if (process.env.AUDIT_COST_CALLGRIND === "1")
    execFileSync("callgrind_control", ["-i", on ? "on" : "off", String(process.pid)]);
};
callgrind(true);
// The counted window on the profiler's clock (µs), to read a `--cpu-prof` profile of it alone.
const windowStart = process.hrtime.bigint() / 1000n;
const before = { thread: threadCpuMs(), process: process.cpuUsage(), scavenges };
await run(count);
await recorder?.flush();
callgrind(false);
const windowEnd = process.hrtime.bigint() / 1000n;
const thread = threadCpuMs() - before.thread;
const all = process.cpuUsage(before.process);
const per = (ms: number) => ((ms * 1000) / count).toFixed(2);
console.log(
  `${mode}: ${count} checks, main thread ${per(thread)} µs/check, process ${per((all.user + all.system) / 1000)} µs/check, ${(((scavenges - before.scavenges) * 1000) / count).toFixed(2)} scavenges/1000 checks`,
  recorder === undefined ? "" : JSON.stringify(recorder.stats()),
  `(window ${windowStart}-${windowEnd})`,
);
observer.disconnect();
if (opened !== undefined) await opened.close();
else {
  await recorder?.close();
  await store.close();
}
rmSync(dir, { recursive: true, force: true });
