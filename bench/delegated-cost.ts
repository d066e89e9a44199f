/**
 * What a delegated Check costs beside a plain one (issue 14), by CPU time in one process, so the
 * two share the same minutes of a loaded machine: `npx tsx bench/delegated-cost.ts [scale] [rounds]`.
 * Builds `check/mix` and `check/delegated` as bench/run.ts does (an agent per question, a viewer of
 * its document and its user's delegate), then alternates blocks of each, one check after another as
 * the bench does, and prints each one's median CPU µs per check over the rounds and their ratio.
 * `DELEGATED_ONLY=1` runs only delegated checks for `DELEGATED_MS` (for `node --cpu-prof`).
 */
import "../src/cli/v8-flags.js";
import { createEngine } from "../src/engine/index.js";
import { createDelegation, decorate } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import {
  agentDelegations,
  type CheckInput,
  delegatedQuestions,
  loadedMirror,
  pickFixtures,
  shuffledMix,
} from "./fixtures.js";
import { median } from "./report.js";

const [scaleArg = "m", roundsArg = "15"] = process.argv.slice(2);
const scale = scaleArg as Scale;
const rounds = Number(roundsArg);
const BLOCK = 20_000;

const corpus = generateCorpus(scale);
const fx = pickFixtures(corpus);
const sqlite = await createSqliteStore({ path: ":memory:" });
await sqlite.writeSchema(corpus.schema);
await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
// `DELEGATED_SETTLED=1`: the agents written before the copy loads, so no entry is young (as
// check/mix reads it in bench/run.ts, measured before they are written).
const settled = process.env.DELEGATED_SETTLED === "1";
let store = settled ? sqlite : await loadedMirror(sqlite);

// The questions of bench/run.ts's mix, so the delegated questions are the same 500.
const mix = shuffledMix(fx);
const questions = mix.slice(0, 500);
await store.write(agentDelegations(questions));
if (settled) store = await loadedMirror(sqlite);
const engine = createEngine({ store, cache: false });
const decider = decorate(engine, createDelegation());
const delegated = delegatedQuestions(questions);

async function block(inputs: readonly CheckInput[], check: (input: CheckInput) => Promise<unknown>) {
  const before = process.cpuUsage();
  for (let i = 0; i < BLOCK; i++) await check(inputs[i % inputs.length]!);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / BLOCK;
}

const plain = (input: CheckInput) => engine.check(input);
const chained = (input: CheckInput) => decider.check(input);

if (process.env.DELEGATED_YOUNG === "1") {
  // The same checks on this copy, whose agents are young (written after it loaded, as in
  // bench/run.ts), and on a second copy loaded after they were written (settled), alternating.
  const settledCopy = await loadedMirror(sqlite);
  const engine2 = createEngine({ store: settledCopy, cache: false });
  const decider2 = decorate(engine2, createDelegation());
  const cases = [
    ["mix young", questions, plain],
    ["mix settled", questions, (input: CheckInput) => engine2.check(input)],
    ["delegated young", delegated, chained],
    ["delegated settled", delegated, (input: CheckInput) => decider2.check(input)],
  ] as const;
  const times: number[][] = cases.map(() => []);
  for (const [, inputs, f] of cases) await block(inputs, f);
  for (let r = 0; r < rounds; r++)
    for (const [k, [, inputs, f]] of cases.entries()) times[k]!.push(await block(inputs, f));
  for (const [k, [name]] of cases.entries())
    console.log(name, [...times[k]!].sort((x, y) => x - y)[Math.floor(rounds / 2)]!.toFixed(2));
  process.exit(0);
}
const counted = process.env.DELEGATED_COUNT;
if (counted !== undefined) {
  // For callgrind: both warmed, then N of one kind; Ir per check = the difference of two runs
  // (N and 0) over N. `DELEGATED_COUNT=mix:20000` or `delegated:20000`.
  const [kind, n] = counted.split(":");
  await block(mix, plain);
  await block(delegated, chained);
  const [inputs, f] = kind === "mix" ? [questions, plain] : [delegated, chained];
  for (let i = 0; i < Number(n); i++) await f(inputs[i % inputs.length]!);
} else if (process.env.DELEGATED_ONLY === "1") {
  const t0 = performance.now();
  const own = delegated.map((d) => ({ resource: d.resource, permission: d.permission, subject: d.subject }));
  const [inputs, f] = process.env.DELEGATED_KIND === "own" ? [own, plain] : [delegated, chained];
  while (performance.now() - t0 < Number(process.env.DELEGATED_MS ?? 8_000)) await block(inputs, f);
} else if (process.env.DELEGATED_PARTS === "1") {
  // The floor: the three parts asked as plain checks, one after another.
  const own = delegated.map((d) => ({ resource: d.resource, permission: d.permission, subject: d.subject }));
  const links = delegated.map((d) => ({
    resource: { type: "user", id: d.onBehalfOf[0]!.id },
    permission: "delegate",
    subject: d.subject,
  }));
  const three = (_: CheckInput, i = n++) =>
    engine
      .check(own[i % 500]!)
      .then(() => engine.check(links[i % 500]!))
      .then(() => engine.check(questions[i % 500]!));
  let n = 0;
  for (const [name, inputs, f] of [
    ["mix500", questions, plain],
    ["own", own, plain],
    ["link", links, plain],
    ["three", questions, three],
    ["delegated", delegated, chained],
  ] as const) {
    await block(inputs, f);
    const xs: number[] = [];
    for (let r = 0; r < rounds; r++) xs.push(await block(inputs, f));
    console.log(name, [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!.toFixed(2));
  }
} else {
  // Warm both paths first.
  await block(mix, plain);
  await block(delegated, chained);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(await block(mix, plain));
    b.push(await block(delegated, chained));
  }
  const ratios = a.map((x, i) => b[i]! / x);
  console.log(
    `scale ${scale}, ${rounds} rounds of ${BLOCK}: mix ${median(a).toFixed(2)} µs CPU/check, ` +
      `delegated ${median(b).toFixed(2)} µs, ratio of medians ${(median(b) / median(a)).toFixed(2)}, ` +
      `median round ratio ${median(ratios).toFixed(2)}`,
  );
}
await store.close?.();
