/**
 * Serves the same handlers as gRPC in the Connect protocol (@connectrpc/connect-node): JSON or
 * binary over HTTP/1.1 or HTTP/2, for browsers, scripts and `curl`. Connect decodes and encodes
 * the messages with the same protobuf-es descriptors; this adapter gives each handler the call
 * context the gRPC wrapper gives (http-call.ts) and turns what a handler throws into a
 * ConnectError: the status code (Connect's codes are gRPC's), the message, and Latch's error code,
 * request id and details, both as response headers (as the gRPC trailers carry them) and as a
 * `google.protobuf.Struct` error detail, which the JSON error body shows under `debug`.
 */
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { type Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { status } from "@grpc/grpc-js";
import { isLatchError } from "../core/index.js";
import type { AdapterOptions, CallContext } from "./grpc-adapter.js";
import { cancelledError, deadlineError, HttpCall } from "./http-call.js";
import type { ServedService } from "./services.js";
import { createStreamPacer } from "./stream-pacing.js";

/** Connect aborts its signal with its own errors; handlers see Latch's (deadline or cancelled). */
function latchSignal(from: AbortSignal): AbortSignal {
  const c = new AbortController();
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

function callOf(hctx: HandlerContext, options: AdapterOptions): HttpCall {
  return new HttpCall(
    `${hctx.service.typeName}/${hctx.method.name}`,
    options,
    () => hctx.requestHeader.entries(),
    hctx.requestHeader.get("x-request-id"),
    latchSignal(hctx.signal),
  );
}

/** The ConnectError a failure becomes, logged and counted. Connect's own errors pass unchanged. */
function connectErrorOf(call: HttpCall, error: unknown): ConnectError {
  if (error instanceof ConnectError) {
    // Raised by Connect itself (a body too large, JSON that does not parse), or by the gate.
    call.failAs(error.code as number as status);
    return error;
  }
  const wire = call.fail(error);
  const details: JsonObject = { code: wire.errorCode, requestId: call.requestId };
  if (wire.detailsJson !== undefined) details.details = JSON.parse(wire.detailsJson) as JsonObject;
  return new ConnectError(
    wire.details,
    wire.code as number as Code,
    { "latch-error-code": wire.errorCode, "latch-request-id": call.requestId },
    [{ desc: StructSchema, value: fromJson(StructSchema, details) }],
  );
}

/** Whether `signal` was aborted because the call's deadline passed (not a cancel or shutdown). */
export function abortedByDeadline(signal: AbortSignal): boolean {
  return signal.aborted && isLatchError(signal.reason) && signal.reason.code === "request/deadline-exceeded";
}

/** The token check, before Connect reads the body: for the router's `requestGate`. */
export function connectGate(
  authenticate: (metadata: CallContext["metadata"]) => void,
  options: AdapterOptions,
): (hctx: HandlerContext) => void {
  return (hctx) => {
    const call = callOf(hctx, options);
    try {
      authenticate(call.metadata);
    } catch (error) {
      // The refused body is never read: without this Node would drain it (however long it is)
      // to keep the connection alive; closed, it is cut once the answer is out.
      hctx.responseHeader.set("connection", "close");
      throw connectErrorOf(call, error);
    }
  };
}

type AnyHandler = (request: unknown, ctx: CallContext) => unknown;

/** The Connect implementation of one served service: its handlers, each in the call wrapper. */
export function connectImplementation(
  served: ServedService,
  options: AdapterOptions,
): Record<string, (request: unknown, hctx: HandlerContext) => unknown> {
  const out: Record<string, (request: unknown, hctx: HandlerContext) => unknown> = {};
  for (const m of served.service.methods) {
    const handler = (served.impl as Record<string, AnyHandler>)[m.localName];
    if (typeof handler !== "function") throw new Error(`no handler for ${served.service.typeName}/${m.name}`);
    if (m.methodKind === "server_streaming") {
      out[m.localName] = async function* (request, hctx) {
        const call = callOf(hctx, options);
        const pacer = createStreamPacer();
        try {
          for await (const item of handler(request, call) as AsyncIterable<unknown>) {
            if (call.aborted) throw call.signal.reason;
            yield item;
            // Connect writes without waiting for a fast reader: the stream yields on its own.
            await pacer.afterMessage();
          }
          // A handler that stops at the abort (a Watch) ends its stream; cut by the deadline, the
          // call failed (DEADLINE_EXCEEDED, as on gRPC), it did not end cleanly.
          if (abortedByDeadline(call.signal)) throw call.signal.reason;
        } catch (error) {
          throw connectErrorOf(call, error);
        }
        call.succeed();
      };
    } else {
      out[m.localName] = async (request, hctx) => {
        const call = callOf(hctx, options);
        try {
          const response = await handler(request, call);
          call.succeed();
          return response;
        } catch (error) {
          throw connectErrorOf(call, error);
        }
      };
    }
  }
  return out;
}
