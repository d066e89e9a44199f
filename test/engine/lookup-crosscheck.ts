/**
 * The accessibility cross-check shared by the conformance and property tests: over every object
 * type, member and subject that appears in a data set, LookupResources returns exactly the objects
 * an oracle (Check, or the reference evaluator) says are ALLOWED or CONDITIONAL, with the same
 * state, and LookupSubjects likewise the subjects: each subject's own result, and the wildcard
 * result expanded with the states of its exclusions (own OR (wildcard AND NOT exclusion)), both
 * equal Check. Where the oracle names the missing parameters of a CONDITIONAL answer, they must
 * match too.
 */
import {
  type CheckState,
  formatSubjectRef,
  isLatchError,
  type ObjectRef,
  type Relationship,
  type SubjectRef,
} from "../../src/core/index.js";
import type { Engine, LookupResourceResult, LookupResourcesRequest } from "../../src/engine/index.js";
import type { CompiledSchema } from "../../src/schema/index.js";
import { collectAll } from "./lookup-harness.js";

/** A state, or a state with the missing parameters of a CONDITIONAL one (then compared too). */
export type Verdict =
  | CheckState
  | "error"
  | { readonly state: CheckState; readonly missing: readonly string[] };

/** Three-valued, as Check combines them: the missing parameters of the CONDITIONAL parts add up. */
interface Tri {
  readonly state: CheckState;
  readonly missing: ReadonlySet<string>;
}

const DENIED: Tri = { state: "DENIED", missing: new Set() };
const RANK = { DENIED: 0, CONDITIONAL: 1, ALLOWED: 2 } as const;

function combine(a: Tri, b: Tri, pick: "max" | "min"): Tri {
  const [x, y] = [RANK[a.state], RANK[b.state]];
  const decided = pick === "max" ? Math.max(x, y) : Math.min(x, y);
  if (decided !== RANK.CONDITIONAL) return decided === x ? a : b;
  const missing = new Set<string>();
  for (const t of [a, b]) if (t.state === "CONDITIONAL") for (const m of t.missing) missing.add(m);
  return { state: "CONDITIONAL", missing };
}

const orTri = (a: Tri, b: Tri) => combine(a, b, "max");
const andTri = (a: Tri, b: Tri) => combine(a, b, "min");
const notTri = (a: Tri): Tri =>
  a.state === "CONDITIONAL" ? a : { state: a.state === "ALLOWED" ? "DENIED" : "ALLOWED", missing: new Set() };
const tri = (state: CheckState, missing: readonly string[] = []): Tri => ({
  state,
  missing: new Set(missing),
});

/**
 * What LookupSubjects results say about one subject id: its own result OR (the wildcard AND NOT
 * its exclusion), as LookupSubjectResult documents. Missing parameters are sorted.
 */
export function accessFromLookup(
  results: readonly {
    readonly subject: { readonly id: string };
    readonly state: CheckState;
    readonly missing: readonly string[];
    readonly excluded?: readonly {
      readonly id: string;
      readonly state: "EXCLUDED" | "CONDITIONAL";
      readonly missing: readonly string[];
    }[];
  }[],
  id: string,
): { state: CheckState; missing: string[] } {
  const own = results.find((r) => r.subject.id === id);
  const wildcard = results.find((r) => r.subject.id === "*");
  const exclusion = wildcard?.excluded?.find((e) => e.id === id);
  const fromWildcard =
    wildcard === undefined
      ? DENIED
      : andTri(
          tri(wildcard.state, wildcard.missing),
          notTri(
            exclusion === undefined
              ? DENIED
              : tri(exclusion.state === "EXCLUDED" ? "ALLOWED" : "CONDITIONAL", exclusion.missing),
          ),
        );
  const access = orTri(own === undefined ? DENIED : tri(own.state, own.missing), fromWildcard);
  return { state: access.state, missing: [...access.missing].sort() };
}

/** The label two answers are compared by: the state, with the missing parameters when the oracle gave them. */
function label(t: Tri, withMissing: boolean): string {
  return withMissing && t.state === "CONDITIONAL"
    ? `CONDITIONAL[${[...t.missing].sort().join(",")}]`
    : t.state;
}

function verdictTri(v: Verdict): { tri: Tri; withMissing: boolean } {
  if (typeof v === "string") return { tri: tri(v === "error" ? "DENIED" : v), withMissing: false };
  return { tri: tri(v.state, v.missing), withMissing: true };
}

/** States for many (resource, subject) pairs of one permission, in the order given. */
export type Oracle = (
  pairs: readonly { readonly resource: ObjectRef; readonly subject: SubjectRef }[],
  permission: string,
  context: Readonly<Record<string, unknown>> | undefined,
) => Promise<readonly Verdict[]>;

export interface CrossCheckStats {
  lookupResources: number;
  lookupSubjects: number;
  /** Combinations skipped because the oracle itself errs on them (e.g. recursion through `-`). */
  skipped: number;
  nonEmpty: number;
  /** LookupSubjects wildcard results with at least one CONDITIONAL exclusion. */
  conditionalExclusions: number;
}

export const FRESH_ID = "zz_nobody_named_this";

export function universe(relationships: readonly Relationship[]) {
  const objects = new Map<string, Set<string>>();
  const sets = new Map<string, SubjectRef>();
  const add = (type: string, id: string) => {
    if (id === "*") return;
    let ids = objects.get(type);
    if (ids === undefined) {
      ids = new Set();
      objects.set(type, ids);
    }
    ids.add(id);
  };
  for (const r of relationships) {
    add(r.resource.type, r.resource.id);
    add(r.subject.type, r.subject.id);
    if (r.subject.relation !== undefined) sets.set(formatSubjectRef(r.subject), r.subject);
  }
  return { objects, sets: [...sets.values()] };
}

interface Found {
  readonly resourceId: string;
  readonly state: string;
  readonly missing: readonly string[];
}

const resultText = (r: Found) =>
  `${r.resourceId}:${r.state}${r.missing.length > 0 ? `[${r.missing.join(",")}]` : ""}`;

/** The same results, in the same order, with the same states and missing parameters. */
const sameResults = (a: readonly Found[], b: readonly Found[]) =>
  a.length === b.length && a.every((r, i) => resultText(r) === resultText(b[i]!));

/**
 * A whole LookupResources in pages of `size`, each resuming from the last result's cursor; it
 * stops past `most` results, so that a cursor that goes back ends in a wrong answer, not a loop.
 */
export async function pagesOf(
  engine: Pick<Engine, "lookupResources">,
  size: number,
  request: LookupResourcesRequest,
  most: number,
): Promise<LookupResourceResult[]> {
  const all: LookupResourceResult[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await collectAll(
      engine.lookupResources({ ...request, limit: size, ...(cursor === undefined ? {} : { cursor }) }),
    );
    if (page.length > size) throw new Error(`a page of ${page.length} results for a limit of ${size}`);
    all.push(...page);
    if (page.length < size || all.length > most) return all;
    cursor = page.at(-1)!.cursor;
  }
}

export async function crossCheck(
  engine: Engine,
  schema: CompiledSchema,
  relationships: readonly Relationship[],
  oracle: Oracle,
  contexts: readonly (Readonly<Record<string, unknown>> | undefined)[],
  options: {
    readonly maxProblems?: number;
    /** Error codes a lookup may raise where the oracle answered (counted as skipped). */
    readonly tolerate?: (code: string) => boolean;
    /**
     * Also page each LookupResources with these limits, each page resuming from the last one's
     * cursor, and compare the pages, end to end, with the one-shot answer.
     */
    readonly pageSizes?: readonly number[];
  } = {},
): Promise<{ problems: string[]; stats: CrossCheckStats }> {
  const { objects, sets } = universe(relationships);
  const problems: string[] = [];
  const stats: CrossCheckStats = {
    lookupResources: 0,
    lookupSubjects: 0,
    skipped: 0,
    nonEmpty: 0,
    conditionalExclusions: 0,
  };
  const consistency = { kind: "fully-consistent" as const };
  const failed = (what: string, e: unknown) => {
    if (isLatchError(e) && options.tolerate?.(e.code) === true) stats.skipped++;
    else problems.push(`${what}: threw ${isLatchError(e) ? e.code : String(e)}`);
  };
  const maxProblems = options.maxProblems ?? 10;
  const subjects: SubjectRef[] = [...sets];
  for (const [type, ids] of objects) for (const id of ids) subjects.push({ type, id });
  const ctxText = (c: unknown) => (c === undefined ? "" : ` with ${JSON.stringify(c)}`);

  for (const context of contexts) {
    for (const [type, def] of schema.definitions) {
      const ids = [...(objects.get(type) ?? [])].sort();
      for (const permission of def.members.keys()) {
        // LookupResources, for every subject.
        for (const subject of subjects) {
          if (problems.length >= maxProblems) return { problems, stats };
          const verdicts = await oracle(
            ids.map((id) => ({ resource: { type, id }, subject })),
            permission,
            context,
          );
          const what = `LookupResources(${type}#${permission} @ ${formatSubjectRef(subject)})${ctxText(context)}`;
          if (verdicts.includes("error")) {
            stats.skipped++;
            continue;
          }
          const expected = new Map<string, string>();
          const withMissing = new Set<string>();
          ids.forEach((id, i) => {
            const v = verdictTri(verdicts[i]!);
            if (v.withMissing) withMissing.add(id);
            if (v.tri.state !== "DENIED") expected.set(id, label(v.tri, v.withMissing));
          });
          let got: Awaited<
            ReturnType<
              typeof collectAll<{ resourceId: string; state: CheckState; missing: readonly string[] }>
            >
          >;
          try {
            got = await collectAll(
              engine.lookupResources({
                resourceType: type,
                permission,
                subject,
                consistency,
                ...(context === undefined ? {} : { context }),
              }),
            );
          } catch (e) {
            failed(what, e);
            continue;
          }
          stats.lookupResources++;
          if (got.length > 0) stats.nonEmpty++;
          const actual = new Map(
            got.map((r) => [r.resourceId, label(tri(r.state, r.missing), withMissing.has(r.resourceId))]),
          );
          if (actual.size !== got.length) problems.push(`${what}: duplicate results`);
          for (const size of options.pageSizes ?? []) {
            const paged = await pagesOf(
              engine,
              size,
              {
                resourceType: type,
                permission,
                subject,
                consistency,
                ...(context === undefined ? {} : { context }),
              },
              got.length,
            ).catch((e: unknown) => e);
            if (!Array.isArray(paged)) failed(`${what} in pages of ${size}`, paged);
            else if (!sameResults(paged, got)) {
              problems.push(
                `${what}: pages of ${size} give ${paged.map(resultText).join(" ")}, not ${got.map(resultText).join(" ")}`,
              );
            }
          }
          const diff = compareMaps(expected, actual);
          if (diff !== "") problems.push(`${what}: ${diff}`);
        }

        // LookupSubjects, for every object of this type and every subject type (and set relation).
        const subjectKinds: { type: string; relation?: string }[] = [...schema.definitions.keys()].map(
          (t) => ({
            type: t,
          }),
        );
        const setKinds = new Set(sets.map((s) => `${s.type}#${s.relation}`));
        for (const k of setKinds) {
          const [t, rel] = k.split("#") as [string, string];
          subjectKinds.push({ type: t, relation: rel });
        }
        for (const id of ids) {
          for (const kind of subjectKinds) {
            if (problems.length >= maxProblems) return { problems, stats };
            const candidateIds = [...(objects.get(kind.type) ?? [])].sort();
            const pairSubjects: SubjectRef[] = candidateIds.map((sid) =>
              kind.relation === undefined
                ? { type: kind.type, id: sid }
                : { type: kind.type, id: sid, relation: kind.relation },
            );
            if (kind.relation === undefined) pairSubjects.push({ type: kind.type, id: FRESH_ID });
            const verdicts = await oracle(
              pairSubjects.map((subject) => ({ resource: { type, id }, subject })),
              permission,
              context,
            );
            const what = `LookupSubjects(${type}:${id}#${permission} @ ${kind.type}${kind.relation === undefined ? "" : `#${kind.relation}`})${ctxText(context)}`;
            if (verdicts.includes("error")) {
              stats.skipped++;
              continue;
            }
            let got: Awaited<
              ReturnType<typeof collectAll<import("../../src/engine/types.js").LookupSubjectResult>>
            >;
            try {
              got = await collectAll(
                engine.lookupSubjects({
                  resource: { type, id },
                  permission,
                  subjectType: kind.type,
                  ...(kind.relation === undefined ? {} : { subjectRelation: kind.relation }),
                  consistency,
                  ...(context === undefined ? {} : { context }),
                }),
              );
            } catch (e) {
              failed(what, e);
              continue;
            }
            stats.lookupSubjects++;
            if (got.length > 0) stats.nonEmpty++;
            const wildcard = got.find((r) => r.subject.id === "*");
            const explicit = new Map(
              got.filter((r) => r.subject.id !== "*").map((r) => [r.subject.id, tri(r.state, r.missing)]),
            );
            if (explicit.size + (wildcard === undefined ? 0 : 1) !== got.length)
              problems.push(`${what}: duplicate results`);
            if (wildcard?.excluded?.some((e) => e.state === "CONDITIONAL") === true)
              stats.conditionalExclusions++;
            const exclusions = new Map<string, Tri>();
            for (const e of wildcard?.excluded ?? []) {
              if (exclusions.has(e.id)) problems.push(`${what}: ${e.id} excluded twice`);
              exclusions.set(e.id, tri(e.state === "EXCLUDED" ? "ALLOWED" : "CONDITIONAL", e.missing));
              if (e.state === "EXCLUDED" && e.missing.length > 0)
                problems.push(`${what}: ${e.id} excluded for sure but with missing parameters`);
            }
            const expected = new Map<string, string>();
            // Each subject's own result, and the wildcard expanded with its exclusions
            // (own OR (wildcard AND NOT exclusion), as LookupSubjectResult documents).
            const listed = new Map<string, string>();
            const expanded = new Map<string, string>();
            pairSubjects.forEach((s, i) => {
              const v = verdictTri(verdicts[i]!);
              if (v.tri.state !== "DENIED") expected.set(s.id, label(v.tri, v.withMissing));
              const own = explicit.get(s.id);
              if (own !== undefined) listed.set(s.id, label(own, v.withMissing));
              const fromWildcard =
                wildcard === undefined
                  ? DENIED
                  : andTri(tri(wildcard.state, wildcard.missing), notTri(exclusions.get(s.id) ?? DENIED));
              const access = orTri(own ?? DENIED, fromWildcard);
              if (access.state !== "DENIED") expanded.set(s.id, label(access, v.withMissing));
            });
            for (const sid of explicit.keys()) {
              if (!pairSubjects.some((s) => s.id === sid)) problems.push(`${what}: unknown subject ${sid}`);
            }
            const diff = compareMaps(expected, expanded);
            if (diff !== "") problems.push(`${what}, the wildcard expanded: ${diff}`);
            for (const [sid, state] of listed) {
              if (expected.get(sid) !== state)
                problems.push(`${what}: ${sid} listed ${state}, Check says ${expected.get(sid) ?? "DENIED"}`);
            }
          }
        }
      }
    }
  }
  return { problems, stats };
}

function compareMaps(expected: ReadonlyMap<string, string>, actual: ReadonlyMap<string, string>): string {
  const out: string[] = [];
  for (const [id, state] of expected) {
    const a = actual.get(id);
    if (a === undefined) out.push(`missing ${id} (${state})`);
    else if (a !== state) out.push(`${id} is ${a}, Check says ${state}`);
  }
  for (const [id, state] of actual) if (!expected.has(id)) out.push(`unexpected ${id} (${state})`);
  return out.join("; ");
}

/** Check through CheckBulk, in chunks within its item limit. */
export function engineOracle(engine: Engine): Oracle {
  return async (pairs, permission, context) => {
    const out: Verdict[] = [];
    for (let i = 0; i < pairs.length; i += 500) {
      const items = pairs.slice(i, i + 500).map((p) => ({
        resource: p.resource,
        permission,
        subject: p.subject,
        ...(context === undefined ? {} : { context }),
      }));
      const r = await engine.checkBulk({ items, consistency: { kind: "fully-consistent" } });
      // The engine alone answers only its three states.
      for (const x of r.results)
        out.push(x.ok ? { state: x.state as CheckState, missing: x.missing } : "error");
    }
    return out;
  };
}
