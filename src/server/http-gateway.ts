/**
 * SpiceDB's HTTP gateway on Latch's HTTP port: `POST /v1/permissions/check` and the other routes
 * of gateway-routes.ts, with the JSON body read as the method's request message (protojson, as
 * protobuf-es reads it; unknown fields are skipped, as SpiceDB's gateway does) and the answer
 * written as JSON. The handlers are the ones gRPC serves, found by service and method name, so
 * whatever authzed.api.v1 implements is reachable here too, with the same token and limits.
 *
 * What the gateway conventions fix (grpc-gateway's, which SpiceDB uses): an error is the
 * google.rpc.Status as JSON (`{code, message, details}`, its ErrorInfo in `details`) with the HTTP
 * status of its code; a server stream is one JSON object per line, `{"result": ...}` for each
 * message and `{"error": ...}` if it fails; a client stream (bulk import) reads the body as a
 * sequence of JSON messages.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  create,
  createRegistry,
  type DescFile,
  type DescMessage,
  type DescMethod,
  fromBinary,
  fromJson,
  type JsonObject,
  type JsonValue,
  type MessageInitShape,
  type Registry,
  toJson,
} from "@bufbuild/protobuf";
import { LatchError } from "../core/index.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status, StatusSchema } from "../gen/google/rpc/status_pb.js";
import { abortedByDeadline } from "./connect-adapter.js";
import type { WireError } from "./errors.js";
import { type GatewayRoute, httpStatusOf } from "./gateway-routes.js";
import type { AdapterOptions, CallContext } from "./grpc-adapter.js";
import { cancelledError, deadlineError, HttpCall } from "./http-call.js";
import { closeOnceAnswered } from "./http-close.js";
import { type HttpRoutes, MAX_TIMER_MS } from "./http-server.js";
import { listElements, type Span, splitJsonValues } from "./json-text.js";
import { listFieldsOf, listsOf, piecesOf, withoutLists } from "./paced-encoding.js";
import type { ServedService } from "./services.js";
import { createStreamPacer, type StreamPacer } from "./stream-pacing.js";
import { onlyListField } from "./wire-scan.js";

export interface GatewayOptions {
  readonly routes: readonly GatewayRoute[];
  /** Where the routes' handlers are found (by service type name and method name). */
  readonly services: readonly ServedService[];
  readonly adapter: AdapterOptions;
  /** Throws an `unauthenticated` LatchError for a call without a valid token (auth.ts). */
  readonly authenticate: (metadata: CallContext["metadata"]) => void;
  /** The largest request body, in bytes (--max-message-bytes). */
  readonly maxBodyBytes: number;
  /** What `GET /healthz` answers: whether the server serves (false while the datastore is down). */
  readonly serving: () => boolean;
}

type AnyHandler = (request: unknown, ctx: CallContext) => unknown;

interface Endpoint {
  readonly name: string;
  readonly method: DescMethod;
  readonly handler: AnyHandler;
  readonly toWireError: ((error: unknown, requestId: string) => WireError) | undefined;
}

/** Every file the services' messages come from, so that `Any` fields (error details) print. */
function registryOf(services: readonly ServedService[]): Registry {
  const files = new Set<DescFile>();
  const add = (file: DescFile) => {
    if (files.has(file)) return;
    files.add(file);
    for (const d of file.dependencies) add(d);
  };
  for (const s of services) add(s.service.file);
  add(file_google_rpc_status);
  add(file_google_rpc_error_details);
  return createRegistry(...files);
}

/**
 * `null` for each message field left unset, at every level, as grpc-gateway's marshaler writes
 * them (protojson's EmitUnpopulated; oneof members stay out, as there). protobuf-es's
 * `alwaysEmitImplicit` writes the scalars; the well-known types keep their own JSON forms.
 */
export function withUnsetAsNull(desc: DescMessage, json: JsonValue): JsonValue {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return json;
  if (desc.typeName.startsWith("google.protobuf.")) return json;
  for (const field of desc.fields) {
    const key = field.jsonName;
    const value = json[key];
    if (field.fieldKind === "message") {
      if (value === undefined) {
        if (field.oneof === undefined) json[key] = null;
      } else json[key] = withUnsetAsNull(field.message, value);
    } else if (field.fieldKind === "list" && field.listKind === "message" && Array.isArray(value)) {
      json[key] = value.map((item) => withUnsetAsNull(field.message, item));
    } else if (
      field.fieldKind === "map" &&
      field.mapKind === "message" &&
      value !== undefined &&
      value !== null
    ) {
      const entries = value as Record<string, JsonValue>;
      for (const k of Object.keys(entries)) entries[k] = withUnsetAsNull(field.message, entries[k]!);
    }
  }
  return json;
}

function endpoints(options: GatewayOptions): Map<string, Endpoint> {
  const out = new Map<string, Endpoint>();
  for (const r of options.routes) {
    const served = options.services.find((s) => s.service.typeName === r.service);
    const method = served?.service.methods.find((m) => m.name === r.method);
    const handler =
      method === undefined ? undefined : (served!.impl as Record<string, unknown>)[method.localName];
    if (served === undefined || method === undefined || typeof handler !== "function")
      throw new Error(`gateway route ${r.path}: no handler for ${r.service}/${r.method}`);
    out.set(r.path, {
      name: `${r.service}/${r.method}`,
      method,
      handler: handler as AnyHandler,
      toWireError: served.toWireError,
    });
  }
  return out;
}

const JSON_TYPE = { "content-type": "application/json" };

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/**
 * The `Grpc-Timeout` header the gateway takes as the call's deadline (gRPC's form: up to 8 digits
 * and a unit, H M S m u n), in ms; undefined when absent. At most 2^31-1 ms (24.8 days): Node fires
 * a longer timer after 1 ms, and a deadline that far off is as good as none.
 */
export function grpcTimeoutMs(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(Array.isArray(header) ? (header[0] ?? "") : header.trim());
  if (m === null) {
    throw new LatchError(
      "request/invalid-argument",
      "invalid-argument",
      `Grpc-Timeout must be up to 8 digits and a unit (H, M, S, m, u, n), e.g. 500m; got "${String(header).slice(0, 32)}"`,
      { field: "Grpc-Timeout" },
    );
  }
  return Math.min(Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!, MAX_TIMER_MS);
}

function malformed(typeName: string, reason: string): LatchError {
  return new LatchError(
    "http/malformed-json",
    "invalid-argument",
    `the request body is not JSON of ${typeName} (${reason.slice(0, 300)}): send its fields in protobuf's JSON form, e.g. {"resource": {"objectType": "document", "objectId": "x"}}`,
    { messageType: typeName },
  );
}

/**
 * The body, refused past `max` bytes (whatever Content-Length says) before it is all read. Read by
 * events, not `for await`: leaving that loop early destroys the request, and with it the socket,
 * before the refusal is written.
 */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = () =>
    new LatchError(
      "http/body-too-large",
      "resource-exhausted",
      `the request body is over the limit of ${max} bytes (--max-message-bytes)`,
      { limit: max },
    );
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: unknown, body?: Buffer) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
      if (error === undefined) resolve(body!);
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) settle(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => settle(undefined, Buffer.concat(chunks));
    const onError = (error: unknown) => settle(error);
    // A client gone before the end: the call's own cancel (res "close") says so.
    const onClose = () => settle(cancelledError());
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** The request of a unary or server-streaming call: the body's one JSON value. */
function requestOf(endpoint: Endpoint, body: Buffer, registry: Registry): unknown {
  const text = body.toString("utf8");
  return messageOf(endpoint, parsed(endpoint, text.trim() === "" ? "{}" : text), registry);
}

/** A scan of the body (json-text.ts) run to its end, the pacer between its steps. */
async function paced<T>(scan: Generator<void, T>, pacer: StreamPacer): Promise<T> {
  for (;;) {
    const step = scan.next();
    if (step.done === true) return step.value;
    await pacer.afterMessage();
  }
}

/** Where each of a client stream's JSON values lies in the body, not parsed. */
async function valuesOf(endpoint: Endpoint, body: Buffer, pacer: StreamPacer): Promise<Span[]> {
  try {
    return await paced(splitJsonValues(body), pacer);
  } catch (error) {
    throw malformed(endpoint.method.input.typeName, error instanceof Error ? error.message : String(error));
  }
}

function parsed(endpoint: Endpoint, text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw malformed(endpoint.method.input.typeName, error instanceof Error ? error.message : String(error));
  }
}

function messageOf(endpoint: Endpoint, value: JsonValue, registry: Registry): unknown {
  const input = endpoint.method.input;
  try {
    return fromJson(input, value, { ignoreUnknownFields: true, registry });
  } catch (error) {
    throw malformed(input.typeName, error instanceof Error ? error.message : String(error));
  }
}

/** Items of a client stream's one-list message read as one message (grpc-adapter.ts reads parts of 16 KiB). */
const LIST_PART = 200;

/**
 * A client stream's messages, read as the handler asks: a message that is only its list (an
 * import) parsed and converted in parts of LIST_PART items (`listElements`), the stream pacer
 * between, so that neither JSON.parse nor protobuf-es reads a 4 MiB body in one go.
 */
async function* streamedRequestsOf(
  endpoint: Endpoint,
  body: Buffer,
  registry: Registry,
): AsyncIterable<unknown> {
  const field = onlyListField(endpoint.method.input);
  const pacer = createStreamPacer();
  for (const [start, end] of await valuesOf(endpoint, body, pacer)) {
    const list = field === undefined ? undefined : await paced(listElements(body, start, end), pacer);
    if (
      field === undefined ||
      list === undefined ||
      (list.key !== field.jsonName && list.key !== field.name)
    ) {
      yield messageOf(endpoint, parsed(endpoint, body.toString("utf8", start, end)), registry);
      continue;
    }
    const { bounds } = list;
    for (let i = 0; i < bounds.length; i += 2 * LIST_PART) {
      const last = Math.min(i + 2 * LIST_PART, bounds.length) - 1;
      const items = parsed(endpoint, `[${body.toString("utf8", bounds[i], bounds[last])}]`);
      yield messageOf(endpoint, { [field.jsonName]: items }, registry);
      await pacer.afterMessage();
    }
  }
}

/**
 * Until the response drains or closes, or the call is aborted (its deadline passed while the
 * reader stopped reading: the loop then ends the call rather than wait for the socket's idle
 * timeout); every listener goes with any of them (a long export waits often).
 */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
    signal.addEventListener("abort", done);
  });
}

export function createGateway(options: GatewayOptions): HttpRoutes {
  const registry = registryOf(options.services);
  const byPath = endpoints(options);
  const writeOptions = { alwaysEmitImplicit: true, registry } as const;
  const resultJson = (endpoint: Endpoint, result: unknown) => {
    const output = endpoint.method.output;
    return withUnsetAsNull(
      output,
      toJson(output, create(output, result as MessageInitShape<never>), writeOptions),
    );
  };

  /**
   * A server stream's message as JSON: a large list's elements converted a piece at a time, the
   * pacer asked between (paced-encoding.ts does the same for gRPC); the same JSON as `resultJson`.
   */
  const streamedJson = async (endpoint: Endpoint, item: unknown, pacer: StreamPacer): Promise<JsonValue> => {
    const fields = listFieldsOf(endpoint.method.output);
    const { lists, large } = listsOf(item, fields);
    if (!large) return resultJson(endpoint, item);
    // Every field but the lists, which alwaysEmitImplicit writes as [] in their places among the keys.
    const json = resultJson(endpoint, withoutLists(item, fields)) as JsonObject;
    for await (const piece of piecesOf(fields, lists, pacer)) {
      for (const { field, message } of piece) {
        (json[field.jsonName] as JsonValue[]).push(
          withUnsetAsNull(field.message, toJson(field.message, message, writeOptions)),
        );
      }
    }
    return json;
  };

  /** The google.rpc.Status of a failure as JSON: from its status details when it has them. */
  const statusJson = (wire: WireError): JsonValue => {
    const bin = wire.metadata.get("grpc-status-details-bin")[0];
    if (bin instanceof Buffer) {
      try {
        return toJson(StatusSchema, fromBinary(StatusSchema, bin), writeOptions);
      } catch {
        // A detail this registry cannot print: the code and message still say what happened.
      }
    }
    return { code: wire.code, message: wire.details, details: [] };
  };

  const errorHeaders = (wire: WireError, call: HttpCall) => ({
    ...JSON_TYPE,
    "latch-error-code": wire.errorCode,
    "latch-request-id": call.requestId,
  });

  async function serve(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort(cancelledError());
    });
    const call = new HttpCall(
      endpoint.name,
      options.adapter,
      () => Object.entries(req.headers).filter((e): e is [string, string | string[]] => e[1] !== undefined),
      req.headers["x-request-id"] as string | undefined,
      controller.signal,
    );
    let streaming = false;
    let deadline: NodeJS.Timeout | undefined;
    try {
      options.authenticate(call.metadata);
      const timeout = grpcTimeoutMs(req.headers["grpc-timeout"]);
      if (timeout !== undefined) deadline = setTimeout(() => controller.abort(deadlineError()), timeout);
      const body = await readBody(req, options.maxBodyBytes);
      const kind = endpoint.method.methodKind;
      if (kind === "server_streaming") {
        const pacer = createStreamPacer();
        for await (const item of endpoint.handler(
          requestOf(endpoint, body, registry),
          call,
        ) as AsyncIterable<unknown>) {
          if (call.aborted) throw call.signal.reason;
          if (!streaming) {
            res.writeHead(200, JSON_TYPE);
            streaming = true;
          }
          // Respect back-pressure: a slow reader must not make the server buffer a whole export.
          const result = await streamedJson(endpoint, item, pacer);
          if (!res.write(`${JSON.stringify({ result })}\n`)) {
            await drained(res, call.signal);
            if (call.aborted) throw call.signal.reason;
          }
          // And a fast one must not hold the event loop: a socket that takes a write at once emits
          // 'drain' on the next tick, not in a later turn, so waiting for it alone yields nothing.
          await pacer.afterMessage();
        }
        // A handler that stops at the abort (a Watch) ends its stream; cut by the deadline, the
        // call failed (DEADLINE_EXCEEDED, as on gRPC): the stream ends with the error line.
        if (abortedByDeadline(call.signal)) throw call.signal.reason;
        if (!streaming) res.writeHead(200, JSON_TYPE);
        res.end();
      } else {
        const input =
          kind === "client_streaming"
            ? streamedRequestsOf(endpoint, body, registry)
            : requestOf(endpoint, body, registry);
        const result = await endpoint.handler(input, call);
        const json = JSON.stringify(resultJson(endpoint, result));
        res.writeHead(200, JSON_TYPE);
        res.end(json);
      }
      call.succeed();
    } catch (error) {
      // The signal's reason (deadline or cancel) says more than whatever the handler made of it.
      const wire = call.fail(call.aborted ? call.signal.reason : error, endpoint.toWireError);
      if (res.destroyed) return;
      if (streaming) {
        res.end(`${JSON.stringify({ error: statusJson(wire) })}\n`);
        return;
      }
      const body =
        endpoint.method.methodKind === "server_streaming" ? { error: statusJson(wire) } : statusJson(wire);
      // A body left unread (refused before it was read) is not waited for: the connection closes.
      closeOnceAnswered(req, res);
      res.writeHead(httpStatusOf(wire.code), errorHeaders(wire, call));
      res.end(JSON.stringify(body));
    } finally {
      clearTimeout(deadline);
    }
  }

  return {
    handle(req, res) {
      const path = (req.url ?? "").split("?")[0]!;
      if (path === "/healthz" && req.method === "GET") {
        // As grpc-gateway's health endpoint answers (HealthCheckResponse as JSON), without a token.
        const serving = options.serving();
        res.writeHead(serving ? 200 : 503, JSON_TYPE);
        res.end(
          JSON.stringify(serving ? { status: "SERVING" } : { code: 14, message: "not serving", details: [] }),
        );
        return true;
      }
      const endpoint = byPath.get(path);
      if (endpoint === undefined) {
        if (!path.startsWith("/v1/")) return false;
        res.writeHead(404, JSON_TYPE);
        res.end(
          JSON.stringify({
            code: 5,
            message: `no SpiceDB gateway route at ${path}: the routes are POST /v1/permissions/check, /v1/relationships/write, /v1/schema/write ... (see docs/server.md)`,
            details: [],
          }),
        );
        return true;
      }
      if (req.method !== "POST") {
        res.writeHead(405, { ...JSON_TYPE, allow: "POST" });
        res.end(JSON.stringify({ code: 12, message: `${path} takes POST, not ${req.method}`, details: [] }));
        return true;
      }
      serve(endpoint, req, res).catch((error: unknown) => {
        // Only a failure to write the answer gets here; the call's own errors were answered.
        options.adapter.log.warn({ err: error, method: endpoint.name }, "gateway answer failed");
        res.destroy();
      });
      return true;
    },
  };
}
