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
import { solve } from "./evaluator.js";
import type { LookupBatchOptions } from "./lookup-batches.js";
import {
  createLookupContext,
  deadlineExceeded,
  isDeadline,
  type LookupDeps,
  resolveLookupMember,
  tokenFor,
  validateLimit,
} from "./lookup-context.js";
import {
  cursorPrefix,
  decodeResourceCursor,
  type LookupCursor,
  resourceCursorAt,
  resourcesRequestPrint,
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

/**
 * What every result of one level shares: its cursor's prefix (undefined: the caller asked for no
 * cursors, see lookup-batches.ts) and level, the revision and its token.
 */
interface At {
  readonly prefix: string | undefined;
  readonly level: number;
  readonly revision: bigint;
  readonly token: string;
}

function resultOf(
  at: At,
  id: string,
  state: LookupResourceResult["state"],
  missing: readonly string[],
  witness: LookupResourceResult["witness"],
): LookupResourceResult {
  const cursor = at.prefix === undefined ? "" : resourceCursorAt(at.prefix, at.level, id);
  return witness === undefined
    ? { resourceId: id, state, missing, cursor, revision: at.revision, token: at.token }
    : { resourceId: id, state, missing, cursor, revision: at.revision, token: at.token, witness };
}

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
  range: { readonly start: number; readonly end: number },
  at: At,
  proving: RequestContext | undefined,
): LookupResourceResult[] | Promise<LookupResourceResult[]> {
  const { start, end } = range;
  const proves = proving !== undefined;
  // Every object reached so far is definite (the usual large lookup): nothing to ask per id.
  if (walk.candidates === 0 && !proves) return definiteResults(ids, start, end, at);
  let toCheck: string[] | undefined;
  for (let i = start; i < end; i++) {
    const id = ids[i]!;
    if (!walk.isCandidate(id)) continue;
    if (toCheck === undefined) toCheck = [id];
    else toCheck.push(id);
  }
  const found = (checked: Out | undefined): LookupResourceResult[] => {
    const out: LookupResourceResult[] = [];
    for (let i = start; i < end; i++) {
      const id = ids[i]!;
      if (checked === undefined || !walk.isCandidate(id)) {
        out.push(
          resultOf(at, id, "ALLOWED", NONE, proves ? proofRelationships(walk.proofOf(id)) : undefined),
        );
        continue;
      }
      const verdict = evaluator.verdict(checked.m.get(id));
      if (verdict.state === "DENIED") continue;
      const witness = proves ? proofRelationships(checked.w?.get(id)) : undefined;
      out.push(resultOf(at, id, verdict.state, verdict.missing, witness));
    }
    return out;
  };
  if (toCheck === undefined) return found(undefined);
  return solve(proving ?? ctx, member, toCheck).then(found);
}

/** `ids[start..end)`, every one definite and without witness, as ALLOWED results. */
function definiteResults(ids: readonly string[], start: number, end: number, at: At): LookupResourceResult[] {
  const out = new Array<LookupResourceResult>(end - start);
  const { prefix, level, revision, token } = at;
  for (let i = start; i < end; i++) {
    const id = ids[i]!;
    const cursor = prefix === undefined ? "" : resourceCursorAt(prefix, level, id);
    out[i - start] = { resourceId: id, state: "ALLOWED", missing: NONE, cursor, revision, token };
  }
  return out;
}

/**
 * What of a level's fresh objects a lookup resuming at `resume` has still to give. The cursor's
 * id need not be among them: a grant that expired since the last page takes its object out of the
 * walk (docs/concepts.md), and the lookup goes on after where it was.
 */
function still(ids: string[], level: number, resume: LookupCursor | undefined): string[] {
  if (resume === undefined || level > resume.level) return ids;
  if (level < resume.level) return [];
  const after = resume.after;
  return ids.filter((id) => id > after);
}

/**
 * LookupResources, a chunk of results at a time (each from one level, in order): the work without
 * a generator step per result, for callers that take a whole set (the permission watch). Each
 * result carries its cursor, unless `options.cursors` is false. An aborted signal ends it with
 * `deadline-exceeded` and the cursor of the last result of the last chunk given.
 */
export async function* lookupResourceBatches(
  deps: LookupDeps,
  request: LookupResourcesRequest,
  options?: LookupBatchOptions,
): AsyncGenerator<LookupResourceResult[], void, undefined> {
  const signal = options?.signal;
  let lastCursor = request.cursor;
  if (signal?.aborted) throw deadlineExceeded(lastCursor);
  validateContext(request.context, deps.contextLimits);
  const limit = request.limit;
  validateLimit(limit);
  if (limit === 0) return;
  // Hashed once per call: every result's cursor shares it (cursorPrefix).
  const requestPrint = resourcesRequestPrint(request);
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
      const prefix = options?.cursors === false ? undefined : cursorPrefix(token, requestPrint, 2);
      let chunk = FIRST_CHUNK;
      let emitted = 0;
      do {
        const level = walk.level;
        const ids = still(walk.fresh(), level, resume);
        if (ids.length === 0) continue;
        // Id order within a level is what makes a cursor exact; a lookup without cursors is taken
        // as a whole set (the permission watch), so its results may come in the order reached.
        if (prefix !== undefined) ids.sort();
        const at: At = { prefix, level, revision, token };
        for (let start = 0; start < ids.length; ) {
          // No more checks than the page still needs, unless some of them come out DENIED.
          const size = limit === undefined ? chunk : Math.min(chunk, limit - emitted);
          const end = Math.min(ids.length, start + size);
          chunk = Math.min(chunk * 4, MAX_CHUNK);
          const pending = chunkResults(ctx, member, evaluator, walk, ids, { start, end }, at, proving);
          let found = Array.isArray(pending) ? pending : await pending;
          start = end;
          if (found.length === 0) continue;
          if (signal?.aborted) throw deadlineExceeded(lastCursor);
          if (limit !== undefined && found.length > limit - emitted) found = found.slice(0, limit - emitted);
          emitted += found.length;
          if (prefix !== undefined) lastCursor = found[found.length - 1]!.cursor;
          yield found;
          if (limit !== undefined && emitted >= limit) return;
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

/**
 * LookupResources one result at a time (the public API), over the chunks of
 * `lookupResourceBatches`: the abort is checked before each result, and its error names the cursor
 * of the last result given, not the last of its chunk.
 */
export async function* lookupResources(
  deps: LookupDeps,
  request: LookupResourcesRequest,
  options?: RequestOptions,
): AsyncGenerator<LookupResourceResult, void, undefined> {
  const signal = options?.signal;
  let lastCursor = request.cursor;
  try {
    for await (const batch of lookupResourceBatches(deps, request, options)) {
      for (const result of batch) {
        if (signal?.aborted) throw deadlineExceeded(lastCursor);
        lastCursor = result.cursor;
        yield result;
      }
    }
  } catch (e) {
    if (isDeadline(e)) throw deadlineExceeded(lastCursor);
    throw e;
  }
}
