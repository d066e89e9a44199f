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
  | "internal";

export interface ErrorDetails {
  readonly [key: string]: unknown;
}

export class LatchError extends Error {
  override readonly name: string = "LatchError";
  readonly code: string;
  readonly kind: ErrorKind;
  readonly details: ErrorDetails;

  constructor(
    code: string,
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

export function isLatchError(value: unknown): value is LatchError {
  return value instanceof LatchError;
}
