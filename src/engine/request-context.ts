/** What one request carries through the evaluator. */
import type { Relationship, Revision, SubjectRef } from "../core/index.js";
import type { StoreReader } from "../store/index.js";
import type { DispatchContext, Dispatcher, RequestState, ResultStore } from "./dispatch/index.js";
import type { Pacer } from "./pacer.js";
import type { Plan, PlanMember } from "./plan.js";
import type { Cancellation } from "./types.js";

export type { CachedResult, RequestState, ResultStore } from "./dispatch/index.js";
export type { TraceNode } from "./traces.js";

/** The subject's memberships in membership relations (see membership-index.ts). */
export interface MembershipIndex {
  /**
   * The objects whose membership relation the subject is in, by that relation's plan member, each
   * with the relationship through which the walk upwards first reached it: followed back, these
   * are a witness's path (see `indexProof`) with no walk down.
   */
  readonly members: ReadonlyMap<PlanMember, ReadonlyMap<string, Relationship>>;
  /** Earliest expiration among the relationships walked (ms; Infinity: none). */
  readonly validUntil: number;
  /**
   * Levels of groups found above the subject (1: only groups it is directly in). A membership
   * found at level k stands for a walk k hops down from the group: the walks use the index only
   * where all its levels fit under the depth limit, so it answers exactly what they would.
   */
  readonly levels: number;
}

export interface RequestContext extends DispatchContext {
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
  /** Keep each answer's proof (see witness.ts); such a request shares nothing, as explaining. */
  readonly witness: boolean;
  readonly maxDepth: number;
  readonly signal: Cancellation | undefined;
  /** Wall-clock milliseconds at the start of the request (expiration is judged against it). */
  readonly now: number;
  dispatches: number;
  /**
   * Lets the evaluator's walk yield to the event loop every few milliseconds (pacer.ts): its reads
   * may all answer at once from memory, and a walk over hostile data (cycles, a batch of a
   * thousand items) can run long. Made at the walk's first dispatch.
   */
  pacer: Pacer | undefined;
  /** The engine's dispatcher (dispatch/combined.ts): every subproblem of the request goes through it. */
  readonly dispatcher: Dispatcher<RequestContext>;
  /** Present when the request shares its subproblems with others (single-flight). */
  readonly state?: RequestState | undefined;
  /** The subject's memberships found upwards (see membership-index.ts); undefined: not used. */
  readonly membershipIndex?: (() => Promise<MembershipIndex | null>) | undefined;
}
