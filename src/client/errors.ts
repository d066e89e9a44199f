/** gRPC failures become LatchErrors again on the client, with the server's stable code. */
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { type AnyErrorCode, type ErrorKind, LatchError } from "../core/index.js";

const KIND_BY_STATUS: Partial<Record<status, ErrorKind>> = {
  [status.INVALID_ARGUMENT]: "invalid-argument",
  [status.FAILED_PRECONDITION]: "failed-precondition",
  [status.NOT_FOUND]: "not-found",
  [status.ALREADY_EXISTS]: "already-exists",
  [status.RESOURCE_EXHAUSTED]: "resource-exhausted",
  [status.DEADLINE_EXCEEDED]: "deadline-exceeded",
  [status.CANCELLED]: "deadline-exceeded",
  [status.UNAVAILABLE]: "unavailable",
  [status.UNAUTHENTICATED]: "unauthenticated",
  [status.PERMISSION_DENIED]: "permission-denied",
  [status.UNIMPLEMENTED]: "failed-precondition",
};

/**
 * A failure reported by the server (or the channel), as a LatchError. Its code comes off the wire:
 * a server of another version may send one this client does not list, and a channel failure is
 * `grpc/<status>`, hence AnyErrorCode.
 */
export class RemoteError extends LatchError<AnyErrorCode> {
  override readonly name = "RemoteError";
  /** The gRPC status code. */
  readonly status: status;
  constructor(
    code: AnyErrorCode,
    kind: ErrorKind,
    message: string,
    grpcStatus: status,
    details: Record<string, unknown>,
  ) {
    super(code, kind, message, details);
    this.status = grpcStatus;
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number";
}

/** Reads one metadata value (gRPC metadata or HTTP/2 trailers) by its lower-case key. */
export type MetadataLookup = (key: string) => string | Buffer | undefined;

/**
 * The RemoteError for a failed call, from its gRPC status code, status message and metadata: the
 * server's Latch code, request id and details when it sent them, else `grpc/<status>`. Shared by
 * the grpc-js and the node:http2 transports so that both fail the same way.
 */
export function remoteError(statusCode: number, message: string, lookup: MetadataLookup): RemoteError {
  const code = lookup("latch-error-code");
  const requestId = lookup("latch-request-id");
  const raw = lookup("latch-error-details-bin");
  let details: Record<string, unknown> = {};
  if (raw instanceof Buffer) {
    try {
      details = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    } catch {
      details = {};
    }
  }
  return new RemoteError(
    typeof code === "string" ? code : `grpc/${status[statusCode]?.toLowerCase() ?? statusCode}`,
    KIND_BY_STATUS[statusCode as status] ?? "internal",
    message,
    statusCode,
    { ...details, ...(typeof requestId === "string" ? { requestId } : {}) },
  );
}

export function fromServiceError(error: unknown): unknown {
  if (!isServiceError(error)) return error;
  const metadata = error.metadata instanceof Metadata ? error.metadata : new Metadata();
  return remoteError(error.code, error.details || error.message, (key) => {
    const value = metadata.get(key)[0];
    return typeof value === "string" || value instanceof Buffer ? value : undefined;
  });
}
