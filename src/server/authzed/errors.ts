/**
 * Errors as SpiceDB gives them on authzed.api.v1: its status code for the situation, and a
 * google.rpc.Status in `grpc-status-details-bin` whose ErrorInfo names the reason
 * (`domain: authzed.com`, `reason: ERROR_REASON_*`) with SpiceDB's metadata keys. Clients (and
 * zed) switch on those reasons, so they must match; the message text is Latch's own, which says
 * what is wrong and how to fix it. Latch's own API keeps its shape (../errors.ts).
 *
 * Everything inside still throws LatchError; this module is the only place that knows SpiceDB's
 * codes. A handler that needs a status Latch has no code for (UNIMPLEMENTED, a reason only SpiceDB
 * has) throws an AuthzedError.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Metadata, status } from "@grpc/grpc-js";
import { clip, type ErrorCode, type ErrorDetails, type ErrorKind, isLatchError } from "../../core/index.js";
import type { CheckBulkItemError } from "../../engine/index.js";
import type { ErrorReason } from "../../gen/authzed/api/v1/error_reason_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { type Status, StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { boundStatusMessage, statusForKind, type WireError } from "../errors.js";

/** An ErrorInfo reason of the authzed.com domain: `ERROR_REASON_UNKNOWN_DEFINITION` ... */
export type Reason = `ERROR_REASON_${keyof typeof ErrorReason}`;

export const ERROR_DOMAIN = "authzed.com";

/** What a failure answers on authzed.api.v1. */
export interface SpiceStatus {
  readonly code: status;
  readonly message: string;
  readonly reason?: Reason | undefined;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

/** A status Latch has no error code for: UNIMPLEMENTED, or a SpiceDB reason stated directly. */
export class AuthzedError extends Error {
  override readonly name = "AuthzedError";
  constructor(
    readonly code: status,
    message: string,
    readonly reason?: Reason,
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** What a method not yet served answers. */
export function unimplemented(method: string): AuthzedError {
  return new AuthzedError(
    status.UNIMPLEMENTED,
    `${method} is not implemented by Latch yet; see the "Coming from SpiceDB" section of Latch's README for what is served`,
  );
}

/** What the rules read of an error: a LatchError, or a bulk check item's error (engine CheckBulkItemError). */
export interface ErrorFacts {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly details: ErrorDetails;
}

type Rule = (error: ErrorFacts) => Omit<SpiceStatus, "message"> | undefined;

/** ErrorInfo metadata from an error's details: the string values given, under SpiceDB's keys. */
function metadataOf(error: ErrorFacts, keys: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [spiceKey, latchKey] of Object.entries(keys)) {
    const value = error.details[latchKey];
    if (typeof value === "string" && value !== "") out[spiceKey] = clip(value);
  }
  return out;
}

const unknownDefinition: Rule = (e) => ({
  code: status.FAILED_PRECONDITION,
  reason: "ERROR_REASON_UNKNOWN_DEFINITION",
  metadata: metadataOf(e, { definition_name: "type" }),
});

const unknownRelation: Rule = (e) => ({
  code: status.FAILED_PRECONDITION,
  reason: "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
  metadata: metadataOf(e, { definition_name: "type", relation_or_permission_name: "permission" }),
});

const withReason =
  (code: status, reason: Reason): Rule =>
  () => ({ code, reason });

const plain =
  (code: status): Rule =>
  () => ({ code });

/**
 * A list over its limit, as SpiceDB reports each (INVALID_ARGUMENT, its own metadata keys; for
 * too many checks SpiceDB sends the reason UNSPECIFIED, not TOO_MANY_CHECKS_IN_REQUEST).
 */
export function tooManyStatus(field: string, count: number, limit: number): Omit<SpiceStatus, "message"> {
  const n = String(count);
  const max = String(limit);
  switch (field) {
    case "items":
      return {
        code: status.INVALID_ARGUMENT,
        reason: "ERROR_REASON_UNSPECIFIED",
        metadata: { check_count: n, maximum_checks_allowed: max },
      };
    case "updates":
      return {
        code: status.INVALID_ARGUMENT,
        reason: "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST",
        metadata: { update_count: n, maximum_updates_allowed: max },
      };
    case "optional_preconditions":
      return {
        code: status.INVALID_ARGUMENT,
        reason: "ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST",
        // SpiceDB's key, as it spells it.
        metadata: { precondition_count: n, maximum_updates_allowed: max },
      };
    default:
      return {
        code: status.INVALID_ARGUMENT,
        reason: "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT",
        metadata: { limit_provided: n, maximum_limit_allowed: max },
      };
  }
}

/** Over-limit errors carry their count (`got` or `count`) and limit (`limit` or `max`). */
function tooMany(field: string, e: ErrorFacts): Omit<SpiceStatus, "message"> {
  const count = Number(e.details.got ?? e.details.count ?? 0);
  const limit = Number(e.details.limit ?? e.details.max ?? 0);
  return tooManyStatus(field, count, limit);
}

/** Diagnostics a parser reports; every other schema diagnostic is a type error. */
const PARSE_DIAGNOSTICS = new Set<string>([
  "schema/syntax",
  "schema/invalid-character",
  "schema/unterminated-comment",
  "schema/unterminated-caveat",
  "schema/too-deep",
  "schema/too-large",
  "schema/nested-arrow",
  "schema/invalid-arrow-function",
  "schema/unknown-flag",
  "schema/invalid-name",
  "schema/caveat-syntax",
]);

interface DiagnosticLike {
  readonly code?: string;
  readonly line?: number;
  readonly column?: number;
  readonly length?: number;
  readonly excerpt?: string;
}

/**
 * A schema error as SpiceDB reports it: SCHEMA_PARSE_ERROR with where it is (SpiceDB's keys;
 * its positions are 0-based where Latch's are 1-based), or SCHEMA_TYPE_ERROR.
 */
const schemaInvalid: Rule = (e) => {
  const list = (e as { diagnostics?: unknown }).diagnostics ?? e.details.diagnostics;
  const first = (Array.isArray(list) ? list[0] : undefined) as DiagnosticLike | undefined;
  if (first === undefined)
    return { code: status.INVALID_ARGUMENT, reason: "ERROR_REASON_SCHEMA_PARSE_ERROR" };
  const metadata: Record<string, string> = {};
  if (typeof first.line === "number" && typeof first.column === "number") {
    const line = String(first.line - 1);
    metadata.start_line_number = line;
    metadata.start_column_position = String(first.column - 1);
    metadata.end_line_number = line;
    metadata.end_column_position = String(first.column - 1 + Math.max(0, (first.length ?? 1) - 1));
  }
  const source = typeof first.excerpt === "string" ? first.excerpt.split("\n")[0]?.trim() : undefined;
  if (source !== undefined && source !== "") metadata.source_code = clip(source, 256);
  return PARSE_DIAGNOSTICS.has(first.code ?? "")
    ? { code: status.INVALID_ARGUMENT, reason: "ERROR_REASON_SCHEMA_PARSE_ERROR", metadata }
    : { code: status.FAILED_PRECONDITION, reason: "ERROR_REASON_SCHEMA_TYPE_ERROR", metadata };
};

/**
 * Latch's codes that SpiceDB answers differently from Latch's own kind-to-status mapping, or with
 * a reason. A code not listed keeps the status of its kind and has no ErrorInfo, as SpiceDB's
 * errors without a reason have none.
 */
const RULES: Partial<Record<ErrorCode, Rule>> = {
  "check/unknown-type": unknownDefinition,
  "check/unknown-permission": unknownRelation,
  // With no schema every definition is unknown: SpiceDB's answer to a check before WriteSchema.
  "check/no-schema": unknownDefinition,
  "check/wildcard-subject": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_WILDCARD_NOT_ALLOWED"),
  "check/too-many-items": (e) => tooMany("items", e),
  "check/max-depth-exceeded": withReason(status.FAILED_PRECONDITION, "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED"),
  "check/caveat-error": (e) =>
    e.kind === "failed-precondition"
      ? {
          code: status.FAILED_PRECONDITION,
          reason: "ERROR_REASON_UNKNOWN_CAVEAT",
          metadata: metadataOf(e, { caveat_name: "caveat" }),
        }
      : {
          code: status.INVALID_ARGUMENT,
          // A context value of the wrong type is a parameter type error to SpiceDB, not a failed
          // evaluation.
          reason:
            e.details.parameter === undefined
              ? "ERROR_REASON_CAVEAT_EVALUATION_ERROR"
              : "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR",
          metadata: metadataOf(e, { caveat_name: "caveat" }),
        },
  "check/caveat-cost-exceeded": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_CAVEAT_EVALUATION_ERROR"),
  "condition/bad-context": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR"),
  "check/invalid-context": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR"),
  // A cursor of another lookup is SpiceDB's hash mismatch: FAILED_PRECONDITION.
  "lookup/invalid-cursor": (e) => ({
    code: e.details.cause === "other-lookup" ? status.FAILED_PRECONDITION : status.INVALID_ARGUMENT,
    reason: "ERROR_REASON_INVALID_CURSOR",
  }),
  "cursor/malformed": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_CURSOR"),
  "cursor/filter-mismatch": withReason(status.FAILED_PRECONDITION, "ERROR_REASON_INVALID_CURSOR"),
  "cursor/revision-mismatch": withReason(status.FAILED_PRECONDITION, "ERROR_REASON_INVALID_CURSOR"),
  "lookup/invalid-limit": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT"),
  "store/invalid-limit": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT"),
  "request/over-limit": (e) => tooMany(typeof e.details.field === "string" ? e.details.field : "", e),
  "store/invalid-filter": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_FILTER"),
  "schema/invalid": schemaInvalid,
  "schema/would-orphan": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_SCHEMA_TYPE_ERROR"),
  "relationship/unknown-type": withReason(status.FAILED_PRECONDITION, "ERROR_REASON_UNKNOWN_DEFINITION"),
  "relationship/unknown-relation": withReason(
    status.FAILED_PRECONDITION,
    "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
  ),
  "relationship/not-a-relation": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_CANNOT_UPDATE_PERMISSION"),
  "relationship/subject-not-allowed": withReason(
    status.INVALID_ARGUMENT,
    "ERROR_REASON_INVALID_SUBJECT_TYPE",
  ),
  "relationship/caveat-required": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_SUBJECT_TYPE"),
  "relationship/caveat-not-allowed": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_SUBJECT_TYPE"),
  "relationship/expiration-not-allowed": withReason(
    status.INVALID_ARGUMENT,
    "ERROR_REASON_INVALID_SUBJECT_TYPE",
  ),
  "relationship/bad-caveat-context": withReason(
    status.INVALID_ARGUMENT,
    "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR",
  ),
  "relationship/context-too-large": withReason(
    status.INVALID_ARGUMENT,
    "ERROR_REASON_MAX_RELATIONSHIP_CONTEXT_SIZE",
  ),
  "relationship/already-exists": withReason(
    status.ALREADY_EXISTS,
    "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP",
  ),
  "write/too-many-updates": (e) => tooMany("updates", e),
  "write/duplicate-update": withReason(status.INVALID_ARGUMENT, "ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP"),
  "write/precondition-failed": withReason(
    status.FAILED_PRECONDITION,
    "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE",
  ),
  "store/conflict": withReason(status.UNAVAILABLE, "ERROR_REASON_SERIALIZATION_FAILURE"),
  "request/cancelled": plain(status.CANCELLED),
};

/** The SpiceDB status of a Latch error (not an unexpected one: those are INTERNAL with a request id). */
export function spiceStatusOf(error: ErrorFacts): SpiceStatus {
  const rule = RULES[error.code as ErrorCode]?.(error);
  const message = error.message;
  return rule === undefined ? { code: statusForKind(error.kind), message } : { ...rule, message };
}

/** The google.rpc.Status SpiceDB sends: in `grpc-status-details-bin`, or per item of a bulk check. */
export function rpcStatus(s: SpiceStatus): Status {
  const details =
    s.reason === undefined
      ? []
      : [
          anyPack(
            ErrorInfoSchema,
            create(ErrorInfoSchema, { reason: s.reason, domain: ERROR_DOMAIN, metadata: { ...s.metadata } }),
          ),
        ];
  return create(StatusSchema, { code: s.code, message: s.message, details });
}

/**
 * A bulk check item's error as its google.rpc.Status. Items fail only for what they asked (their
 * input against the schema), so an error whose kind is not known is the caller's.
 */
export function itemStatus(error: CheckBulkItemError): Status {
  const s = spiceStatusOf({
    code: error.code,
    kind: error.kind ?? "invalid-argument",
    message: error.message,
    details: error.details ?? {},
  });
  return rpcStatus({ ...s, message: boundStatusMessage(s.message) });
}

function wire(s: SpiceStatus, requestId: string, errorCode: string, unexpected: boolean): WireError {
  const message = boundStatusMessage(s.message);
  const metadata = new Metadata();
  metadata.set("latch-request-id", requestId);
  metadata.set("latch-error-code", clip(errorCode));
  if (s.reason !== undefined) {
    metadata.set(
      "grpc-status-details-bin",
      Buffer.from(toBinary(StatusSchema, rpcStatus({ ...s, message }))),
    );
  }
  return { code: s.code, details: message, metadata, unexpected, errorCode };
}

/** The adapter's error mapper for authzed.api.v1 services (AdapterOptions.toWireError). */
export function toAuthzedWireError(error: unknown, requestId: string): WireError {
  if (error instanceof AuthzedError) {
    return wire(
      { code: error.code, message: error.message, reason: error.reason, metadata: error.metadata },
      requestId,
      error.code === status.UNIMPLEMENTED ? "authzed/unimplemented" : "authzed/error",
      false,
    );
  }
  if (isLatchError(error) && error.kind !== "internal") {
    return wire(spiceStatusOf(error), requestId, error.code, false);
  }
  const code = isLatchError(error) ? error.code : "internal/unexpected";
  return wire(
    { code: status.INTERNAL, message: `internal error (request id ${requestId})` },
    requestId,
    code,
    true,
  );
}
