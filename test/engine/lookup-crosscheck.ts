/**
 * The accessibility cross-check shared by the conformance and property tests: over every object
 * type, member and subject that appears in a data set, LookupResources returns exactly the objects
 * an oracle (Check, or the reference evaluator) says are ALLOWED or CONDITIONAL, with the same
 * state, and LookupSubjects likewise the subjects (a wildcard result standing for every subject it
 * does not exclude).
 */
import {
  type CheckState,
  formatSubjectRef,
  isLatchError,
  type ObjectRef,
  type Relationship,
  type SubjectRef,
} from "../../src/core/index.js";
import type { Engine } from "../../src/engine/index.js";
import type { CompiledSchema } from "../../src/schema/index.js";
import { collectAll } from "./lookup-harness.js";

export type Verdict = CheckState | "error";

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
  } = {},
): Promise<{ problems: string[]; stats: CrossCheckStats }> {
  const { objects, sets } = universe(relationships);
  const problems: string[] = [];
  const stats: CrossCheckStats = { lookupResources: 0, lookupSubjects: 0, skipped: 0, nonEmpty: 0 };
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
          const expected = new Map<string, CheckState>();
          ids.forEach((id, i) => {
            if (verdicts[i] !== "DENIED") expected.set(id, verdicts[i] as CheckState);
          });
          let got: Awaited<ReturnType<typeof collectAll<{ resourceId: string; state: string }>>>;
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
          const actual = new Map(got.map((r) => [r.resourceId, r.state]));
          if (actual.size !== got.length) problems.push(`${what}: duplicate results`);
          const sortedIds = got.map((r) => r.resourceId);
          if (sortedIds.some((id, i) => i > 0 && sortedIds[i - 1]! >= id))
            problems.push(`${what}: not in id order`);
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
              got.filter((r) => r.subject.id !== "*").map((r) => [r.subject.id, r.state]),
            );
            if (explicit.size + (wildcard === undefined ? 0 : 1) !== got.length)
              problems.push(`${what}: duplicate results`);
            const excluded = new Set((wildcard?.excluded ?? []).map((s) => s.id));
            const expected = new Map<string, CheckState>();
            const actual = new Map<string, CheckState>();
            pairSubjects.forEach((s, i) => {
              if (verdicts[i] !== "DENIED") expected.set(s.id, verdicts[i] as CheckState);
              const state =
                explicit.get(s.id) ??
                (wildcard !== undefined && !excluded.has(s.id) ? wildcard.state : undefined);
              if (state !== undefined) actual.set(s.id, state);
            });
            for (const sid of explicit.keys()) {
              if (!pairSubjects.some((s) => s.id === sid)) problems.push(`${what}: unknown subject ${sid}`);
            }
            const diff = compareMaps(expected, actual);
            if (diff !== "") problems.push(`${what}: ${diff}`);
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
      for (const x of r.results) out.push(x.ok ? x.state : "error");
    }
    return out;
  };
}
