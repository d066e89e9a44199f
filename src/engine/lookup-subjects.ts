/**
 * LookupSubjects: every subject of a type that has a permission on one resource. A forward walk
 * over every branch of the permission (exclusions' right-hand sides too, since they name the
 * subjects a wildcard excludes) collects the candidate subjects, flagged definite when reached
 * along uncaveated unions, computed members and `->` arrows only. The rest are checked through the
 * dispatcher, sharing the relationships the walk already read, so states equal Check's.
 *
 * A wildcard reached on the way is checked as an object no relationship names: that is exactly
 * what it grants to every subject not listed. It is reported with the concrete subjects it does
 * not cover, or covers only under caveats (`viewer - banned` under `user:*` excludes the banned
 * ones, conditionally those banned under a caveat the context leaves open): see
 * LookupSubjectResult for how a consumer expands it.
 */

import { clip, formatSubjectRef, LatchError, type SubjectRef } from "../core/index.js";
import { createCaveatEvaluator, type Verdict } from "./evaluate-caveats.js";
import { solve } from "./evaluator.js";
import {
  createLookupContext,
  deadlineExceeded,
  isDeadline,
  type LookupDeps,
  resolveLookupMember,
  tokenFor,
  validateLimit,
} from "./lookup-context.js";
import { cursorPrefix, decodeCursor, subjectsRequestPrint } from "./lookup-cursor.js";
import { computedHop } from "./operators.js";
import type { Plan, PlanMember, PlanNode } from "./plan.js";
import { readTuples } from "./read-tuples.js";
import type { RequestContext } from "./request-context.js";
import type {
  LookupSubjectResult,
  LookupSubjectsRequest,
  RequestOptions,
  SubjectExclusion,
} from "./types.js";
import { validateContext } from "./validate-request.js";
import { freshAcc, maxDepthExceeded } from "./walk-stack.js";

type Flags = Map<string, boolean>;

interface Found {
  /** Concrete subject id -> definite. */
  readonly concrete: Flags;
  /** Undefined: no wildcard of the type was reached; else whether it is definite. */
  wildcard: boolean | undefined;
  /** Every id of the subject type seen anywhere, to pick an id no relationship names. */
  readonly seen: Set<string>;
}

export async function* lookupSubjects(
  deps: LookupDeps,
  request: LookupSubjectsRequest,
  options?: RequestOptions,
): AsyncGenerator<LookupSubjectResult, void, undefined> {
  const signal = options?.signal;
  let lastCursor = request.cursor;
  if (signal?.aborted) throw deadlineExceeded(lastCursor);
  validateContext(request.context, deps.contextLimits);
  const limit = request.limit;
  validateLimit(limit);
  if (limit === 0) return;
  const relation = request.subjectRelation;
  const requestPrint = subjectsRequestPrint(request);
  let dispatches = 0;
  try {
    let revision: bigint;
    // Undefined on a first page; "" after the wildcard result; else the last subject id returned.
    let after: string | undefined;
    if (request.cursor === undefined) revision = await deps.revisions.resolve(request.consistency, signal);
    else {
      const cursor = decodeCursor(request.cursor, requestPrint);
      revision = await deps.revisions.resolve({ kind: "at-exact-snapshot", token: cursor.token }, signal);
      after = cursor.after;
    }
    const plan = await deps.revisions.planAt(revision);
    const member = resolveLookupMember(plan, request.resource.type, request.permission);
    validateLookupTarget(plan, request);
    const walkCtx = createLookupContext(
      deps,
      plan,
      revision,
      { type: request.subjectType, id: "*" },
      "",
      signal,
      new Map(),
      deps.results,
    );
    const found = await collect(walkCtx, member, request.resource.id, request.subjectType, relation);
    dispatches += walkCtx.dispatches;

    const evaluator = createCaveatEvaluator(plan.schema, request.context, false, deps.maxCaveatCost);
    const verdictFor = async (subject: SubjectRef): Promise<Verdict> => {
      // Each subject gets its own context (cache keys carry it) over the relationships read so far.
      const ctx = createLookupContext(
        deps,
        plan,
        revision,
        subject,
        formatSubjectRef(subject),
        signal,
        walkCtx.tuples,
        walkCtx.results,
      );
      try {
        const out = await solve(ctx, member, [request.resource.id]);
        return evaluator.verdict(out.m.get(request.resource.id));
      } finally {
        dispatches += ctx.dispatches;
      }
    };
    const subjectOf = (id: string): SubjectRef =>
      relation === undefined
        ? { type: request.subjectType, id }
        : { type: request.subjectType, id, relation };
    // Verdicts are computed as the page needs them: a page of `limit` checks no more than that,
    // except on a first page with a wildcard, whose exclusions need every subject's verdict.
    const states = new Map<string, Verdict>();
    const stateOf = async (id: string): Promise<Verdict> => {
      let v = states.get(id);
      if (v === undefined) {
        v = found.concrete.get(id) === true ? ALLOWED : await verdictFor(subjectOf(id));
        states.set(id, v);
      }
      return v;
    };
    const ids = [...found.concrete.keys()].filter((id) => after === undefined || id > after).sort();
    const token = tokenFor(deps, revision);
    const prefix = cursorPrefix(token, requestPrint);
    if (after === undefined && found.wildcard !== undefined && relation === undefined) {
      let anyone = ALLOWED;
      if (found.wildcard !== true) {
        let fresh = "__latch_any_subject__";
        for (let n = 0; found.seen.has(fresh); n++) fresh = `__latch_any_subject_${n}__`;
        anyone = await verdictFor({ type: request.subjectType, id: fresh });
      }
      if (anyone.state !== "DENIED") {
        const excluded: SubjectExclusion[] = [];
        for (const id of ids) {
          const exclusion = exclusionFor(anyone, await stateOf(id));
          if (exclusion !== undefined) excluded.push({ ...subjectOf(id), ...exclusion });
        }
        lastCursor = prefix;
        yield {
          subject: { type: request.subjectType, id: "*" },
          state: anyone.state,
          missing: anyone.missing,
          excluded,
          cursor: prefix,
          revision,
          token,
        };
      }
    }
    let emitted = 0;
    for (const id of ids) {
      const v = await stateOf(id);
      if (v.state === "DENIED") continue;
      if (signal?.aborted) throw deadlineExceeded(lastCursor);
      const cursor = prefix + id;
      lastCursor = cursor;
      yield { subject: subjectOf(id), state: v.state, missing: v.missing, cursor, revision, token };
      if (limit !== undefined && ++emitted >= limit) return;
    }
  } catch (e) {
    // However deep the deadline struck, the caller gets the cursor to resume from.
    if (isDeadline(e)) throw deadlineExceeded(lastCursor);
    throw e;
  } finally {
    deps.countDispatches?.(dispatches);
  }
}

const ALLOWED: Verdict = { state: "ALLOWED", missing: [] };

function validateLookupTarget(plan: Plan, request: LookupSubjectsRequest): void {
  if (request.resource.id === "" || request.resource.id === "*") {
    throw new LatchError(
      "check/invalid-resource",
      "invalid-argument",
      `invalid resource id "${clip(request.resource.id)}"`,
    );
  }
  if (plan.defs.get(request.subjectType) === undefined) {
    throw new LatchError(
      "check/unknown-type",
      "invalid-argument",
      `unknown subject type ${clip(request.subjectType)}`,
      { type: clip(request.subjectType) },
    );
  }
  if (request.subjectRelation !== undefined) {
    resolveLookupMember(plan, request.subjectType, request.subjectRelation);
  }
}

/**
 * How far the wildcard's verdict `anyone` must be cut down for a subject whose own Check verdict
 * is `own`, so that `own OR (anyone AND NOT exclusion)` equals `own` (see LookupSubjectResult):
 * - own DENIED: EXCLUDED, the wildcard does not reach it;
 * - own ALLOWED: no exclusion needed;
 * - own CONDITIONAL and anyone ALLOWED: CONDITIONAL with own's missing parameters (`user:*`
 *   minus a subject banned under a caveat the context does not decide);
 * - both CONDITIONAL: none when the same parameters decide both; CONDITIONAL with the extra ones
 *   when own needs more (the exclusion's caveats add to the wildcard's, whose parameters the
 *   wildcard result names already); EXCLUDED when own does not need all of the wildcard's: the
 *   wildcard's part would have brought them in, so for this subject it is false.
 */
function exclusionFor(
  anyone: Verdict,
  own: Verdict,
): Pick<SubjectExclusion, "state" | "missing"> | undefined {
  if (own.state === "DENIED") return { state: "EXCLUDED", missing: [] };
  if (own.state === "ALLOWED") return undefined;
  if (anyone.state === "ALLOWED") return { state: "CONDITIONAL", missing: own.missing };
  const needs = new Set(own.missing);
  if (!anyone.missing.every((m) => needs.has(m))) return { state: "EXCLUDED", missing: [] };
  if (needs.size === anyone.missing.length) return undefined;
  for (const m of anyone.missing) needs.delete(m);
  return { state: "CONDITIONAL", missing: [...needs] };
}

/**
 * Breadth-first over (member, object) pairs, one batched read per member and round. A round is one
 * hop as Check counts depth (walk-stack.ts): a step to the object's own relation stays in its
 * round (`now`), every other step goes to the next (`frontier`); so a pair is first met at the
 * depth of its shortest path, and one met past the limit fails the lookup as it fails Check.
 */
async function collect(
  ctx: RequestContext,
  root: PlanMember,
  rootId: string,
  subjectType: string,
  subjectRelation: string | undefined,
): Promise<Found> {
  const found: Found = { concrete: new Map(), wildcard: undefined, seen: new Set() };
  const visited = new Map<PlanMember, Flags>();
  let frontier = new Map<PlanMember, Flags>();
  let now = frontier;
  const mark = (into: Flags, id: string, definite: boolean): boolean => {
    const prev = into.get(id);
    if (prev === true || (prev === false && !definite)) return false;
    into.set(id, definite);
    return true;
  };
  const visit = (member: PlanMember, id: string, definite: boolean, hop: 0 | 1 = 1) => {
    let seen = visited.get(member);
    if (seen === undefined) {
      seen = new Map();
      visited.set(member, seen);
    }
    if (!mark(seen, id, definite)) return;
    // A subject set is a member of itself.
    if (member.def.name === subjectType && member.name === subjectRelation) {
      found.seen.add(id);
      mark(found.concrete, id, definite);
    }
    const into = hop === 0 ? now : frontier;
    let next = into.get(member);
    if (next === undefined) {
      next = new Map();
      into.set(member, next);
    }
    mark(next, id, definite);
  };

  const walk = async (member: PlanMember, node: PlanNode, ids: Flags, cap: boolean): Promise<void> => {
    switch (node.k) {
      case "nil":
        return;
      case "computed":
        for (const [id, d] of ids) visit(node.target, id, d && cap, computedHop(node.target));
        return;
      case "union":
        for (const child of node.children) await walk(member, child, ids, cap);
        return;
      case "intersection":
        for (const child of node.children) await walk(member, child, ids, false);
        return;
      case "exclusion":
        await walk(member, node.base, ids, false);
        await walk(member, node.subtract, ids, false);
        return;
      case "relation": {
        const tuples = await readTuples(ctx, member, node.name, [...ids.keys()], freshAcc());
        for (const [id, d] of ids) {
          const flag = d && cap;
          for (const r of tuples.get(id) ?? []) {
            const s = r.subject;
            const definite = flag && r.caveat === undefined;
            if (s.type === subjectType) found.seen.add(s.id);
            if (s.relation === undefined) {
              if (s.type !== subjectType || subjectRelation !== undefined) continue;
              if (s.id === "*") found.wildcard = found.wildcard === true || definite;
              else mark(found.concrete, s.id, definite);
              continue;
            }
            const target = ctx.plan.defs.get(s.type)?.members.get(s.relation);
            if (target !== undefined) visit(target, s.id, definite);
            else if (s.type === subjectType && s.relation === subjectRelation)
              mark(found.concrete, s.id, definite);
          }
        }
        return;
      }
      case "arrow": {
        const tuples = await readTuples(ctx, member, node.tupleset, [...ids.keys()], freshAcc());
        for (const [id, d] of ids) {
          const flag = d && cap && node.mode === "any";
          for (const r of tuples.get(id) ?? []) {
            if (r.subject.id === "*") continue;
            const target = node.targets.get(r.subject.type);
            if (target !== undefined) visit(target, r.subject.id, flag && r.caveat === undefined);
          }
        }
        return;
      }
    }
  };

  visit(root, rootId, true);
  for (let hops = 1; frontier.size > 0; hops++) {
    if (hops > ctx.maxDepth) {
      throw maxDepthExceeded("lookup", ctx.maxDepth, frontier.keys().next().value!.label);
    }
    now = frontier;
    frontier = new Map();
    while (now.size > 0) {
      if (ctx.signal?.aborted) throw deadlineExceeded(undefined);
      const current = now;
      now = new Map();
      for (const [member, ids] of current) await walk(member, member.node, ids, true);
    }
  }
  return found;
}
