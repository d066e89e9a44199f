/**
 * The one place where Latch's typed errors become gRPC status codes. Everything inside the server
 * throws LatchError (or lets something unexpected escape); this module decides what the caller sees.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { type ErrorKind, isLatchError, LatchError } from "../core/index.js";

const STATUS_BY_KIND: Readonly<Record<ErrorKind, status>> = {
  "invalid-argument": status.INVALID_ARGUMENT,
  "failed-precondition": status.FAILED_PRECONDITION,
  "not-found": status.NOT_FOUND,
  "already-exists": status.ALREADY_EXISTS,
  "resource-exhausted": status.RESOURCE_EXHAUSTED,
  "deadline-exceeded": status.DEADLINE_EXCEEDED,
  unavailable: status.UNAVAILABLE,
  unauthenticated: status.UNAUTHENTICATED,
  internal: status.INTERNAL,
};

export function statusForKind(kind: ErrorKind): status {
  return STATUS_BY_KIND[kind] ?? status.INTERNAL;
}

/** What a failed call answers: code, message and trailing metadata. */
export interface WireError {
  readonly code: status;
  readonly details: string;
  readonly metadata: Metadata;
  /** Whether this was an unexpected failure whose real cause must be logged, not sent. */
  readonly unexpected: boolean;
  /** Latch's stable error code, for logs and metrics. */
  readonly errorCode: string;
}

interface Diagnostic {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly message?: string;
}

function diagnosticsOf(error: LatchError): readonly Diagnostic[] {
  const own = (error as { diagnostics?: unknown }).diagnostics;
  const list = Array.isArray(own) ? own : error.details.diagnostics;
  return Array.isArray(list) ? (list as Diagnostic[]) : [];
}

function formatDiagnostic(d: Diagnostic): string {
  const where = [d.file ?? "schema", d.line, d.column].filter((x) => x !== undefined).join(":");
  return `${where}: ${d.message ?? "error"}`;
}

/** Makes an error message that says which field was wrong and why, and where in a schema. */
function describe(error: LatchError): string {
  let text = error.message;
  const field = error.details.field;
  if (typeof field === "string" && !text.includes(field)) text = `${field}: ${text}`;
  const diagnostics = diagnosticsOf(error);
  const lines = diagnostics.map(formatDiagnostic).filter((line) => !text.includes(line));
  if (lines.length > 0) text = `${text}\n${lines.join("\n")}`;
  return text;
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? "null",
  );
}

/** Grpc metadata values must be ASCII; strings with anything else travel in a `-bin` key. */
function errorMetadata(code: string, details: unknown, requestId: string): Metadata {
  const metadata = new Metadata();
  metadata.set("latch-error-code", code);
  metadata.set("latch-request-id", requestId);
  try {
    metadata.set("latch-error-details-bin", Buffer.from(JSON.stringify(jsonSafe(details)), "utf8"));
  } catch {
    // Details that do not serialise are only a convenience; the message already says enough.
  }
  return metadata;
}

export function toWireError(error: unknown, requestId: string): WireError {
  if (isLatchError(error) && error.kind !== "internal") {
    const diagnostics = diagnosticsOf(error);
    const details = diagnostics.length > 0 ? { ...error.details, diagnostics } : error.details;
    return {
      code: statusForKind(error.kind),
      details: describe(error),
      metadata: errorMetadata(error.code, details, requestId),
      unexpected: false,
      errorCode: error.code,
    };
  }
  const code = isLatchError(error) ? error.code : "internal/unexpected";
  return {
    code: status.INTERNAL,
    details: `internal error (request id ${requestId})`,
    metadata: errorMetadata(code, {}, requestId),
    unexpected: true,
    errorCode: code,
  };
}

/** Errors the server raises itself for malformed requests, before anything reaches the engine. */
export class RequestError extends LatchError {
  override readonly name = "RequestError";
}

export function invalidArgument(
  field: string,
  reason: string,
  details: Record<string, unknown> = {},
): RequestError {
  return new RequestError("request/invalid-argument", "invalid-argument", `${field}: ${reason}`, {
    field,
    reason,
    ...details,
  });
}

export function overLimit(field: string, limit: number, got: number): RequestError {
  return new RequestError(
    "request/over-limit",
    "resource-exhausted",
    `${field}: ${got} items is over the limit of ${limit}`,
    { field, limit, got },
  );
}
