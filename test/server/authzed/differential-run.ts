/**
 * Runs one sequence of requests against two targets and lists where their normalized answers
 * differ. A difference a known, justified cause explains (see KNOWN in differential.test.ts) is
 * counted apart and does not fail the run.
 */

import { isDeepStrictEqual } from "node:util";
import { v1 } from "@authzed/authzed-node";
import type { Scenario } from "../../engine/random-scenarios.js";
import type { Method, Outcome, Request, Response, Target } from "./authzed-target.js";
import type { Case } from "./differential-cases.js";
import * as R from "./differential-requests.js";

export interface Exchange {
  /** The fixed case's name, for a random run "random". */
  readonly label: string;
  readonly method: Method;
  /** What was asked, in a line a reader can replay. */
  readonly asked: string;
  readonly spicedb: unknown;
  readonly latch: unknown;
  /**
   * For a lookup: its normal form as the CheckPermission answers of its items give it, when both
   * servers gave those answers alike (a lookup is a set of checks).
   */
  readonly fromChecks?: unknown;
  /** The error messages, for the reader (never compared). */
  readonly messages?: readonly [string | undefined, string | undefined];
}

/** Why a difference is expected, or undefined when it is not. */
export type Explain = (exchange: Exchange) => string | undefined;

export interface RunReport {
  readonly differences: Exchange[];
  readonly explained: Map<string, number>;
  readonly compared: number;
}

/** Failures agree on the status code, and on the ErrorInfo reason where both sides give one. */
function agree(a: unknown, b: unknown): boolean {
  const fa = a as { code?: number; reason?: string } | null;
  const fb = b as { code?: number; reason?: string } | null;
  const failure = (x: typeof fa) => x !== null && typeof x === "object" && !Array.isArray(x) && "code" in x;
  if (failure(fa) && failure(fb)) {
    return (
      fa!.code === fb!.code &&
      (fa!.reason === undefined || fb!.reason === undefined || fa!.reason === fb!.reason)
    );
  }
  return isDeepStrictEqual(a, b);
}

export class DifferentialRun {
  readonly report: RunReport = { differences: [], explained: new Map(), compared: 0 };
  constructor(
    private readonly spicedb: Target,
    private readonly latch: Target,
    private readonly explain: Explain,
    private readonly label = "random",
  ) {}

  /** Sends the request to both, compares the normal forms; returns both outcomes. */
  async send<M extends Method>(
    method: M,
    asked: string,
    request: Request<M>,
    answer: (value: Response<M>) => unknown,
    fromChecks?: unknown,
  ): Promise<{ spicedb: Outcome<Response<M>>; latch: Outcome<Response<M>>; agreed: boolean }> {
    const s = await this.spicedb.call(method, request);
    const l = await this.latch.call(method, request);
    const exchange: Exchange = {
      label: this.label,
      method,
      asked,
      spicedb: R.form(s, answer),
      latch: R.form(l, answer),
      ...(fromChecks === undefined ? {} : { fromChecks }),
      ...(s.ok && l.ok
        ? {}
        : { messages: [s.ok ? undefined : s.message, l.ok ? undefined : l.message] as const }),
    };
    const report = this.report as { compared: number } & RunReport;
    report.compared++;
    const agreed = agree(exchange.spicedb, exchange.latch);
    if (!agreed) {
      const why = this.explain(exchange);
      if (why === undefined) report.differences.push(exchange);
      else report.explained.set(why, (report.explained.get(why) ?? 0) + 1);
    }
    return { spicedb: s, latch: l, agreed };
  }
}

export const IDS = ["o0", "o1"] as const;
export const PERMISSIONS = ["rel0", "rel1", "perm0", "perm1"] as const;
const USERS = ["u0", "u1", "u2"] as const;
/** Subject sets checked beside the users, as the engine's property test does. */
const SUBJECT_SETS = ["typea:o0#perm0", "typeb:o1#rel0"] as const;

function relationshipText(s: Scenario): string {
  return s.relationships
    .map((r) => R.relationshipForm(R.toAuthzed(r)))
    .sort()
    .join("\n");
}

/** A scenario's request sequence: schema, data, reads, checks, bulk check, both lookups. */
export async function runScenario(
  run: DifferentialRun,
  scenario: Scenario,
  types: readonly string[],
): Promise<void> {
  const schema = await run.send(
    "writeSchema",
    `WriteSchema\n${scenario.shape.schema}`,
    v1.WriteSchemaRequest.create({ schema: scenario.shape.schema }),
    () => "written",
  );
  if (!schema.spicedb.ok || !schema.latch.ok) return;
  await sequence(run, scenario, types);
  // Nothing left for the next run's schema to conflict with.
  for (const type of types) {
    await run.send(
      "deleteRelationships",
      `DeleteRelationships ${type}`,
      R.deleteRequest(type),
      () => "deleted",
    );
  }
}

async function sequence(run: DifferentialRun, scenario: Scenario, types: readonly string[]): Promise<void> {
  // An empty write is its own case (SpiceDB accepts it): see differential.test.ts.
  if (scenario.relationships.length === 0) return;
  const written = await run.send(
    "writeRelationships",
    `WriteRelationships TOUCH\n${relationshipText(scenario)}`,
    R.writeRequest(scenario.relationships),
    () => "written",
  );
  if (!written.spicedb.ok || !written.latch.ok) return;
  for (const type of types) {
    await run.send("readRelationships", `ReadRelationships ${type}`, R.readRequest(type), R.readForm);
  }
  const contexts = scenario.context === undefined ? [undefined] : [undefined, scenario.context];
  for (const context of contexts) {
    const with_ = context === undefined ? "" : ` with ${JSON.stringify(context)}`;
    const items: R.CheckItem[] = [];
    for (const type of types) {
      for (const id of IDS) {
        for (const permission of PERMISSIONS) {
          for (const user of [...USERS, ...SUBJECT_SETS]) items.push({ type, id, permission, user, context });
        }
      }
    }
    // The answers both servers agree on, in lookup terms: ALLOWED, CONDITIONAL[...] or DENIED.
    const checks = new Map<string, string>();
    // The same answers in CheckBulkPermissions' words, item by item.
    const checkForms = new Map<string, string>();
    const key = (type: string, id: string, permission: string, user: string) =>
      `${type}:${id}#${permission}@${user}`;
    for (const item of items) {
      const { spicedb, agreed } = await run.send(
        "checkPermission",
        `CheckPermission ${item.type}:${item.id}#${item.permission}@${R.subjectLabel(item.user)}${with_}`,
        R.checkRequest(item),
        R.checkForm,
      );
      if (agreed && spicedb.ok) {
        checks.set(key(item.type, item.id, item.permission, item.user), R.checkAsLookup(spicedb.value));
        checkForms.set(key(item.type, item.id, item.permission, item.user), R.checkForm(spicedb.value));
      }
    }
    /** The lines a lookup would give from the checks, or undefined when one is missing. */
    const fromChecks = (lines: [string, string][], omitDenied: boolean) => {
      const out: string[] = [];
      for (const [label, k] of lines) {
        const answer = checks.get(k);
        if (answer === undefined) return undefined;
        if (!(omitDenied && answer === "DENIED")) out.push(`${label} ${answer}`);
      }
      return out.sort();
    };
    await run.send(
      "checkBulkPermissions",
      `CheckBulkPermissions (every check above)${with_}`,
      R.bulkRequest(items),
      R.bulkForm,
      items.every((item) => checkForms.has(key(item.type, item.id, item.permission, item.user)))
        ? items.map((item) => checkForms.get(key(item.type, item.id, item.permission, item.user)))
        : undefined,
    );
    for (const type of types) {
      for (const permission of PERMISSIONS) {
        for (const user of [...USERS, ...SUBJECT_SETS]) {
          await run.send(
            "lookupResources",
            `LookupResources ${type}#${permission}@${R.subjectLabel(user)}${with_}`,
            R.lookupResourcesRequest(type, permission, user, context),
            R.lookupResourcesForm,
            fromChecks(
              IDS.map((id) => [id, key(type, id, permission, user)]),
              true,
            ),
          );
        }
        for (const id of IDS) {
          await run.send(
            "lookupSubjects",
            `LookupSubjects ${type}:${id}#${permission} user${with_}`,
            R.lookupSubjectsRequest(type, id, permission, context),
            (list) => R.lookupSubjectsForm(list, USERS),
            fromChecks(
              USERS.map((user) => [user, key(type, id, permission, user)]),
              false,
            ),
          );
          // Subject sets as the subjects looked up: which typea objects' perm0 members get it.
          await run.send(
            "lookupSubjects",
            `LookupSubjects ${type}:${id}#${permission} typea#perm0${with_}`,
            R.lookupSubjectsRequest(type, id, permission, context, { type: "typea", relation: "perm0" }),
            (list) => R.lookupSubjectsForm(list, IDS),
          );
        }
      }
    }
  }
}

/** Forms of the answers of the methods the fixed cases use. */
function formOf(method: Method): (value: Response<Method>) => unknown {
  switch (method) {
    case "checkPermission":
      return R.checkForm as never;
    case "lookupResources":
      return R.lookupResourcesForm as never;
    case "lookupSubjects":
      return ((list: v1.LookupSubjectsResponse[]) => R.lookupSubjectsForm(list, [])) as never;
    case "readRelationships":
      return R.readForm as never;
    case "checkBulkPermissions":
      return R.bulkForm as never;
    default:
      return () => "ok";
  }
}

/** A fixed case: its schema, its steps, then its relationships deleted. */
export async function runCase(run: DifferentialRun, c: Case): Promise<void> {
  await run.send(
    "writeSchema",
    `WriteSchema\n${c.schema}`,
    v1.WriteSchemaRequest.create({ schema: c.schema }),
    () => "ok",
  );
  for (const step of c.steps)
    await run.send(step.method, step.asked, step.request as never, formOf(step.method));
  for (const type of c.types) {
    await run.send(
      "deleteRelationships",
      `DeleteRelationships ${type}`,
      R.deleteRequest(type),
      () => "deleted",
    );
  }
}

export function describeCase(c: Case, differences: readonly Exchange[]): string {
  const shown = differences.map((d) =>
    [
      `-- ${d.asked}`,
      `   SpiceDB: ${JSON.stringify(d.spicedb)} ${d.messages?.[0] ?? ""}`,
      `   Latch:   ${JSON.stringify(d.latch)} ${d.messages?.[1] ?? ""}`,
    ].join("\n"),
  );
  return [`case "${c.name}": ${differences.length} difference(s)`, ...shown].join("\n");
}

export function describeDifferences(scenario: Scenario, differences: readonly Exchange[], limit = 5): string {
  const shown = differences
    .slice(0, limit)
    .map((d) =>
      [
        `-- ${d.asked}`,
        `   SpiceDB: ${JSON.stringify(d.spicedb)}`,
        `   Latch:   ${JSON.stringify(d.latch)}`,
      ].join("\n"),
    );
  return [
    `${differences.length} difference(s); schema:\n${scenario.shape.schema}`,
    `relationships:\n${relationshipText(scenario)}`,
    `context: ${JSON.stringify(scenario.context)}`,
    ...shown,
  ].join("\n");
}
