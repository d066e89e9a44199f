/**
 * Every stable code Latch reports, in one typed list. Codes are the contract (tests, logs, the gRPC
 * `latch-error-code` trailer and the CLI's `--json` output match on them, never on message text),
 * so a code that is not listed here does not compile at a raise site.
 *
 * Three lists, because a code lives in one of three places and each place accepts only its own:
 * - ErrorCodes: `LatchError.code`, and the wire code of a failed call.
 * - DiagnosticCodes: `Diagnostic.code`, one problem in a schema. They never stand alone: they come
 *   inside a SchemaError, whose own code is `schema/invalid`. Kept apart so a raise site cannot
 *   throw a diagnostic code and the schema compiler cannot report an error code.
 * - CliErrorCodes: the `--json` code of a CLI failure that is not a LatchError.
 * The lists share one namespace (`area/name`) and never share a code (a test checks it).
 *
 * Each entry's comment is one line, `kind: meaning` (kind: the ErrorKind it is raised with, which
 * the server maps to a gRPC status); `scripts/error-codes-table.ts` turns these comments into
 * docs/error-codes.md, and a test keeps that file fresh.
 */

export const ErrorCodes = {
  // ---- check, expand, lookups: the engine's requests
  /** invalid-argument: the request names an object or subject type the schema does not define. */
  CheckUnknownType: "check/unknown-type",
  /** invalid-argument: the type has no relation or permission of that name. */
  CheckUnknownPermission: "check/unknown-permission",
  /** invalid-argument: the resource id is empty or the wildcard. */
  CheckInvalidResource: "check/invalid-resource",
  /** invalid-argument: the subject id is empty. */
  CheckInvalidSubject: "check/invalid-subject",
  /** invalid-argument: a check's subject is a wildcard (`type:*`); check a concrete subject. */
  CheckWildcardSubject: "check/wildcard-subject",
  /** invalid-argument: the caveat context is not a JSON object. */
  CheckInvalidContext: "check/invalid-context",
  /** resource-exhausted: more contextual relationships in one request than allowed. */
  CheckTooManyContextualRelationships: "check/too-many-contextual-relationships",
  /** resource-exhausted: more items in one bulk check than allowed. */
  CheckTooManyItems: "check/too-many-items",
  /** failed-precondition: the walk went deeper than the maximum depth (`--max-depth`). */
  CheckMaxDepthExceeded: "check/max-depth-exceeded",
  /** failed-precondition: the answer depends on a permission that depends on itself through the right-hand side of an exclusion. */
  CheckCycleThroughExclusion: "check/cycle-through-exclusion",
  /** failed-precondition: the answers of a cycle did not settle within the rounds allowed (its caveats too many to compare). */
  CheckCycleUnsettled: "check/cycle-unsettled",
  /** failed-precondition: no schema has been written yet, so nothing can be checked. */
  CheckNoSchema: "check/no-schema",
  /** failed-precondition | invalid-argument: a caveat is unknown (precondition) or failed to evaluate on this context (argument). */
  CheckCaveatError: "check/caveat-error",
  /** resource-exhausted: a caveat did too much work for this context (its evaluation cost limit). */
  CheckCaveatCostExceeded: "check/caveat-cost-exceeded",
  /** invalid-argument: a lookup cursor does not decode or belongs to another request. */
  LookupInvalidCursor: "lookup/invalid-cursor",
  /** invalid-argument: a lookup limit is not a non-negative integer. */
  LookupInvalidLimit: "lookup/invalid-limit",
  /** invalid-argument: an engine option is out of range (maxDepth). */
  ConfigInvalid: "config/invalid",

  // ---- delegation: on-behalf-of chains (service/delegation)
  /** invalid-argument: an on-behalf-of chain names more principals than allowed (8). */
  DelegationChainTooLong: "delegation/chain-too-long",
  /** invalid-argument: a principal of the chain is a subject set or a wildcard; name an object (`user:alice`). */
  DelegationInvalidPrincipal: "delegation/invalid-principal",
  /** invalid-argument: the subject of a request with an on-behalf-of chain is a subject set or a wildcard; the one acting is an object (`agent:bot`). */
  DelegationInvalidSubject: "delegation/invalid-subject",
  /** invalid-argument: a request with an on-behalf-of chain carries contextual relationships, which could assert the principals' grants and delegations the chain is held to; write them instead. */
  DelegationContextualRelationships: "delegation/contextual-relationships",
  /** invalid-argument: a principal of the chain is the subject itself or appears twice (`details.field` names it). */
  DelegationRepeatedPrincipal: "delegation/repeated-principal",
  /** invalid-argument: a principal's type is not defined in the schema. */
  DelegationUnknownPrincipalType: "delegation/unknown-principal-type",
  /** invalid-argument: a principal's type has no delegation permission (`delegate`, or the one configured for it). */
  DelegationNoPermission: "delegation/no-delegation-permission",
  /** failed-precondition: a request carries an on-behalf-of chain but no delegation decorator answers it. */
  DelegationNotEnabled: "delegation/not-enabled",
  /** unauthenticated: the actor token failed verification (signature, issuer, audience, expiry, algorithm or shape; the message says which). */
  DelegationInvalidActorToken: "delegation/invalid-actor-token",
  /** permission-denied: the request's subject or on-behalf-of chain contradicts its verified actor token. */
  DelegationActorTokenMismatch: "delegation/actor-token-mismatch",
  /** failed-precondition: a request carries an actor token but the server has no `--actor-token-jwks` configured. */
  DelegationActorTokensNotConfigured: "delegation/actor-tokens-not-configured",

  // ---- request: the call itself
  /** invalid-argument: a request field is missing or malformed (`details.field` names it). */
  RequestInvalidArgument: "request/invalid-argument",
  /** resource-exhausted: a request list is over its configured limit. */
  RequestOverLimit: "request/over-limit",
  /** invalid-argument: the request bytes are not a valid protobuf message of the method's type. */
  RequestMalformed: "request/malformed",
  /** invalid-argument: the caveat context holds too many values or too much text. */
  RequestContextTooLarge: "request/context-too-large",
  /** invalid-argument: the caveat context nests deeper than allowed. */
  RequestContextTooDeep: "request/context-too-deep",
  /** invalid-argument: the consistency requirement is not one Latch knows. */
  RequestInvalidConsistency: "request/invalid-consistency",
  /** deadline-exceeded: the request ran past its deadline or was aborted. */
  RequestDeadlineExceeded: "request/deadline-exceeded",
  /** deadline-exceeded: the caller cancelled the call. */
  RequestCancelled: "request/cancelled",
  /** unauthenticated: the call has no `authorization: Bearer <token>` header. */
  AuthMissingToken: "auth/missing-token",
  /** unauthenticated: the authorization header is not `Bearer <token>`. */
  AuthMalformed: "auth/malformed",
  /** unauthenticated: the bearer token is not one of the configured tokens. */
  AuthInvalidToken: "auth/invalid-token",
  /** internal: an unexpected failure at the server; the client sees only the request id, the log has the cause. */
  InternalUnexpected: "internal/unexpected",

  // ---- caveat expressions and contexts (conditions)
  /** invalid-argument: a caveat expression does not parse. */
  ConditionSyntax: "condition/syntax",
  /** invalid-argument: a caveat expression does not type-check, or is not a bool. */
  ConditionType: "condition/type",
  /** invalid-argument: a caveat expression is too long or nests too many comprehensions. */
  ConditionTooLarge: "condition/too-large",
  /** invalid-argument: a declared parameter name cannot be used in CEL. */
  ConditionBadParameter: "condition/bad-parameter",
  /** invalid-argument: a context value does not convert to its parameter's declared type. */
  ConditionBadContext: "condition/bad-context",

  // ---- schema: writing and reading it
  /** invalid-argument: the schema has errors; `details.diagnostics` lists them (diagnostic codes below). */
  SchemaInvalid: "schema/invalid",
  /** failed-precondition: writing this schema would orphan stored relationships; delete them first. */
  SchemaWouldOrphan: "schema/would-orphan",
  /** failed-precondition: writing this schema would make a stored approval rule invalid (`details.rule`, `details.line`); change the rules first. */
  SchemaBreaksApprovalRules: "schema/breaks-approval-rules",
  /** failed-precondition: the store has no schema yet, and relationships are validated against one. */
  SchemaMissing: "schema/missing",
  /** not-found: ReadSchema found no schema written. */
  SchemaNotFound: "schema/not-found",
  /** failed-precondition: another process wrote a schema while an import was validated against the one before; retry the import. */
  SchemaChanged: "schema/changed",

  // ---- relationships: parsing and validating them against the schema
  /** invalid-argument: a relationship string does not parse (`details.column` says where). */
  RelationshipSyntax: "relationship/syntax",
  /** invalid-argument: the resource type is not defined in the schema. */
  RelationshipUnknownType: "relationship/unknown-type",
  /** invalid-argument: the resource type has no relation of that name. */
  RelationshipUnknownRelation: "relationship/unknown-relation",
  /** invalid-argument: the relation is a permission, which is computed and cannot be written. */
  RelationshipNotARelation: "relationship/not-a-relation",
  /** invalid-argument: the relation does not allow this subject type. */
  RelationshipSubjectNotAllowed: "relationship/subject-not-allowed",
  /** invalid-argument: the relation requires a caveat for this subject type. */
  RelationshipCaveatRequired: "relationship/caveat-required",
  /** invalid-argument: the caveat is not defined, or not allowed for this subject type. */
  RelationshipCaveatNotAllowed: "relationship/caveat-not-allowed",
  /** invalid-argument: the relation does not allow an expiration for this subject type. */
  RelationshipExpirationNotAllowed: "relationship/expiration-not-allowed",
  /** invalid-argument: the expiration is not a valid instant. */
  RelationshipInvalidExpiration: "relationship/invalid-expiration",
  /** invalid-argument: an object id is empty, too long, uses forbidden characters or misuses the wildcard. */
  RelationshipInvalidId: "relationship/invalid-id",
  /** invalid-argument: the stored caveat context names unknown parameters, does not fit their types, or holds U+0000 or a lone surrogate. */
  RelationshipBadCaveatContext: "relationship/bad-caveat-context",
  /** invalid-argument: the stored caveat context holds too many values or too much text. */
  RelationshipContextTooLarge: "relationship/context-too-large",
  /** invalid-argument: the stored caveat context nests deeper than allowed. */
  RelationshipContextTooDeep: "relationship/context-too-deep",
  /** already-exists: CREATE of a relationship that exists; nothing was written. */
  RelationshipAlreadyExists: "relationship/already-exists",

  // ---- writes
  /** resource-exhausted: a write holds more updates than allowed. */
  WriteTooManyUpdates: "write/too-many-updates",
  /** invalid-argument: an update's operation is not create, touch or delete. */
  WriteInvalidOperation: "write/invalid-operation",
  /** invalid-argument: a write's transaction metadata holds U+0000 or a lone surrogate, which a datastore cannot store as given. */
  WriteBadMetadata: "write/bad-metadata",
  /** invalid-argument: one write updates the same relationship twice. */
  WriteDuplicateUpdate: "write/duplicate-update",
  /** failed-precondition: a write precondition did not hold; nothing was written. */
  WritePreconditionFailed: "write/precondition-failed",
  /** invalid-argument: a delete that may not be partial matches more relationships than its limit; nothing was deleted. */
  DeleteOverLimit: "delete/over-limit",

  // ---- revisions, tokens and cursors
  /** invalid-argument: a revision token could not be decoded by the store (any failure other than its own code). */
  RevisionInvalidToken: "revision/invalid-token",
  /** invalid-argument: a revision token is malformed or not signed by this store's secret. */
  RevisionMalformedToken: "revision/malformed-token",
  /** invalid-argument: a revision token was issued by another store. */
  RevisionForeignToken: "revision/foreign-token",
  /** invalid-argument: a PostgreSQL read asked for a revision that is not a non-negative bigint. */
  RevisionInvalid: "revision/invalid",
  /** failed-precondition: a PostgreSQL read was pinned to a revision the store has not reached. */
  RevisionUnknown: "revision/unknown",
  /** failed-precondition: the store has not reached the revision the request asks for. */
  RevisionNotReached: "revision/not-reached",
  /** failed-precondition: the revision is older than the GC window and its history was compacted; use a newer token. */
  RevisionCompacted: "revision/compacted",
  /** invalid-argument: a read cursor does not decode. */
  CursorMalformed: "cursor/malformed",
  /** invalid-argument: a read cursor belongs to a different filter. */
  CursorFilterMismatch: "cursor/filter-mismatch",
  /** invalid-argument: a read cursor reads another revision than the one asked for. */
  CursorRevisionMismatch: "cursor/revision-mismatch",

  // ---- stores
  /** invalid-argument: a relationship filter is empty, or has an empty resource type or no subject type in its subject filter. */
  StoreInvalidFilter: "store/invalid-filter",
  /** invalid-argument: a limit or batch size is not a positive integer in range. */
  StoreInvalidLimit: "store/invalid-limit",
  /** invalid-argument: the PostgreSQL schema name is not a plain identifier. */
  StoreInvalidPgSchema: "store/invalid-pg-schema",
  /** invalid-argument: a read replica URL (`--datastore-read-replica`) is not a postgres:// URL. */
  StoreInvalidReadReplica: "store/invalid-read-replica",
  /** failed-precondition: the database was migrated by a newer Latch; upgrade Latch. */
  StoreNewerVersion: "store/newer-version",
  /** failed-precondition: the PostgreSQL schema is not migrated; run `latch migrate`. */
  StoreNotMigrated: "store/not-migrated",
  /** unavailable: the datastore cannot be reached. */
  StoreUnavailable: "store/unavailable",
  /** unavailable: a PostgreSQL transaction conflict (serialization, deadlock, lock); retry. */
  StoreConflict: "store/conflict",
  /** deadline-exceeded: a PostgreSQL statement timed out. */
  StoreDeadlineExceeded: "store/deadline-exceeded",
  /** invalid-argument: PostgreSQL refused text it was given (U+0000) that no check before it caught; nothing was written. */
  StoreUnstorableText: "store/unstorable-text",
  /** internal: any other PostgreSQL error (`details.sqlState`). */
  StoreInternal: "store/internal",
  /** internal: the PostgreSQL schema lacks its store identity. */
  StoreCorrupt: "store/corrupt",
  /** invalid-argument: `latch backup` was given a source that is not there or a destination that is. */
  StoreBackupInvalid: "store/backup-invalid",
  /** internal: the copy `latch backup` made failed its integrity check. */
  StoreBackupFailed: "store/backup-failed",

  // ---- WatchPermissions
  /** internal: a WatchPermissions stream sent an event kind this client does not know (a newer server); upgrade the client. */
  WatchUnknownEvent: "watch/unknown-event",
  /** unavailable: an authorized set (watchAuthorizedSet) was closed before its first set arrived. */
  WatchClosed: "watch/closed",

  // ---- the decision audit trail
  /** unavailable: auditing is `sync` and the decision could not be recorded, so it was refused; retry. */
  AuditUnavailable: "audit/unavailable",
  /** invalid-argument: an audit option (policy, mode, queue size, retention) is not one Latch knows. */
  AuditInvalidOption: "audit/invalid-option",

  // ---- human approval for high-risk actions (src/approvals)
  /** invalid-argument: the approval rules file is malformed or names a type, permission or parameter the schema lacks (`details.file`, `details.line`). */
  ApprovalInvalidRules: "approval/invalid-rules",
  /** invalid-argument: an approval request or decision is malformed (`details.field` names the field). */
  ApprovalInvalidRequest: "approval/invalid-request",
  /** resource-exhausted: the binding message (or justification) is longer than allowed. */
  ApprovalMessageTooLong: "approval/message-too-long",
  /** failed-precondition: no approval rule gates this action for this subject, so there is nothing to approve. */
  ApprovalNotGated: "approval/not-gated",
  /** not-found: no approval request has this id. */
  ApprovalNotFound: "approval/not-found",
  /** failed-precondition: the approval request was already approved or denied. */
  ApprovalAlreadyDecided: "approval/already-decided",
  /** failed-precondition: the approval request expired before it was decided. */
  ApprovalExpired: "approval/expired",
  /** permission-denied: the approver lacks the rule's approver permission on the resource. */
  ApprovalNotApprover: "approval/not-approver",
  /** permission-denied: the approver is the requesting subject or a principal of its on-behalf-of chain. */
  ApprovalSelfApproval: "approval/self-approval",
  /** permission-denied: DecideApproval's `approver` names someone other than the subject the caller's token is named after (`--token user:olga=...`): decide with that person's token, or leave `approver` empty. */
  ApprovalApproverMismatch: "approval/approver-mismatch",
  /** resource-exhausted: the approval was polled faster than its interval (CIBA `slow_down`); its interval grew by 5 s: wait `details.intervalSeconds`. */
  ApprovalSlowDown: "approval/slow-down",
  /** failed-precondition: SpiceDB's API (which has no such answer) was asked about an action an approval rule gates and no approval allows (`details.approvalRule`); request one through latch.v1 ApprovalService. */
  ApprovalRequired: "approval/required",
  /** invalid-argument: the approval webhook URL is not an http(s) URL, or carries credentials (`user:password@`). */
  ApprovalInvalidWebhook: "approval/invalid-webhook",

  // ---- identity security posture (src/posture)
  /** invalid-argument: the posture configuration is malformed or names a type, relation, permission or caveat parameter the schema lacks (`details.path` names the field). */
  PostureInvalidConfig: "posture/invalid-config",
  /** failed-precondition: the datastore has no schema yet, so there is nothing to report on. */
  PostureNoSchema: "posture/no-schema",
  // ---- security signals in (src/signals): Security Event Tokens (RFC 8417) over RFC 8935
  /** invalid-argument: the body is not a well-formed SET (not a JWT, bad claims, expired, `iat` out of range); RFC 8935 `invalid_request`. */
  SignalInvalidRequest: "signal/invalid-request",
  /** invalid-argument: the SET is signed with a key or algorithm the transmitter's JWKS does not hold; RFC 8935 `invalid_key`. */
  SignalInvalidKey: "signal/invalid-key",
  /** invalid-argument: the SET's signature does not verify; RFC 8935 `authentication_failed`. */
  SignalAuthenticationFailed: "signal/authentication-failed",
  /** invalid-argument: the SET's `iss` is not the configured transmitter; RFC 8935 `invalid_issuer`. */
  SignalInvalidIssuer: "signal/invalid-issuer",
  /** invalid-argument: the SET's `aud` does not name this receiver; RFC 8935 `invalid_audience`. */
  SignalInvalidAudience: "signal/invalid-audience",
  /** already-exists: a SET with this issuer and `jti` was received before; nothing was applied again (RFC 8935 `invalid_request`). */
  SignalReplayed: "signal/replayed",
  /** invalid-argument: the signal rules file is malformed or names a type or relation the schema lacks (`details.file`, `details.line`). */
  SignalInvalidRules: "signal/invalid-rules",
  /** unavailable: the transmitter's JWKS URL could not be fetched; nothing was applied, retry the SET. */
  SignalKeysUnavailable: "signal/keys-unavailable",
  /** failed-precondition: no transmitter is configured (`--ssf-jwks`, `--ssf-issuer`, `--ssf-audience`), so signals cannot be verified. */
  SignalNotConfigured: "signal/not-configured",

  // ---- the HTTP API and the testing mode (server)
  /** not-found: no HTTP route at this method and path (the message lists where the routes are). */
  HttpNotFound: "http/not-found",
  /** invalid-argument: the HTTP body is not JSON of the route's request message (the message says where). */
  HttpMalformedJson: "http/malformed-json",
  /** resource-exhausted: the HTTP body is over `--max-message-bytes` (gRPC's limit on a request message). */
  HttpBodyTooLarge: "http/body-too-large",
  /** permission-denied: a browser sent the request from another site (`Sec-Fetch-Site`, or an `Origin` that is not the `Host`); the HTTP API takes no cross-site calls. */
  HttpCrossSite: "http/cross-site",
  /** resource-exhausted: `--testing` holds its most stores (one per token) and every one is in use by a call. */
  TestingTooManyStores: "testing/too-many-stores",

  // ---- validation files
  /** invalid-argument: a validation file (`latch validate`) is malformed. */
  ValidationInvalidFile: "validation/invalid-file",
} as const;

/** A code a LatchError raised by this copy of Latch can carry. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The listed codes of one area, e.g. `ErrorCodeIn<"condition">`: for errors raised by one module. */
export type ErrorCodeIn<Area extends string> = Extract<ErrorCode, `${Area}/${string}`>;

/**
 * A code read from elsewhere (the wire, another copy or version of Latch): one of ours or one this
 * copy does not know. Editors still complete the known ones.
 */
export type AnyErrorCode = ErrorCode | (string & {});

/** Codes of schema diagnostics; each one comes inside a `schema/invalid` SchemaError. */
export const DiagnosticCodes = {
  // ---- lexer and parser
  /** An unexpected token; the message says what was expected. */
  SchemaSyntax: "schema/syntax",
  /** A character that is not part of the schema language. */
  SchemaInvalidCharacter: "schema/invalid-character",
  /** A block comment is never closed. */
  SchemaUnterminatedComment: "schema/unterminated-comment",
  /** A caveat body is never closed. */
  SchemaUnterminatedCaveat: "schema/unterminated-caveat",
  /** An expression or a type argument nests deeper than allowed. */
  SchemaTooDeep: "schema/too-deep",
  /** An expression has too many terms, or a definition too many members. */
  SchemaTooLarge: "schema/too-large",
  /** Arrows are chained (`a->b->c`). */
  SchemaNestedArrow: "schema/nested-arrow",
  /** An arrow function is unknown or lacks the relation to walk to. */
  SchemaInvalidArrowFunction: "schema/invalid-arrow-function",

  // ---- definitions and names
  /** `use` names a feature Latch does not have. */
  SchemaUnknownFlag: "schema/unknown-flag",
  /** A definition, member, caveat or parameter name is not allowed. */
  SchemaInvalidName: "schema/invalid-name",
  /** Two definitions share a name. */
  SchemaDuplicateDefinition: "schema/duplicate-definition",
  /** Two caveats share a name. */
  SchemaDuplicateCaveat: "schema/duplicate-caveat",
  /** A relation and a permission share a name in one definition. */
  SchemaDuplicateMember: "schema/duplicate-member",
  /** A definition declares two relations of one name. */
  SchemaDuplicateRelation: "schema/duplicate-relation",
  /** A definition declares two permissions of one name. */
  SchemaDuplicatePermission: "schema/duplicate-permission",

  // ---- relations' allowed subjects
  /** An allowed subject names an undefined type. */
  SchemaUnknownType: "schema/unknown-type",
  /** A name refers to a relation or permission the type does not have. */
  SchemaUnknownRelation: "schema/unknown-relation",
  /** An allowed subject names an undeclared caveat. */
  SchemaUnknownCaveat: "schema/unknown-caveat",
  /** A wildcard subject (`type:*`) does not name a definition. */
  SchemaInvalidWildcard: "schema/invalid-wildcard",
  /** `with expiration` without `use expiration`. */
  SchemaExpirationNotEnabled: "schema/expiration-not-enabled",
  /** A relation lists the same allowed subject twice. */
  SchemaDuplicateSubjectType: "schema/duplicate-subject-type",

  // ---- permissions
  /** An arrow walks to a name none of the target types has. */
  SchemaUnknownPermission: "schema/unknown-permission",
  /** An arrow walks a permission rather than a relation. */
  SchemaArrowOverPermission: "schema/arrow-over-permission",
  /** An arrow walks a relation that allows wildcard subjects. */
  SchemaArrowOverWildcard: "schema/arrow-over-wildcard",
  /** Permissions refer to one another in a cycle. */
  SchemaPermissionCycle: "schema/permission-cycle",

  // ---- caveats
  /** A caveat declares a parameter twice. */
  SchemaDuplicateParameter: "schema/duplicate-parameter",
  /** A caveat parameter has an unknown type. */
  SchemaUnknownParameterType: "schema/unknown-parameter-type",
  /** A caveat parameter name cannot be used in CEL. */
  SchemaCaveatParameter: "schema/caveat-parameter",
  /** A caveat body is empty or does not parse. */
  SchemaCaveatSyntax: "schema/caveat-syntax",
  /** A caveat body does not type-check against its parameters, or is not a bool. */
  SchemaCaveatType: "schema/caveat-type",
  /** A caveat body is too long or nests too many comprehensions. */
  SchemaCaveatTooLarge: "schema/caveat-too-large",
  /** A caveat body is refused for another reason. */
  SchemaCaveatInvalid: "schema/caveat-invalid",
} as const;

export type DiagnosticCode = (typeof DiagnosticCodes)[keyof typeof DiagnosticCodes];

/** Codes of CLI failures that are not LatchErrors, in `--json` output (exit code 1). */
export const CliErrorCodes = {
  /** The command line is wrong (an unknown or conflicting flag, a malformed argument). */
  CliUsage: "cli/usage",
  /** Any other failure of a command. */
  CliError: "cli/error",
} as const;

export type CliErrorCode = (typeof CliErrorCodes)[keyof typeof CliErrorCodes];
