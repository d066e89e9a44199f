/**
 * The signal gate: a decorator on the decision seam (inside the audit recorder and the approval
 * gate, outside delegation, so it sees the whole on-behalf-of chain).
 *
 * - A check whose subject, or any principal of its chain, is suspended at the answer's revision is
 *   DENIED with a `reason` the audit trail records, whatever the relationships say.
 * - The attributes signals stored for the subject are merged into the caveat context, over the
 *   request's own (a request cannot override them); with a chain, each part of the delegated
 *   question gets those of its own subject (`subjectContext`).
 *
 * The state is judged at the revision the answer was computed at, so `at_least_as_fresh` of a
 * signal's token sees its effect on every replica. Attributes must go in before the answer is
 * computed, when its revision is not known yet: the newest known state is used, and when the
 * state at the answer's revision turns out different (a signal landed in between) the check is
 * asked again at exactly that revision with the right context.
 *
 * Cost: with no subject state anywhere, two field reads per check; otherwise a Map read per
 * subject and principal. A store read only when the answer's revision is newer than the view
 * (subject-states.ts), once per revision.
 */
import type { Revision, SubjectRef } from "../core/index.js";
import {
  type CheckBulkItemResult,
  type CheckRequest,
  type CheckResult,
  checkNowThrough,
  cursorToken,
  type LookupResourcesRequest,
  type RequestOptions,
  withLookupBatches,
  withWitness,
} from "../engine/index.js";
import {
  type Decider,
  type Decorator,
  deniedWithReason,
  lookupBatches,
  type WithReason,
} from "../service/index.js";
import type { Store, SubjectState } from "../store/index.js";
import type { SubjectStates } from "./subject-states.js";

interface Involved {
  readonly subject: SubjectRef;
  readonly onBehalfOf?: readonly SubjectRef[];
  readonly context?: Readonly<Record<string, unknown>>;
  readonly subjectContext?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/** The states that apply to a request, subject last (its attributes win over its principals'). */
function statesOf(
  request: Involved,
  stateOf: (type: string, id: string) => SubjectState | undefined,
): SubjectState[] {
  const out: SubjectState[] = [];
  const chain = request.onBehalfOf;
  if (chain !== undefined) {
    // Farthest principal first, so the nearer one's attributes win.
    for (let i = chain.length - 1; i >= 0; i--) {
      const state = stateOf(chain[i]!.type, chain[i]!.id);
      if (state !== undefined) out.push(state);
    }
  }
  const own = stateOf(request.subject.type, request.subject.id);
  if (own !== undefined) out.push(own);
  return out;
}

function suspension(states: readonly SubjectState[]): string | undefined {
  for (const state of states) {
    if (state.suspended) return `${state.subject} is suspended by a security signal (${state.reason})`;
  }
  return undefined;
}

/**
 * The request with the states' attributes over its context; the same object when none apply. With
 * a chain they go by subject (`subjectContext`), for the delegation step to give each part its own
 * subject's: merged, an agent's values would stand in for its principal's in the principal's grant.
 */
function withAttributes<T extends Involved>(request: T, states: readonly SubjectState[]): T {
  if (request.onBehalfOf !== undefined && request.onBehalfOf.length > 0) {
    let bySubject: Map<string, Readonly<Record<string, unknown>>> | undefined;
    for (const state of states) {
      if (Object.keys(state.attributes).length === 0) continue;
      bySubject ??= new Map();
      bySubject.set(state.subject, state.attributes);
    }
    return bySubject === undefined ? request : { ...request, subjectContext: bySubject };
  }
  let merged: Record<string, unknown> | undefined;
  for (const state of states) {
    const keys = Object.keys(state.attributes);
    if (keys.length === 0) continue;
    merged ??= { ...request.context };
    Object.assign(merged, state.attributes);
  }
  return merged === undefined ? request : { ...request, context: merged };
}

/** True when both lists hold the same states (the views' entries are shared objects). */
function same(a: readonly SubjectState[], b: readonly SubjectState[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

export function createSignalGate(states: SubjectStates, store: Store): Decorator {
  const latest = (type: string, id: string) => states.latest(type, id);

  /**
   * A lookup's request with the attributes signals stored for its subject and chain: those in force
   * at its revision when it is pinned to one (a resumed WatchPermissions stream asks for the set at
   * an old token, and today's attributes there would give a set the client never had), else the
   * latest.
   */
  const lookupAsked = async (request: LookupResourcesRequest): Promise<LookupResourcesRequest> => {
    const pinned = pinnedRevision(request);
    if (pinned !== undefined) {
      await states.ensure(pinned);
      return withAttributes(
        request,
        statesOf(request, (type, id) => states.at(type, id, pinned)),
      );
    }
    return states.empty && states.knownUpTo >= 0n
      ? request
      : withAttributes(request, statesOf(request, latest));
  };

  /**
   * The revision a lookup is pinned to: its cursor's (a later page must be asked as the first was,
   * or its cursor, bound to the request's context, is refused), or an exact snapshot's; undefined
   * when it is not pinned, or its token is not valid (the walk refuses it).
   */
  const pinnedRevision = (request: LookupResourcesRequest): bigint | undefined => {
    const consistency = request.consistency;
    try {
      const token =
        request.cursor !== undefined
          ? cursorToken(request.cursor)
          : consistency?.kind === "at-exact-snapshot"
            ? consistency.token
            : undefined;
      return token === undefined ? undefined : store.decodeRevision(token);
    } catch {
      return undefined;
    }
  };

  async function* askedThen<T>(
    request: LookupResourcesRequest,
    ask: (asked: LookupResourcesRequest) => AsyncIterable<T>,
  ): AsyncGenerator<T, void, undefined> {
    yield* ask(await lookupAsked(request));
  }

  /**
   * The results (or chunks of them) of a lookup, none when its subject or a principal of its chain
   * is suspended at their revision: every result of a lookup shares one revision, so it is judged
   * once, on the first.
   */
  async function* gated<T extends { readonly revision: bigint } | readonly { readonly revision: bigint }[]>(
    request: LookupResourcesRequest,
    results: AsyncIterable<T>,
  ): AsyncGenerator<T, void, undefined> {
    let checked = false;
    for await (const result of results) {
      if (!checked) {
        const first = Array.isArray(result) ? result[0] : result;
        if (first === undefined) continue;
        checked = true;
        await states.ensure(first.revision);
        const at = statesOf(request, (type, id) => states.at(type, id, first.revision));
        if (suspension(at) !== undefined) return;
      }
      yield result;
    }
  }

  return (next: Decider): Decider => {
    /**
     * A check handed on as it was (nothing known of any subject), once answered: the view brought
     * up to the answer's revision, and the answer judged only if it learnt of a state meanwhile
     * (the change feed reads in the background). The answer as it is when nothing has to be read.
     */
    const afterPlain = (
      result: CheckResult,
      request: CheckRequest,
      opts: RequestOptions | undefined,
      witness: boolean,
    ): CheckResult | Promise<CheckResult> => {
      const waiting = states.ensure(result.revision);
      // No closure in the usual case: the view is current.
      if (waiting === undefined) return states.empty ? result : settle(request, [], result, opts, witness);
      return waiting.then(() => (states.empty ? result : settle(request, [], result, opts, witness)));
    };

    /** `request` with the attributes `at`, asked at `revision` exactly. */
    const askedAt = <T extends Involved>(request: T, at: readonly SubjectState[], revision: Revision) => ({
      ...withAttributes(request, at),
      consistency: { kind: "at-exact-snapshot" as const, token: store.encodeRevision(revision) },
    });

    /**
     * The answer judged at its revision: DENIED when a subject is suspended there, asked again
     * there when the attributes used were not those in force (with the witness when `witness`).
     */
    async function settle(
      original: CheckRequest,
      used: readonly SubjectState[],
      result: CheckResult,
      opts: RequestOptions | undefined,
      witness: boolean,
    ): Promise<CheckResult> {
      await states.ensure(result.revision);
      const at = statesOf(original, (type, id) => states.at(type, id, result.revision));
      const reason = suspension(at);
      if (reason !== undefined) return deniedWithReason(result, reason);
      if (same(at, used)) return result;
      // A signal changed the attributes between what was used and the answer's revision.
      const again = askedAt(original, at, result.revision);
      return next.check(witness ? withWitness(again) : again, opts);
    }

    const decider: Decider = {
      // With nothing known of any subject, a check is handed on as it is, and answered at once
      // when `next` can and the view is current.
      check: checkNowThrough(
        (request: CheckRequest, opts?: RequestOptions) => {
          if (states.empty)
            return next.check(request, opts).then((result) => afterPlain(result, request, opts, false));
          const before = statesOf(request, latest);
          return next
            .check(withAttributes(request, before), opts)
            .then((result) => settle(request, before, result, opts, false));
        },
        next.check,
        () => states.empty,
        afterPlain,
      ),

      async checkBulk(request, opts) {
        const used = states.empty ? undefined : request.items.map((item) => statesOf(item, latest));
        const items =
          used === undefined ? request.items : request.items.map((item, i) => withAttributes(item, used[i]!));
        const result = await next.checkBulk(items === request.items ? request : { ...request, items }, opts);
        await states.ensure(result.revision);
        if (states.empty) return result;
        let results: (CheckBulkItemResult & WithReason)[] | undefined;
        for (let i = 0; i < request.items.length; i++) {
          const item = request.items[i]!;
          const answer = result.results[i]!;
          if (!answer.ok) continue;
          const at = statesOf(item, (type, id) => states.at(type, id, result.revision));
          const reason = suspension(at);
          if (reason !== undefined) {
            results ??= [...result.results];
            results[i] = { ok: true, state: "DENIED", missing: [], reason };
            continue;
          }
          if (same(at, used?.[i] ?? [])) continue;
          // Rare: a signal landed in between; this item is asked again at the answer's revision.
          const again = await decider.check(askedAt(item, at, result.revision), opts);
          results ??= [...result.results];
          results[i] = { ok: true, state: again.state, missing: again.missing, ...(again as WithReason) };
        }
        return results === undefined ? result : { ...result, results };
      },

      // The same gate a chunk at a time (for the permission watch): judged once, on the first chunk.
      lookupResources: withLookupBatches(
        (request: LookupResourcesRequest, opts?: RequestOptions) =>
          gated(
            request,
            askedThen(request, (asked) => next.lookupResources(asked, opts)),
          ),
        (request, opts) =>
          gated(
            request,
            askedThen(request, (asked) => lookupBatches(next, asked, opts)),
          ),
      ),
    };
    return decider;
  };
}
