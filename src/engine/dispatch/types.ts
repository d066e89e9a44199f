/**
 * The dispatcher's contract. A subproblem is "which of these ids (objects of `member.def`) have
 * `member` for the request's subject, at this plan and revision", asked from a place on the walk's
 * path (see walk-stack.ts). A `Dispatcher` answers it; the cache and single-flight are decorators
 * that answer what they can and hand the rest to the dispatcher they wrap (see combined.ts).
 */
import type { Member, Memberships } from "../membership.js";
import type { PlanMember } from "../plan.js";
import type { Traces } from "../traces.js";
import type { Acc, Origin, Stack } from "../walk-stack.js";
import type { Proofs } from "../witness.js";

/** A subproblem's answer as kept: the membership, until when it holds, and the depth it needed. */
export interface CachedResult {
  readonly m: Member | undefined;
  readonly until: number;
  /**
   * Dispatch hops the answer needed, counting its own frame (see walk-stack.ts): it stands for a
   * fresh walk only where the depth left covers it, so cached answers never reach past the limit.
   */
  readonly height: number;
}

/** Where subproblem results are kept: the shared cache, or a map private to one request. */
export interface ResultStore {
  get(key: string, now: number): CachedResult | undefined;
  set(key: string, member: Member | undefined, validUntil: number, height: number): void;
}

/** One request, as seen by others waiting on its subproblems (single-flight). */
export interface RequestState {
  /** The request whose subproblem this one awaits now, if any: a wait-for chain, never a cycle. */
  waitingOn: RequestState | undefined;
}

/** What the decorators read of a request (the evaluator's context has all of it and more). */
export interface DispatchContext {
  /** Where this request's results are kept (the shared cache, or its own map). */
  readonly results: ResultStore;
  /** Present when the request shares its subproblems with others (single-flight). */
  readonly state?: RequestState | undefined;
  /** Wall-clock milliseconds at the start of the request (expiration is judged against it). */
  readonly now: number;
  readonly maxDepth: number;
}

/**
 * One dispatch: the ids still to answer, where it is asked from, and where the answers go. The
 * decorators pass it on unchanged, or narrowed to the ids they could not answer (`narrow`).
 */
export interface Subproblem<C extends DispatchContext = DispatchContext> {
  readonly ctx: C;
  readonly member: PlanMember;
  /** Distinct ids, each past the walk's own checks (the subject itself, a cycle, the depth limit). */
  readonly ids: readonly string[];
  /**
   * Each id's key (same order): the subproblem's identity for the cache and single-flight, built
   * once per id. Empty when nothing may be shared (an explanation).
   */
  readonly keys: readonly string[];
  /** The path it is asked from (at the top, the walk's base frame), see walk-stack.ts. */
  readonly stack: Stack;
  /** The place its frame takes on the path, and its hops from the resource. */
  readonly depth: number;
  readonly hops: number;
  readonly neg: number;
  readonly origin: Origin | undefined;
  /** A frame only explaining makes (see evaluator.ts `dispatch`). */
  readonly traceOnly: boolean;
  /** Where every layer puts its answers: one map for the whole dispatch. */
  readonly m: Memberships;
  readonly t: Traces | undefined;
  /** Each answer's proof, when the request asks for witnesses (then nothing is shared). */
  readonly w: Proofs | undefined;
  /** What the answers leaned on, for the caller's frame. */
  readonly acc: Acc;
}

/** A dispatch's answers (`m`, `t`: all of them) and what the ones computed by it may be used for. */
export interface Dispatched {
  readonly m: Memberships;
  readonly t: Traces | undefined;
  readonly w: Proofs | undefined;
  /** The ids this call computed (the others came from the cache or a flight), and their keys. */
  readonly ids: readonly string[];
  readonly keys: readonly string[];
  /** Whether those answers hold on any path: no cycle cut to an ancestor, no depth-limit unknown. */
  readonly cacheable: boolean;
  /** Until when they hold (ms since epoch; Infinity: no expiration). */
  readonly until: number;
  /** Dispatch hops they needed, counting the frame itself. */
  readonly height: number;
}

export interface Dispatcher<C extends DispatchContext = DispatchContext> {
  dispatch(p: Subproblem<C>): Promise<Dispatched>;
}

const NONE: readonly string[] = Object.freeze([]);

/** `p` for `ids` only (a subset, with their keys): what a decorator hands on after answering some. */
export function narrow<C extends DispatchContext>(
  p: Subproblem<C>,
  ids: readonly string[],
  keys: readonly string[],
): Subproblem<C> {
  // Written out, not spread: every subproblem keeps one object shape.
  return {
    ctx: p.ctx,
    member: p.member,
    ids,
    keys,
    stack: p.stack,
    depth: p.depth,
    hops: p.hops,
    neg: p.neg,
    origin: p.origin,
    traceOnly: p.traceOnly,
    m: p.m,
    t: p.t,
    w: p.w,
    acc: p.acc,
  };
}

/** What a decorator returns when it answered every id itself: nothing computed, nothing to keep. */
export function answered(p: Subproblem<DispatchContext>): Dispatched {
  return {
    m: p.m,
    t: p.t,
    w: p.w,
    ids: NONE,
    keys: NONE,
    cacheable: false,
    until: Number.POSITIVE_INFINITY,
    height: 1,
  };
}
