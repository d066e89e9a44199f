/**
 * What the audit recorder alone adds to a Check on the thread that answers, counted without the
 * engine: `AUDIT_COST_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes
 * node --hash-seed=12345 --perf-basic-prof --min-semi-space-size=16 --max-semi-space-size=16
 * --import tsx bench/audit-recorder-cost.ts plain|audit [COUNT]` (the main thread's `totals`,
 * `callgrind.out.PID-01`, divided by COUNT; `audit` minus `plain` is the recorder's part).
 *
 * Why apart from bench/audit-cost.ts: there the recorder and the engine are optimized together,
 * and where V8 inlines the recorder into its caller, the engine's functions get less of the
 * caller's inlining budget (a `new` left to the generic construct stub, a lookup called rather than
 * inlined): totals of the same recorder moved by 300 instructions a check with the engine's
 * inlining. Here `next` is a stand-in carrying the engine's answer-at-once form (check-now.ts),
 * handing back answers the engine gave to the bench's mix beforehand (with their witnesses), so
 * the count is the recorder's: the decorator, the capture into the batch's buffer, the two clock
 * readings, the promise, and the batches posted to the writer thread (`flushMs` 1000: batches close
 * by size, 500). The fixed young generation (16 MiB) keeps scavenges out of the counted window, so
 * that allocations (counted apart, with bench/audit-cost.ts) do not move the totals from run to run.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createAuditRecorder } from "../src/audit/index.js";
import {
  type AsAsked,
  type CheckRequest,
  type CheckResult,
  createEngine,
  withCheckNow,
} from "../src/engine/index.js";
import type { Decider } from "../src/service/index.js";
import { auditBenchSetting } from "./fixtures.js";

const [mode = "audit", countText = "20000"] = process.argv.slice(2);
const count = Number(countText);
const { dir, sqlite, mirror: store, mix } = await auditBenchSetting("s", "audit-recorder-cost");
// The engine's answers to the mix, each with its witness and as asked without one.
const engine = createEngine({ store, cache: false });
const witnessed: CheckResult[] = [];
const asAsked: CheckResult[] = [];
for (const input of mix) {
  const { state, missing, revision, token, witness } = await engine.check({ ...input, witness: true });
  witnessed.push(
    witness === undefined
      ? { state, missing, revision, token }
      : { state, missing, revision, token, witness },
  );
  asAsked.push({ state, missing, revision, token });
}
let answered = 0;
const now = (_request: CheckRequest, _options?: unknown, form?: AsAsked): CheckResult => {
  const i = answered++ % witnessed.length;
  if (form !== undefined) form.answer = asAsked[i];
  return witnessed[i]!;
};
const next = {
  check: withCheckNow(async (request: CheckRequest) => now(request), now),
} as unknown as Decider;
const recorder =
  mode === "audit"
    ? createAuditRecorder({
        log: sqlite.decisions,
        policy: "all",
        mode: "async",
        queueLimit: 10_000_000,
        flushMs: 1000,
      })
    : undefined;
// Without a recorder, the answer at once in a promise, as the recorder hands its answer back (not
// `next.check`, an async function per call the recorder never calls): `audit` minus `plain` is then
// the recorder's part alone.
const plain = { check: (request: CheckRequest) => Promise.resolve(now(request)) } as unknown as Decider;
const decider = recorder === undefined ? plain : recorder.decorator(next);
const run = async (times: number) => {
  for (let i = 0; i < times; i++) {
    await decider.check(mix[i % mix.length]!);
    if (i % 100 === 99) await new Promise(setImmediate);
  }
};
await run(100_000);
await recorder?.flush();
const callgrind = (on: boolean) => {
  if (process.env.AUDIT_COST_CALLGRIND === "1")
    execFileSync("callgrind_control", ["-i", on ? "on" : "off", String(process.pid)]);
};
callgrind(true);
await run(count);
await recorder?.flush();
callgrind(false);
console.log(`${mode}: ${count} checks`, recorder === undefined ? "" : JSON.stringify(recorder.stats()));
await recorder?.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
