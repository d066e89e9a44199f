/**
 * The client contract, shared by the gRPC client (`createClient`) and embedded mode
 * (`createEmbedded`): plain TypeScript objects in and out, revision tokens as opaque strings.
 */

import type { CheckState, DecisionState, ObjectRef, Relationship, SubjectRef } from "../core/index.js";
import type {
  CheckBulkItemResult,
  Consistency,
  ExpandNode,
  ExplainNode,
  SubjectExclusion,
  SubjectGrants,
} from "../engine/index.js";
import type { PostureReport } from "../posture/index.js";

export type { SubjectExclusion, SubjectGrants };

import type { DecisionFilter, DecisionPage, DecisionQueryParams } from "../service/decisions.js";
import type { PermissionEventKind } from "../service/permission-watch/index.js";
import type {
  ApprovalQuery,
  ApprovalState,
  DecisionAnswer,
  DecisionRecord,
  Precondition,
  RelationshipFilter,
  SignalEffect,
  StoredApproval,
  StoredDecision,
  UpdateOperation,
  VerifyReport,
} from "../store/index.js";

export type {
  ApprovalQuery,
  ApprovalState,
  DecisionAnswer,
  DecisionFilter,
  DecisionPage,
  DecisionQueryParams,
  DecisionRecord,
  PermissionEventKind,
  SignalEffect,
  StoredDecision,
  VerifyReport,
};

/** `document:q3` or `{ type, id }`. */
export type ObjectInput = ObjectRef | string;
/** `user:alice`, `group:eng#member`, `user:*` or `{ type, id, relation? }`. */
export type SubjectInput = SubjectRef | string;
/** `document:q3#viewer@user:alice[caveat:{...}][expiration:...]` or a Relationship. */
export type RelationshipInput = Relationship | string;

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Deadline for this call, from now. */
  readonly timeoutMs?: number;
  /**
   * Names the call in the audit trail (`x-request-id` over gRPC; letters, digits and `._:-`, at
   * most 128): the integrations name each retrieval and tool call this way.
   */
  readonly requestId?: string;
}

/**
 * On whose behalf the subject acts (see docs/delegation.md): the subject acts for
 * `onBehalfOf[0]`, which acts for `onBehalfOf[1]`, and so on (at most 8 objects). The answer is
 * ALLOWED only if the subject (unless `subjectGrants: "not-required"`), every principal and every
 * delegation between them allow it.
 */
export interface DelegationParams {
  readonly onBehalfOf?: readonly SubjectInput[];
  readonly subjectGrants?: SubjectGrants;
}

export interface CheckParams extends DelegationParams {
  readonly resource: ObjectInput;
  readonly permission: string;
  readonly subject: SubjectInput;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly contextualRelationships?: readonly RelationshipInput[];
  readonly consistency?: Consistency;
  readonly explain?: boolean;
  /**
   * A signed RFC 8693 actor token (JWT) stating the subject and the chain; the server verifies it
   * and refuses fields that contradict it (docs/delegation.md).
   */
  readonly actorToken?: string;
  /** Consume the single-use approval that makes this check ALLOWED (the check right before acting). */
  readonly consumeApproval?: boolean;
}

export interface CheckAnswer {
  /** APPROVAL_REQUIRED: permitted, but an approval rule (`approvalRule`) needs a person's yes first. */
  readonly state: DecisionState;
  /** The approval rule gating the action, when one does. */
  readonly approvalRule?: string;
  /** The approval that made the answer ALLOWED. */
  readonly approvalId?: string;
  /** `state === "ALLOWED"`. */
  readonly allowed: boolean;
  /** Caveat parameters that would decide a CONDITIONAL answer. */
  readonly missing: readonly string[];
  /** The revision the answer was computed at. */
  readonly token: string;
  readonly explain?: ExplainNode;
}

export interface CheckBulkParams {
  readonly items: readonly (DelegationParams & {
    readonly resource: ObjectInput;
    readonly permission: string;
    readonly subject: SubjectInput;
    readonly context?: Readonly<Record<string, unknown>>;
    readonly consumeApproval?: boolean;
  })[];
  readonly contextualRelationships?: readonly RelationshipInput[];
  readonly consistency?: Consistency;
  /**
   * A signed RFC 8693 actor token (JWT) for every item, stating the subject and the chain; the server verifies it
   * and refuses fields that contradict it (docs/delegation.md).
   */
  readonly actorToken?: string;
}

export interface CheckBulkAnswer {
  /** One per item, in item order. */
  readonly results: readonly CheckBulkItemResult[];
  readonly token: string;
}

export interface ExpandParams {
  readonly resource: ObjectInput;
  readonly permission: string;
  readonly consistency?: Consistency;
}

export interface ExpandAnswer {
  readonly tree: ExpandNode;
  readonly token: string;
}

export interface LookupResourcesParams extends DelegationParams {
  readonly resourceType: string;
  /**
   * A signed RFC 8693 actor token (JWT) stating the subject and the chain; the server verifies it
   * and refuses fields that contradict it (docs/delegation.md).
   */
  readonly actorToken?: string;
  readonly permission: string;
  readonly subject: SubjectInput;
  readonly context?: Readonly<Record<string, unknown>>;
  /** Ignored when `cursor` is given: a cursor pins the revision of the lookup it came from. */
  readonly consistency?: Consistency;
  /** Most results to return; all of them when absent. */
  readonly limit?: number;
  /** An item's `cursor` (or `details.cursor` of a deadline error): continue after it. */
  readonly cursor?: string;
}

export interface LookupResourcesItem {
  readonly resourceId: string;
  readonly state: Exclude<CheckState, "DENIED">;
  readonly missing: readonly string[];
  /** Pass back as `cursor` to continue after this item, at the same revision. */
  readonly cursor: string;
  readonly token: string;
}

export interface LookupSubjectsParams {
  readonly resource: ObjectInput;
  readonly permission: string;
  readonly subjectType: string;
  readonly subjectRelation?: string;
  readonly context?: Readonly<Record<string, unknown>>;
  /** Ignored when `cursor` is given: a cursor pins the revision of the lookup it came from. */
  readonly consistency?: Consistency;
  /**
   * Most concrete subjects to return; all of them when absent. The wildcard item comes first, on
   * the first page only, and does not count.
   */
  readonly limit?: number;
  /** An item's `cursor` (or `details.cursor` of a deadline error): continue after it. */
  readonly cursor?: string;
}

/**
 * One LookupSubjects item. What a subject S may do, in three-valued logic (ALLOWED > CONDITIONAL >
 * DENIED, missing parameters adding up): `own(S) OR (wildcard AND NOT exclusion(S))`, where own(S)
 * is S's own item (DENIED when absent) and exclusion(S) its entry in the wildcard's `excluded`
 * (EXCLUDED: true; CONDITIONAL: unknown; absent: false). So when expanding `user:*`, a subject
 * excluded CONDITIONAL gets at most CONDITIONAL from the wildcard, never ALLOWED. This equals
 * Check for every subject.
 */
export interface LookupSubjectsItem {
  /** `*` for the wildcard, which stands for every subject of the type but the `excluded` ones. */
  readonly subjectId: string;
  /** The full subject: type, id and the requested subject relation if any. */
  readonly subject: SubjectRef;
  /**
   * On a wildcard item only: the subjects it does not cover (`viewer - banned`), each EXCLUDED
   * for sure or CONDITIONAL (with the caveat parameters that would decide it).
   */
  readonly excluded?: readonly SubjectExclusion[];
  readonly state: Exclude<CheckState, "DENIED">;
  readonly missing: readonly string[];
  /** Pass back as `cursor` to continue after this item, at the same revision. */
  readonly cursor: string;
  readonly token: string;
}

export interface UpdateInput {
  readonly operation: UpdateOperation;
  readonly relationship: RelationshipInput;
}

export interface WriteParams {
  readonly updates: readonly UpdateInput[];
  readonly preconditions?: readonly Precondition[];
}

export interface DeleteParams {
  readonly filter: RelationshipFilter;
  readonly preconditions?: readonly Precondition[];
  readonly limit?: number;
}

export interface ReadParams {
  readonly filter: RelationshipFilter;
  readonly consistency?: Consistency;
  readonly limit?: number;
  readonly cursor?: string;
}

export interface ReadItem {
  readonly relationship: Relationship;
  readonly token: string;
  /** Present on the last relationship of a page: pass it back as `cursor` to continue. */
  readonly cursor?: string;
}

/** A subscription to a live permission set (docs/watch-permissions.md). */
export interface WatchPermissionsParams {
  readonly resourceType: string;
  readonly permission: string;
  readonly subject: SubjectInput;
  /** The principals the subject acts for, nearest first (as in Check). */
  readonly onBehalfOf?: readonly SubjectInput[];
  readonly context?: Readonly<Record<string, unknown>>;
  /** Also SYNCED after each revision the server reached, even when the set did not change. */
  readonly checkpoints?: boolean;
  /**
   * Resume after this token (the last SYNCED's): the stream starts with the set's changes since
   * then, or with RESYNC and the whole set when the server cannot compute them exactly.
   */
  readonly after?: string;
}

/**
 * One event of a WatchPermissions stream: ADDED / CONDITIONAL / REMOVED change one resource;
 * SYNCED says the events so far make up the set at `token`; RESYNC says forget the set (the
 * whole set follows). The first events are the whole set, then SYNCED.
 */
export interface PermissionChange {
  readonly kind: PermissionEventKind;
  /** "" for SYNCED and RESYNC. */
  readonly resourceId: string;
  readonly missing: readonly string[];
  /** The revision at which this holds. */
  readonly token: string;
}

export interface WatchParams {
  /** Changes after this token; from now when absent. */
  readonly after?: string;
  readonly objectTypes?: readonly string[];
}

export interface WatchEvent {
  readonly updates: readonly {
    readonly operation: "touch" | "delete";
    readonly relationship: Relationship;
  }[];
  /** Resume from here to receive the changes after this event. */
  readonly token: string;
  readonly schemaUpdated: boolean;
}

export interface ExportBatch {
  readonly relationships: readonly Relationship[];
  readonly token: string;
}

export interface WatchDecisionsParams extends DecisionFilter {
  /** Records after this cursor (a query page's or a watched record's); from now when absent. */
  readonly after?: string;
}

export interface WatchedDecision {
  readonly decision: StoredDecision;
  /** Pass it back as `after` to resume after this record. */
  readonly cursor: string;
}

/** An approval request as the client sees it (docs/approvals.md). */
export type Approval = Omit<StoredApproval, "validForMs">;

export interface RequestApprovalParams extends DelegationParams {
  readonly resource: ObjectInput;
  readonly permission: string;
  readonly subject: SubjectInput;
  /** Shown to the approver: short (at most 512 bytes). */
  readonly message: string;
  readonly justification?: string;
  /** The caveat context the agent means to use. */
  readonly context?: Readonly<Record<string, unknown>>;
}

export interface ApprovalTicketAnswer {
  /** CIBA's `auth_req_id`. */
  readonly id: string;
  /** ms since the epoch. */
  readonly expiresAt: number;
  /** Poll `getApproval` at most this often. */
  readonly intervalSeconds: number;
  /** False when an identical request was pending: its id is returned. */
  readonly created: boolean;
  readonly approval: Approval;
}

export interface DecideApprovalParams {
  readonly id: string;
  readonly approve: boolean;
  readonly approver: SubjectInput;
  readonly reason?: string;
}

export interface LatchClient {
  check(params: CheckParams, options?: CallOptions): Promise<CheckAnswer>;
  checkBulk(params: CheckBulkParams, options?: CallOptions): Promise<CheckBulkAnswer>;
  expand(params: ExpandParams, options?: CallOptions): Promise<ExpandAnswer>;
  /**
   * Streamed in id order at one revision. A deadline ends it with a `deadline-exceeded` error
   * whose `details.cursor` resumes after the last item received.
   */
  lookupResources(params: LookupResourcesParams, options?: CallOptions): AsyncIterable<LookupResourcesItem>;
  lookupSubjects(params: LookupSubjectsParams, options?: CallOptions): AsyncIterable<LookupSubjectsItem>;
  /** The set LookupResources answers, then its changes; endless until `options.signal` aborts. */
  watchPermissions(params: WatchPermissionsParams, options?: CallOptions): AsyncIterable<PermissionChange>;

  writeRelationships(params: WriteParams, options?: CallOptions): Promise<{ readonly token: string }>;
  deleteRelationships(
    params: DeleteParams,
    options?: CallOptions,
  ): Promise<{ readonly token: string; readonly deleted: number }>;
  readRelationships(params: ReadParams, options?: CallOptions): AsyncIterable<ReadItem>;
  /** Endless until `options.signal` aborts (or the server shuts down). */
  watch(params?: WatchParams, options?: CallOptions): AsyncIterable<WatchEvent>;
  importRelationships(
    relationships: AsyncIterable<RelationshipInput> | Iterable<RelationshipInput>,
    options?: CallOptions & { readonly batchSize?: number },
  ): Promise<{ readonly token: string; readonly count: number }>;
  exportRelationships(
    params?: { readonly consistency?: Consistency },
    options?: CallOptions,
  ): AsyncIterable<ExportBatch>;

  writeSchema(schema: string, options?: CallOptions): Promise<{ readonly token: string }>;
  readSchema(options?: CallOptions): Promise<{ readonly schema: string; readonly token: string }>;

  /** The decision audit trail (docs/audit.md): one page, oldest first; `cursor` continues. */
  queryDecisions(params?: DecisionQueryParams, options?: CallOptions): Promise<DecisionPage>;
  /** Records appended after `after` (or from now); endless until `options.signal` aborts. */
  watchDecisions(params?: WatchDecisionsParams, options?: CallOptions): AsyncIterable<WatchedDecision>;
  /** Walks the decision log's hash chain and names the first bad record. */
  verifyDecisions(options?: CallOptions): Promise<VerifyReport>;

  /** The identity security posture report (docs/posture.md) at one revision. */
  postureReport(params?: PostureReportParams, options?: CallOptions): Promise<PostureReport>;

  /** Validates approval rules (YAML) against the schema and stores them as a new version. */
  writeApprovalRules(
    rules: string,
    options?: CallOptions & { readonly fileName?: string },
  ): Promise<{ readonly version: number; readonly ruleIds: readonly string[] }>;
  readApprovalRules(options?: CallOptions): Promise<{ readonly version: number; readonly rules: string }>;
  /** Asks a person to approve a gated action; answers at once (docs/approvals.md). */
  requestApproval(params: RequestApprovalParams, options?: CallOptions): Promise<ApprovalTicketAnswer>;
  /** Polls a request; `approval/slow-down` when polled faster than its interval. */
  getApproval(id: string, options?: CallOptions): Promise<Approval>;
  listApprovals(query?: ApprovalQuery, options?: CallOptions): Promise<readonly Approval[]>;
  decideApproval(params: DecideApprovalParams, options?: CallOptions): Promise<Approval>;
  /** Resolves when the request is decided or expires. */
  awaitApproval(id: string, options?: CallOptions): Promise<Approval>;

  /** Verifies and applies one Security Event Token (docs/signals.md); refused with a `signal/*` code. */
  sendSignal(set: string, options?: CallOptions): Promise<SignalAnswer>;
  /** The signals received, newest first. */
  listSignals(query?: { readonly limit?: number }, options?: CallOptions): Promise<readonly ReceivedSignal[]>;

  close(): Promise<void>;
}

export interface PostureReportParams {
  /** The configuration's YAML text; the defaults (fit for schemas/rag.zed) when absent. */
  readonly config?: string;
  /** A revision token to report at; the current revision when absent. */
  readonly atRevision?: string;
  /** Keep the report, with its revision, for a later report's drift. */
  readonly save?: boolean;
}

/** What a signal did (docs/signals.md); `revisionToken` covers every effect. */
export interface SignalAnswer {
  readonly issuer: string;
  readonly jti: string;
  readonly revisionToken: string;
  readonly effects: readonly SignalEffect[];
}

export interface ReceivedSignal extends SignalAnswer {
  /** ms since the epoch. */
  readonly receivedAt: number;
  /** `push`, `api` or `cli`. */
  readonly via: string;
  readonly events: readonly string[];
}
