/**
 * Issue 14's in-process target (an uncached Check's p50 with every decision recorded at most 2 µs
 * above auditing off), measured so that the machine's drift does not decide it. `npm run bench`
 * times `check/mix` and then `check/mix+audit` seconds apart, and on this shared VM the plain p50
 * alone moves by 1-3 µs between two such runs. Here both are timed in one process, in alternating
 * rounds of the same mix: a plain round, then an audited one (`--audit all`, async, through the
 * writer thread, as `check/mix+audit`), then a wait until the writer has stored that round's
 * records, so that no plain round runs beside a busy writer. Prints each round's p50 both ways,
 * and the median of the rounds' differences.
 *
 * Run: `npx tsx bench/audit-delta.ts [s|m|l] [--rounds 10] [--checks 20000]`.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { createAuditRecorder } from "../src/audit/index.js";
import { createEngine } from "../src/engine/index.js";
import type { Scale } from "./corpus.js";
import { auditBenchSetting, type CheckInput, shuffledMix } from "./fixtures.js";
import { median, summarize } from "./report.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "10" },
    checks: { type: "string", default: "20000" },
  },
});
const scale = (positionals[0] ?? "m") as Scale;
const rounds = Number(values.rounds);
const checks = Number(values.checks);

// `check/mix`'s questions (bench/run.ts), so the plain p50 here is that case's.
const { dir, sqlite, mirror: store, fixtures } = await auditBenchSetting(scale, "audit-delta", 2_000);
const mix = shuffledMix(fixtures);
const engine = createEngine({ store, cache: false });
// A queue that never drops: a dropped record costs less than a kept one and would flatter auditing.
const recorder = createAuditRecorder({
  log: store.decisions,
  policy: "all",
  mode: "async",
  queueLimit: 10_000_000,
});
const audited = recorder.decorator(engine);

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The p50 in µs of `checks` questions of the mix, each timed alone, by the same percentiles as
 * `bench/run.ts`. Every 100th call yields a turn of the event loop, as a program serving requests
 * does (and as `bench/run.ts` does), so the writer thread's acknowledgements are read.
 */
async function round(check: (input: CheckInput) => Promise<unknown>, from: number): Promise<number> {
  const samples = new Array<number>(checks);
  for (let i = 0; i < checks; i++) {
    const input = mix[(from + i) % mix.length]!;
    const started = performance.now();
    await check(input);
    samples[i] = performance.now() - started;
    if (i % 100 === 99) await yieldTurn();
  }
  return summarize("round", samples).p50Us;
}

const plainCheck = (input: CheckInput) => engine.check(input);
const auditedCheck = (input: CheckInput) => audited.check(input);

// Warm-up: one round each way, not counted.
await round(plainCheck, 0);
await round(auditedCheck, 0);
await recorder.flush();

const rows: { plain: number; audited: number }[] = [];
for (let r = 0; r < rounds; r++) {
  // Both ways ask the same questions in a round.
  const from = (r * checks) % mix.length;
  const plain = await round(plainCheck, from);
  const withAudit = await round(auditedCheck, from);
  await recorder.flush();
  rows.push({ plain, audited: withAudit });
}
const stats = recorder.stats();
await recorder.close();
await sqlite.close();
rmSync(dir, { recursive: true, force: true });

console.log(`scale ${scale}, ${rounds} rounds of ${checks} uncached checks each way (p50 per round, µs)\n`);
console.log("| round | plain | audited | difference |");
console.log("| ---: | ---: | ---: | ---: |");
rows.forEach((row, i) => {
  console.log(
    `| ${i + 1} | ${row.plain.toFixed(2)} | ${row.audited.toFixed(2)} | ${(row.audited - row.plain).toFixed(2)} |`,
  );
});
const differences = rows.map((row) => row.audited - row.plain);
console.log(
  `\nmedian difference ${median(differences).toFixed(2)} µs (plain p50 median ${median(rows.map((r) => r.plain)).toFixed(2)} µs); ` +
    `${stats.written} records written, ${stats.dropped} dropped`,
);
