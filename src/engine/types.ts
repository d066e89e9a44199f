/** The engine's public contract: what Check, CheckBulk, Expand and the lookups take and give. */
import type {
  CheckState,
  DecisionState,
  ErrorDetails,
  ErrorKind,
  ObjectRef,
  Relationship,
  Revision,
  SubjectRef,
} from "../core/index.js";

export type Consistency =
  | { readonly kind: "minimize-latency" }
  | { readonly kind: "at-least-as-fresh"; readonly token: string }
  | { readonly kind: "at-exact-snapshot"; readonly token: string }
  | { readonly kind: "fully-consistent" };

/**
 * Whether the subject of a delegated request must hold the permission itself (`required`, the
 * default), or only the principals it acts for and the delegations between them decide.
 */
export type SubjectGrants = "required" | "not-required";

/**
 * An on-behalf-of chain: the subject acts for `onBehalfOf[0]`, which acts for `onBehalfOf[1]`, and
 * so on. The delegation decorator (`service/delegation`) answers such requests; the engine alone
 * refuses them (`delegation/not-enabled`) rather than ignore the chain.
 */
export interface Delegated {
  readonly onBehalfOf?: readonly SubjectRef[];
  readonly subjectGrants?: SubjectGrants;
  /**
   * Caveat context by subject (`type:id`) of a delegated request: each part's check gets its own
   * subject's entry over the request's context, so that a person's grant is judged with the
   * person's values and never with the agent's. The signal gate sets it (signals' attributes); one
   * context for every part would let an agent's values stand in for its principal's.
   */
  readonly subjectContext?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/**
 * A signed RFC 8693 actor token (a JWT) that states the subject and the chain instead of the
 * caller. The actor-token decorator (`service/delegation/actor-token.ts`) verifies it and fills
 * `onBehalfOf`; it never reaches the engine.
 */
export interface ActorTokenCarrier {
  readonly actorToken?: string;
}

export interface CheckRequest extends Delegated, ActorTokenCarrier {
  readonly resource: ObjectRef;
  /** A permission or relation of the resource's type. */
  readonly permission: string;
  readonly subject: SubjectRef;
  /** Request context for caveats; stored relationship context wins over it. */
  readonly context?: Readonly<Record<string, unknown>>;
  /** Relationships that hold for this request only; validated like writes. */
  readonly contextualRelationships?: readonly Relationship[];
  readonly consistency?: Consistency;
  readonly explain?: boolean;
  /**
   * Return the witness of an ALLOWED or CONDITIONAL answer (see `CheckResult.witness`). Costs a
   * walk that shares nothing (no cache), so only the audit trail asks, for records it keeps.
   */
  readonly witness?: boolean;
  /**
   * Consumes the single-use approval that makes this check ALLOWED (the check made right before
   * acting); without it the approval stays for the next check. Ignored where no rule gates.
   */
  readonly consumeApproval?: boolean;
}

/** What the approval gate adds to an answer (src/approvals). */
export interface ApprovalOutcome {
  /** The rule that gates the action (with APPROVAL_REQUIRED, or ALLOWED by an approval). */
  readonly approvalRule?: string;
  /** The approval that made the answer ALLOWED. */
  readonly approvalId?: string;
}

/**
 * The stored relationships that proved an answer: for ALLOWED, relationships that alone (as the
 * only data) still give ALLOWED, e.g. `document:q3#viewer@group:finance#member` and
 * `group:finance#member@user:alice`; for CONDITIONAL, those of every branch that grants once its
 * caveats are known (a caveated relationship carries its caveat). A union gives one granting
 * branch, an intersection all of its branches, an exclusion its included branch (with what keeps
 * an excluded branch that itself holds exclusions from granting), an arrow the row it followed
 * and what the followed object proved, a wildcard its `user:*` row. Empty when the subject is the
 * checked subject set itself.
 */
export type Witness = readonly Relationship[];

/** One caveat evaluation as shown in an explanation. */
export interface CaveatTrace {
  readonly name: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly result: "true" | "false" | "missing" | "error";
  readonly missing?: readonly string[];
  readonly error?: string;
}

/** Why a check came out as it did: one node per evaluated expression step. */
export interface ExplainNode {
  /** e.g. `document:q3#view`, `union`, `viewer->view`, `caveat in_window`. */
  readonly label: string;
  readonly state: CheckState;
  readonly caveats?: readonly CaveatTrace[];
  readonly children?: readonly ExplainNode[];
  readonly cached?: boolean;
}

export interface CheckResult extends ApprovalOutcome {
  /** The engine answers a CheckState; the approval gate on the seam may answer APPROVAL_REQUIRED. */
  readonly state: DecisionState;
  /** Names of caveat parameters that would decide a CONDITIONAL result; empty otherwise. */
  readonly missing: readonly string[];
  readonly revision: Revision;
  /** The revision as an opaque token for the client. */
  readonly token: string;
  readonly explain?: ExplainNode;
  /** When the request asked for it and the answer is ALLOWED or CONDITIONAL. */
  readonly witness?: Witness;
}

export interface CheckBulkItem extends Delegated {
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly subject: SubjectRef;
  readonly context?: Readonly<Record<string, unknown>>;
  /** As `CheckRequest.consumeApproval`. */
  readonly consumeApproval?: boolean;
}

export type CheckBulkItemResult =
  | ({
      readonly ok: true;
      readonly state: DecisionState;
      readonly missing: readonly string[];
      /** When the request asked for it and the answer is ALLOWED or CONDITIONAL. */
      readonly witness?: Witness;
    } & ApprovalOutcome)
  | { readonly ok: false; readonly error: CheckBulkItemError };

/** Why one item of a bulk check failed: its LatchError's code and message (kind and details when known). */
export interface CheckBulkItemError {
  readonly code: string;
  readonly message: string;
  readonly kind?: ErrorKind;
  readonly details?: ErrorDetails;
}

export interface CheckBulkRequest extends ActorTokenCarrier {
  readonly items: readonly CheckBulkItem[];
  readonly consistency?: Consistency;
  readonly contextualRelationships?: readonly Relationship[];
  /** Return each ALLOWED or CONDITIONAL item's witness (see `CheckRequest.witness`). */
  readonly witness?: boolean;
}

export interface CheckBulkResult {
  readonly results: readonly CheckBulkItemResult[];
  readonly revision: Revision;
  readonly token: string;
}

export interface ExpandRequest {
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly consistency?: Consistency;
}

export type ExpandNode =
  | {
      readonly kind: "union" | "intersection" | "exclusion";
      readonly object: ObjectRef;
      readonly relation: string;
      readonly children: readonly ExpandNode[];
    }
  | {
      readonly kind: "leaf";
      readonly object: ObjectRef;
      readonly relation: string;
      readonly subjects: readonly {
        readonly subject: SubjectRef;
        readonly caveat?: string;
        readonly expiration?: Date;
      }[];
    };

export interface ExpandResult {
  readonly tree: ExpandNode;
  readonly revision: Revision;
  readonly token: string;
}

export interface EngineStats {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly dispatches: number;
}

/**
 * What the engine asks of a cancellation signal: it polls `aborted` between steps and never
 * listens for events, so an AbortSignal will do, and so will any cheaper object with that property
 * (the server passes its call state: an AbortSignal per call cost more than a cached check).
 */
export interface Cancellation {
  readonly aborted: boolean;
}

export interface RequestOptions {
  /** Aborts long work (deep checks, lookups) with a `deadline-exceeded` LatchError. */
  readonly signal?: Cancellation;
  /** The call's id, for the audit trail (the engine does not read it). */
  readonly requestId?: string;
  /** Who called: a token's name, never a secret; for the audit trail (the engine does not read it). */
  readonly caller?: string | undefined;
}

export interface Engine {
  check(request: CheckRequest, options?: RequestOptions): Promise<CheckResult>;
  checkBulk(request: CheckBulkRequest, options?: RequestOptions): Promise<CheckBulkResult>;
  expand(request: ExpandRequest, options?: RequestOptions): Promise<ExpandResult>;
  /**
   * Every resource of a type the subject has the permission on, streamed at one revision as the
   * walk finds them (round by round of its reads, id order within a round; see
   * lookup-resources.ts); complete unless `limit` is set. An aborted signal ends it with `deadline-exceeded`
   * and `details.cursor`, the cursor to resume from.
   */
  lookupResources(
    request: LookupResourcesRequest,
    options?: RequestOptions,
  ): AsyncIterable<LookupResourceResult>;
  /** Every subject of a type with the permission on a resource (a wildcard with its exclusions). */
  lookupSubjects(
    request: LookupSubjectsRequest,
    options?: RequestOptions,
  ): AsyncIterable<LookupSubjectResult>;
  stats(): EngineStats;
}

export interface LookupResourcesRequest extends Delegated, ActorTokenCarrier {
  readonly resourceType: string;
  /** A permission or relation of `resourceType`. */
  readonly permission: string;
  /** An object (`user:alice`) or a subject set (`group:eng#member`); never a wildcard. */
  readonly subject: SubjectRef;
  readonly context?: Readonly<Record<string, unknown>>;
  /** Ignored when `cursor` is given: a cursor pins the revision of the page it came from. */
  readonly consistency?: Consistency;
  /** Most results to return; all of them when absent. */
  readonly limit?: number;
  /** From a previous result: continue after it, at its revision. */
  readonly cursor?: string;
  /**
   * Give each result its witness (see `CheckResult.witness`): the relationships that prove it.
   * Costs proofs kept along the walk and checks that share no cached answer, so only the audit
   * trail asks, for lookups whose results it records.
   */
  readonly witness?: boolean;
}

export interface LookupResourceResult {
  readonly resourceId: string;
  readonly state: "ALLOWED" | "CONDITIONAL";
  /** Caveat parameters that would decide a CONDITIONAL result; empty otherwise. */
  readonly missing: readonly string[];
  /** Pass back as `cursor` to continue after this result. */
  readonly cursor: string;
  readonly revision: Revision;
  readonly token: string;
  /** When the request asked for it: the relationships that prove this result (as Check's). */
  readonly witness?: Witness;
}

export interface LookupSubjectsRequest {
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly subjectType: string;
  /** Look up subject sets `subjectType:id#subjectRelation` instead of plain objects. */
  readonly subjectRelation?: string;
  readonly context?: Readonly<Record<string, unknown>>;
  /** Ignored when `cursor` is given: a cursor pins the revision of the page it came from. */
  readonly consistency?: Consistency;
  /**
   * Most concrete subjects to return; all of them when absent. The wildcard result, which comes
   * first and only on the first page, does not count (SpiceDB's "concrete limit").
   */
  readonly limit?: number;
  /** From a previous result: continue after it, at its revision. */
  readonly cursor?: string;
}

/**
 * A subject a wildcard result does not cover, or may not cover: `EXCLUDED` for sure, or
 * `CONDITIONAL` when caveats decide it, with the parameters that would (SpiceDB's
 * `excluded_subjects` with their permissionship). Still a SubjectRef, so that code reading only
 * `type` and `id` treats every exclusion as certain, which never grants too much.
 */
export interface SubjectExclusion extends SubjectRef {
  readonly state: "EXCLUDED" | "CONDITIONAL";
  /**
   * Caveat parameters that would decide a CONDITIONAL exclusion, beside those the wildcard result
   * names already; empty otherwise.
   */
  readonly missing: readonly string[];
}

/**
 * One LookupSubjects result. To learn what a subject S of the type may do, in three-valued logic
 * (ALLOWED > CONDITIONAL > DENIED; the missing parameters of the CONDITIONAL parts add up):
 *
 *   access(S) = own(S) OR (wildcard.state AND NOT exclusion(S))
 *
 * where own(S) is S's own result (DENIED when S is not listed) and exclusion(S) is EXCLUDED
 * (true), CONDITIONAL, or absent (false). So an S excluded for sure gets nothing from the
 * wildcard, and an S excluded CONDITIONAL gets at most CONDITIONAL from it, with the
 * exclusion's missing parameters. This equals Check for every S, listed or not; and a listed S's
 * own result alone already equals Check, as the wildcard's part never exceeds it.
 */
export interface LookupSubjectResult {
  /** A concrete subject, or the wildcard (`id` `*`) standing for every other subject of the type. */
  readonly subject: SubjectRef;
  readonly state: "ALLOWED" | "CONDITIONAL";
  readonly missing: readonly string[];
  /** On a wildcard result only: subjects of the type it does not, or may not, cover (`viewer - banned`). */
  readonly excluded?: readonly SubjectExclusion[];
  /** Pass back as `cursor` to continue after this result. */
  readonly cursor: string;
  readonly revision: Revision;
  readonly token: string;
}
