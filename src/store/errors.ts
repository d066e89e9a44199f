/**
 * Typed errors raised by every store backend. Codes are stable: callers, tests and the gRPC edge
 * match on `code`, never on message text.
 */
import { type ErrorCode, type ErrorDetails, type ErrorKind, LatchError } from "../core/index.js";

/** A relationship that the current schema does not allow (or that is malformed). */
export class RelationshipValidationError extends LatchError {
  override readonly name: string = "RelationshipValidationError";
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: ErrorOptions) {
    super(code, "invalid-argument", message, details, options);
  }
}

/** Anything else a store refuses: preconditions, limits, missing schema, orphaning, tokens, cursors. */
export class StoreError extends LatchError {
  override readonly name: string = "StoreError";
  constructor(
    code: ErrorCode,
    kind: ErrorKind,
    message: string,
    details: ErrorDetails = {},
    options?: ErrorOptions,
  ) {
    super(code, kind, message, details, options);
  }
}
