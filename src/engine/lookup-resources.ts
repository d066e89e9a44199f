/**
 * LookupResources: every object of a type on which the subject has a permission, streamed at one
 * revision as the reverse walk (lookup-reverse.ts) proves them, so the first results leave before
 * the walk is done and a limited lookup stops the walk once it has its page.
 *
 * Order: level by level of the walk (the round of reads that first reached the object), in id
 * order within a level. At one revision the walk reaches the same objects at the same levels
 * every time, so a cursor is exact: (revision, level, last id), and a resumed lookup walks to that
 * level again, skipping what earlier levels reached and the ids up to the last one, without
 * checking any of them. An object reached along a definite path (lookup-reverse.ts) is ALLOWED
 * as it stands; the others are checked through the check dispatcher, in sorted chunks, at the
 * level they are first reached, so each state is exactly the one Check returns and a later level
 * that reaches the object again gives it no second result.
 *
 * Witnesses (`witness: true`, which the audit trail asks for the lookups it records): each result
 * carries the relationships that prove it, as Check's witness does. A definite object's is the path
 * the walk reached it by (lookup-reverse.ts keeps it); a checked one's comes from its check, made
 * through a context that keeps proofs (and so shares no cached answer, as a witnessing Check). A
 * lookup not asked keeps no proofs and checks as before.
 */
import type { CaveatEvaluator } from "./evaluate-caveats.js";
import { createCaveatEvaluator } from "./evaluate-caveats.js";
import { dispatch } from "./evaluator.js";
import {
  createLookupContext,
  deadlineExceeded,
  freshAcc,
  isDeadline,
  type LookupDeps,
  resolveLookupMember,
  tokenFor,
  validateLimit,
} from "./lookup-context.js";
import {
  cursorPrefix,
  decodeResourceCursor,
  fingerprint,
  type LookupCursor,
  resourceCursorAt,
} from "./lookup-cursor.js";
import { type ReverseSteps, reverseSteps } from "./lookup-reverse.js";
import type { PlanMember } from "./plan.js";
import type { RequestContext } from "./request-context.js";
import type { Out } from "./traces.js";
import type { LookupResourceResult, LookupResourcesRequest, RequestOptions } from "./types.js";
import { validateContext, validateSubject } from "./validate-request.js";
import { proofRelationships } from "./witness.js";

/** The first chunk is small so the first result comes fast; later ones amortise the dispatch. */
const FIRST_CHUNK = 64;
const MAX_CHUNK = 1024;
const NONE: readonly string[] = Object.freeze([]);

type Found = Pick<LookupResourceResult, "resourceId" | "state" | "missing" | "witness">;

/**
 * The results among `ids[start..end)` (sorted), in that order: definite objects as they are, the
 * others checked in one dispatch; none when every one is definite (no await then). With `proving`
 * (the lookup asks for witnesses) the others are checked through it, and each result has its witness.
 */
function chunkResults(
  ctx: RequestContext,
  member: PlanMember,
  evaluator: CaveatEvaluator,
  walk: ReverseSteps,
  ids: readonly string[],
  start: number,
  end: number,
  proving: RequestContext | undefined,
): Found[] | Promise<Found[]> {
  const reached = walk.reached;
  let toCheck: string[] | undefined;
  for (let i = start; i < end; i++) {
    const id = ids[i]!;
    if (reached.get(id) === true) continue;
    if (toCheck === undefined) toCheck = [id];
    else toCheck.push(id);
  }
  const found = (checked: Out | undefined): Found[] => {
    const out: Found[] = [];
    for (let i = start; i < end; i++) {
      const id = ids[i]!;
      if (checked === undefined || reached.get(id) === true) {
        out.push(
          proving === undefined
            ? { resourceId: id, state: "ALLOWED", missing: NONE }
            : {
                resourceId: id,
                state: "ALLOWED",
                missing: NONE,
                witness: proofRelationships(walk.proofOf(id)),
              },
        );
        continue;
      }
      const verdict = evaluator.verdict(checked.m.get(id));
      if (verdict.state === "DENIED") continue;
      out.push(
        proving === undefined
          ? { resourceId: id, state: verdict.state, missing: verdict.missing }
          : {
              resourceId: id,
              state: verdict.state,
              missing: verdict.missing,
              witness: proofRelationships(checked.w?.get(id)),
            },
      );
    }
    return out;
  };
  if (toCheck === undefined) return found(undefined);
  return dispatch(proving ?? ctx, member, toCheck, undefined, freshAcc()).then(found);
}

/** What of a level's fresh objects a lookup resuming at `resume` has still to give. */
function still(ids: string[], level: number, resume: LookupCursor | undefined): string[] {
  if (resume === undefined || level > resume.level) return ids;
  if (level < resume.level) return [];
  const after = resume.after;
  return ids.filter((id) => id > after);
}

export async function* lookupResources(
  deps: LookupDeps,
  request: LookupResourcesRequest,
  options?: RequestOptions,
): AsyncGenerator<LookupResourceResult, void, undefined> {
  const signal = options?.signal;
  let lastCursor = request.cursor;
  if (signal?.aborted) throw deadlineExceeded(lastCursor);
  validateContext(request.context, deps.contextLimits);
  const limit = request.limit;
  validateLimit(limit);
  if (limit === 0) return;
  const subjectText = `${request.subject.type}:${request.subject.id}${
    request.subject.relation === undefined ? "" : `#${request.subject.relation}`
  }`;
  const requestPrint = fingerprint(`${request.resourceType}#${request.permission}@${subjectText}`);
  let resume: LookupCursor | undefined;
  let dispatches = 0;
  try {
    let revision: bigint;
    if (request.cursor === undefined) revision = await deps.revisions.resolve(request.consistency, signal);
    else {
      resume = decodeResourceCursor(request.cursor, requestPrint);
      revision = await deps.revisions.resolve({ kind: "at-exact-snapshot", token: resume.token }, signal);
    }
    const plan = await deps.revisions.planAt(revision);
    const member = resolveLookupMember(plan, request.resourceType, request.permission);
    const subjectKey = validateSubject(plan, request.subject);
    const ctx = createLookupContext(deps, plan, revision, request.subject, subjectKey, signal);
    // Asked for witnesses: a second context, keeping proofs, for the checks (the relationships read
    // are shared; the walk's own reads keep the shared cache).
    const proving =
      request.witness === true
        ? createLookupContext(
            deps,
            plan,
            revision,
            request.subject,
            subjectKey,
            signal,
            ctx.tuples,
            undefined,
            true,
          )
        : undefined;
    try {
      const walk = await reverseSteps(ctx, member, proving);
      const evaluator = createCaveatEvaluator(plan.schema, request.context, false, deps.maxCaveatCost);
      const token = tokenFor(deps, revision);
      const prefix = cursorPrefix(token, requestPrint, 2);
      let chunk = FIRST_CHUNK;
      let emitted = 0;
      do {
        const level = walk.level;
        const ids = still(walk.fresh(), level, resume);
        if (ids.length === 0) continue;
        ids.sort();
        for (let start = 0; start < ids.length; ) {
          // No more checks than the page still needs, unless some of them come out DENIED.
          const size = limit === undefined ? chunk : Math.min(chunk, limit - emitted);
          const end = Math.min(ids.length, start + size);
          chunk = Math.min(chunk * 4, MAX_CHUNK);
          const pending = chunkResults(ctx, member, evaluator, walk, ids, start, end, proving);
          const found = Array.isArray(pending) ? pending : await pending;
          start = end;
          for (const f of found) {
            if (signal?.aborted) throw deadlineExceeded(lastCursor);
            const cursor = resourceCursorAt(prefix, level, f.resourceId);
            lastCursor = cursor;
            yield f.witness === undefined
              ? { resourceId: f.resourceId, state: f.state, missing: f.missing, cursor, revision, token }
              : {
                  resourceId: f.resourceId,
                  state: f.state,
                  missing: f.missing,
                  cursor,
                  revision,
                  token,
                  witness: f.witness,
                };
            if (limit !== undefined && ++emitted >= limit) return;
          }
        }
      } while (await walk.advance());
    } finally {
      dispatches = ctx.dispatches + (proving?.dispatches ?? 0);
    }
  } catch (e) {
    // However deep the deadline struck, the caller gets the cursor to resume from.
    if (isDeadline(e)) throw deadlineExceeded(lastCursor);
    throw e;
  } finally {
    deps.countDispatches?.(dispatches);
  }
}
