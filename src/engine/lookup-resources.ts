/**
 * LookupResources: every object of a type on which the subject has a permission, streamed in id
 * order at one revision. The reverse walk finds the candidates (most of them definite, needing no
 * check); the others are checked in sorted chunks through the check dispatcher, so each state is
 * exactly the one Check returns. Sorted order makes the cursor simple and exact: (revision, last
 * id), and a resumed lookup skips every id up to the last one.
 */
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
import { cursorPrefix, decodeCursor, fingerprint } from "./lookup-cursor.js";
import { reverseReach } from "./lookup-reverse.js";
import type { Memberships } from "./membership.js";
import type { LookupResourceResult, LookupResourcesRequest, RequestOptions } from "./types.js";
import { validateContext, validateSubject } from "./validate-request.js";

/** The first chunk is small so the first result comes fast; later ones amortise the dispatch. */
const FIRST_CHUNK = 64;
const MAX_CHUNK = 1024;
const NONE: readonly string[] = Object.freeze([]);

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
  let after: string | undefined;
  let dispatches = 0;
  try {
    let revision: bigint;
    if (request.cursor === undefined) revision = await deps.revisions.resolve(request.consistency, signal);
    else {
      const cursor = decodeCursor(request.cursor, requestPrint);
      revision = await deps.revisions.resolve({ kind: "at-exact-snapshot", token: cursor.token }, signal);
      after = cursor.after;
    }
    const plan = await deps.revisions.planAt(revision);
    const member = resolveLookupMember(plan, request.resourceType, request.permission);
    const subjectKey = validateSubject(plan, request.subject);
    const ctx = createLookupContext(deps, plan, revision, request.subject, subjectKey, signal);
    try {
      const reached = await reverseReach(ctx, member);
      const ids: string[] = [];
      for (const id of reached.keys()) if (after === undefined || id > after) ids.push(id);
      ids.sort();
      const evaluator = createCaveatEvaluator(plan.schema, request.context, false, deps.maxCaveatCost);
      const token = tokenFor(deps, revision);
      const prefix = cursorPrefix(token, requestPrint);
      let emitted = 0;
      let chunk = FIRST_CHUNK;
      for (let start = 0; start < ids.length; ) {
        const end = Math.min(ids.length, start + chunk);
        chunk = Math.min(chunk * 4, MAX_CHUNK);
        let toCheck: string[] | undefined;
        for (let i = start; i < end; i++) {
          const id = ids[i]!;
          if (reached.get(id) === true) continue;
          if (toCheck === undefined) toCheck = [id];
          else toCheck.push(id);
        }
        const checked: Memberships | undefined =
          toCheck === undefined ? undefined : (await dispatch(ctx, member, toCheck, undefined, freshAcc())).m;
        for (let i = start; i < end; i++) {
          const id = ids[i]!;
          let state: LookupResourceResult["state"] = "ALLOWED";
          let missing: readonly string[] = NONE;
          if (checked !== undefined && reached.get(id) !== true) {
            const verdict = evaluator.verdict(checked.get(id));
            if (verdict.state === "DENIED") continue;
            state = verdict.state;
            missing = verdict.missing;
          }
          if (signal?.aborted) throw deadlineExceeded(lastCursor);
          const cursor = prefix + id;
          lastCursor = cursor;
          yield { resourceId: id, state, missing, cursor, revision, token };
          if (limit !== undefined && ++emitted >= limit) return;
        }
        start = end;
      }
    } finally {
      dispatches = ctx.dispatches;
    }
  } catch (e) {
    // However deep the deadline struck, the caller gets the cursor to resume from.
    if (isDeadline(e)) throw deadlineExceeded(lastCursor);
    throw e;
  } finally {
    deps.countDispatches?.(dispatches);
  }
}
