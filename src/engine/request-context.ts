/** What one request carries through the evaluator. */
import type { Relationship, Revision, SubjectRef } from "../core/index.js";
import type { StoreReader } from "../store/index.js";
import type { CaveatLeaf, Member } from "./membership.js";
import type { Plan, PlanMember } from "./plan.js";
import type { Cancellation } from "./types.js";

/** The subject's memberships in membership relations (see membership-index.ts). */
export interface MembershipIndex {
  /** The objects whose membership relation the subject is in, by that relation's plan member. */
  readonly members: ReadonlyMap<PlanMember, ReadonlySet<string>>;
  /** Earliest expiration among the relationships walked (ms; Infinity: none). */
  readonly validUntil: number;
  /**
   * Levels of groups found above the subject (1: only groups it is directly in). A membership
   * found at level k stands for a walk k hops down from the group: the walks use the index only
   * where all its levels fit under the depth limit, so it answers exactly what they would.
   */
  readonly levels: number;
}

/** One request, as seen by others waiting on its subproblems (single-flight). */
export interface RequestState {
  /** The request whose subproblem this one awaits now, if any: a wait-for chain, never a cycle. */
  waitingOn: RequestState | undefined;
}

/** A flight's answer for one id; `null` tells waiters to compute it themselves (path-dependent result). */
export type FlightResult = CachedResult | null;

/**
 * Subproblems being computed by one dispatch (one entry per id, all pointing here). The promise
 * for an id is made only when someone waits for it: most flights are never waited on.
 */
export interface Flight {
  readonly owner: RequestState;
  wait(id: string): Promise<FlightResult>;
}

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

/** An explanation node before its caveats are evaluated. */
export interface TraceNode {
  readonly label: string;
  readonly member: Member | undefined;
  readonly children?: readonly TraceNode[];
  /** The caveat of the relationship this node stands for. */
  readonly caveat?: CaveatLeaf;
  readonly cached?: boolean;
}

export interface RequestContext {
  readonly plan: Plan;
  readonly revision: Revision;
  /** The store's reads at `revision`. */
  readonly reader: StoreReader;
  readonly subject: SubjectRef;
  /** `type:id` or `type:id#relation`. */
  readonly subjectKey: string;
  /** Contextual relationships by `type:id#relation`. */
  readonly contextual: ReadonlyMap<string, readonly Relationship[]> | undefined;
  readonly results: ResultStore;
  /** Relationships already read in this request, by the relation's plan member, then resource id. */
  readonly tuples: Map<PlanMember, Map<string, readonly Relationship[]>>;
  readonly explain: boolean;
  readonly maxDepth: number;
  readonly signal: Cancellation | undefined;
  /** Wall-clock milliseconds at the start of the request (expiration is judged against it). */
  readonly now: number;
  dispatches: number;
  /** Subproblems in flight in any request, for single-flight; absent when results are private. */
  readonly flights?: Map<string, Flight> | undefined;
  readonly state?: RequestState | undefined;
  /** The subject's memberships found upwards (see membership-index.ts); undefined: not used. */
  readonly membershipIndex?: (() => Promise<MembershipIndex | null>) | undefined;
}
