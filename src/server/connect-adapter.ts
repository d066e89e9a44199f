/**
 * Serves the same handlers as gRPC in the Connect protocol (@connectrpc/connect-node): JSON or
 * binary over HTTP/1.1 or HTTP/2, for browsers, scripts and `curl`. Connect decodes and encodes
 * the messages with the same protobuf-es descriptors; this adapter gives each handler the call
 * context the gRPC wrapper gives (request id, cancellation, caller, logs and metrics) and turns
 * what a handler throws into a ConnectError: the status code (Connect's codes are gRPC's), the
 * message, and Latch's error code, request id and details both as response headers (as the gRPC
 * trailers carry them) and as a `google.protobuf.Struct` error detail in the JSON body.
 */
import { randomUUID } from "node:crypto";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { type Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Metadata, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { LatchError } from "../core/index.js";
import type { RequestOptions } from "../engine/index.js";
import { toWireError } from "./errors.js";
import type { AdapterOptions, CallContext } from "./grpc-adapter.js";
import type { ServedService } from "./services.js";

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The request headers as gRPC metadata, which handlers, auth and routing read. */
export function metadataOfHeaders(headers: Headers): Metadata {
  const metadata = new Metadata();
  headers.forEach((value, key) => {
    // Metadata refuses keys gRPC would not send (and wants Buffers for `-bin` ones): skip those.
    if (key.endsWith("-bin")) return;
    try {
      metadata.add(key, value);
    } catch {
      // Not a header any handler reads.
    }
  });
  return metadata;
}

const cancelledError = () =>
  new LatchError("request/cancelled", "deadline-exceeded", "the call was cancelled");
const deadlineError = () =>
  new LatchError("request/deadline-exceeded", "deadline-exceeded", "deadline exceeded");

/** One Connect call, as handlers see it. Everything is made on first use, as in grpc-adapter.ts. */
class ConnectCall implements CallContext, RequestOptions {
  private readonly started = performance.now();
  private md: Metadata | undefined;
  private id: string | undefined;
  private controller: AbortController | undefined;
  private child: Logger | undefined;

  constructor(
    private readonly hctx: HandlerContext,
    readonly method: string,
    private readonly options: AdapterOptions,
  ) {}

  get metadata(): Metadata {
    this.md ??= metadataOfHeaders(this.hctx.requestHeader);
    return this.md;
  }

  get requestId(): string {
    if (this.id === undefined) {
      const given = this.hctx.requestHeader.get("x-request-id");
      this.id = given !== null && REQUEST_ID.test(given) ? given : randomUUID();
    }
    return this.id;
  }

  get caller(): string | undefined {
    return this.options.callerOf?.(this.metadata);
  }

  get requestOptions(): RequestOptions {
    return this;
  }

  /** Connect aborts its signal with its own errors; handlers see Latch's (deadline or cancelled). */
  get signal(): AbortSignal {
    if (this.controller !== undefined) return this.controller.signal;
    const c = new AbortController();
    this.controller = c;
    const from = this.hctx.signal;
    const abort = () =>
      c.abort(
        from.reason instanceof ConnectError && from.reason.code === (status.DEADLINE_EXCEEDED as number)
          ? deadlineError()
          : cancelledError(),
      );
    if (from.aborted) abort();
    else from.addEventListener("abort", abort, { once: true });
    return c.signal;
  }

  get aborted(): boolean {
    return this.hctx.signal.aborted;
  }

  get log(): Logger {
    this.child ??= this.options.log.child({ requestId: this.requestId, method: this.method });
    return this.child;
  }

  private seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  succeed(): void {
    const seconds = this.seconds();
    if (this.options.log.isLevelEnabled("debug")) this.log.debug({ code: "OK", ms: seconds * 1000 }, "call");
    this.options.observer?.onCallEnd({ method: this.method, code: status.OK, seconds });
  }

  /** Logs and counts a failure; returns what the client gets. */
  fail(error: unknown): ConnectError {
    return connectErrorOf(error, this.requestId, this.method, this.seconds(), this.log, this.options);
  }
}

/**
 * The ConnectError a failure becomes, logged and counted as the gRPC wrapper does. Errors Connect
 * raised itself (a body too large, JSON that does not parse) pass through unchanged.
 */
export function connectErrorOf(
  error: unknown,
  requestId: string,
  method: string,
  seconds: number,
  log: Logger,
  options: Pick<AdapterOptions, "observer">,
): ConnectError {
  if (error instanceof ConnectError) {
    options.observer?.onCallEnd({ method, code: error.code as number as status, seconds });
    return error;
  }
  const wire = toWireError(error, requestId);
  const fields = { code: status[wire.code], errorCode: wire.errorCode, ms: seconds * 1000 };
  if (wire.unexpected) log.error({ ...fields, err: error }, "call failed unexpectedly");
  else log.info({ ...fields, message: wire.details }, "call failed");
  options.observer?.onCallEnd({ method, code: wire.code, seconds });
  const details: JsonObject = { code: wire.errorCode, requestId };
  if (wire.detailsJson !== undefined) details.details = JSON.parse(wire.detailsJson) as JsonObject;
  return new ConnectError(
    wire.details,
    wire.code as number as Code,
    { "latch-error-code": wire.errorCode, "latch-request-id": requestId },
    [{ desc: StructSchema, value: fromJson(StructSchema, details) }],
  );
}

type AnyHandler = (request: unknown, ctx: CallContext) => unknown;

/** The token check, before Connect reads the body: for the router's `requestGate`. */
export function connectGate(
  authenticate: (metadata: Metadata) => void,
  options: Pick<AdapterOptions, "log" | "observer">,
): (hctx: HandlerContext) => void {
  return (hctx) => {
    const call = new ConnectCall(hctx, `${hctx.service.typeName}/${hctx.method.name}`, options);
    try {
      authenticate(call.metadata);
    } catch (error) {
      throw call.fail(error);
    }
  };
}

/** The Connect implementation of one served service: its handlers, each in the call wrapper. */
export function connectImplementation(
  served: ServedService,
  options: AdapterOptions,
): Record<string, (request: unknown, hctx: HandlerContext) => unknown> {
  const out: Record<string, (request: unknown, hctx: HandlerContext) => unknown> = {};
  for (const m of served.service.methods) {
    const method = `${served.service.typeName}/${m.name}`;
    const handler = (served.impl as Record<string, AnyHandler>)[m.localName];
    if (typeof handler !== "function") throw new Error(`no handler for ${method}`);
    if (m.methodKind === "server_streaming") {
      out[m.localName] = async function* (request, hctx) {
        const call = new ConnectCall(hctx, method, options);
        try {
          for await (const item of handler(request, call) as AsyncIterable<unknown>) {
            if (call.aborted) throw call.signal.reason;
            yield item;
          }
        } catch (error) {
          throw call.fail(error);
        }
        call.succeed();
      };
    } else {
      out[m.localName] = async (request, hctx) => {
        const call = new ConnectCall(hctx, method, options);
        try {
          const response = await handler(request, call);
          call.succeed();
          return response;
        } catch (error) {
          throw call.fail(error);
        }
      };
    }
  }
  return out;
}
