/**
 * Every error Latch raises on purpose is a LatchError with a stable `code`. Codes are part of the
 * contract: tests, logs and the gRPC edge match on them, never on message text. Only the server
 * edge maps them to wire status codes.
 */
export type ErrorKind =
  /** The caller sent something malformed or inconsistent with the schema. */
  | "invalid-argument"
  /** The request is well-formed but the system state refuses it (precondition, orphaning, depth). */
  | "failed-precondition"
  | "not-found"
  | "already-exists"
  /** Over a configured limit (batch size, message size, cost). */
  | "resource-exhausted"
  | "deadline-exceeded"
  | "unavailable"
  | "unauthenticated"
  /** Authenticated, but what the request claims contradicts what was verified (an actor token). */
  | "permission-denied"
  | "internal";

import type { AnyErrorCode, ErrorCode } from "./error-codes.js";

export interface ErrorDetails {
  readonly [key: string]: unknown;
}

/**
 * The brand that marks a LatchError. `Symbol.for` gives every copy of the package (two versions in
 * one dependency tree, or one bundled twice) the same symbol, so `isLatchError` recognises errors
 * from another copy, where `instanceof` would compare two different classes and say no.
 */
const LATCH_ERROR_BRAND: unique symbol = Symbol.for("latch.LatchError");

/**
 * `Code` is `ErrorCode` for every error this copy raises: the constructor takes only a listed code
 * (NoInfer: a literal at a raise site does not widen the type to itself). RemoteError, which
 * carries whatever the server sent, widens it to AnyErrorCode.
 */
export class LatchError<Code extends AnyErrorCode = ErrorCode> extends Error {
  override readonly name: string = "LatchError";
  readonly code: Code;
  readonly kind: ErrorKind;
  readonly details: ErrorDetails;

  constructor(
    code: NoInfer<Code>,
    kind: ErrorKind,
    message: string,
    details: ErrorDetails = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.kind = kind;
    this.details = details;
  }
}

// On the prototype, not each instance: nothing to copy per error, and the brand stays out of
// own-property comparisons and serialisation.
Object.defineProperty(LatchError.prototype, LATCH_ERROR_BRAND, { value: true });

/**
 * Whether `value` is a LatchError of any copy of Latch. It narrows to LatchError, code ErrorCode,
 * for the common case (one version, loaded twice); a RemoteError, or an error of another version,
 * may still carry a code this copy does not list, so a `switch` on the code keeps a default.
 */
export function isLatchError(value: unknown): value is LatchError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { [LATCH_ERROR_BRAND]?: unknown })[LATCH_ERROR_BRAND] === true
  );
}
