/**
 * Unary gRPC calls over node:http2 directly, beside grpc-js (which keeps the streaming calls).
 *
 * Why: grpc-js spends more CPU per unary call than a Latch server answering a cached check does
 * (issue 22: about 2,300 client checks/s at 64 in flight against a server answering 13,500/s), so
 * the client, not the server, capped a pipeline. A unary gRPC call is one HTTP/2 request: headers,
 * one length-prefixed message, then the status in trailers (or in the headers of a
 * "trailers-only" answer). This transport writes and reads exactly that, with protobuf-es for the
 * messages, and keeps the behaviour of the grpc-js transport (transport.ts): deadlines sent as
 * `grpc-timeout` and enforced locally, cancellation from an AbortSignal, the bearer token, TLS with
 * a CA, retries of idempotent calls on UNAVAILABLE, and failures as the same RemoteError.
 *
 * Connections: one HTTP/2 session carries many calls; `connections` > 1 spreads calls over a pool
 * round-robin. A session that received GOAWAY, closed or failed is never picked again: the next
 * call connects anew, which is how the client comes back after a server restart. A call the server
 * refused unprocessed (REFUSED_STREAM, after GOAWAY) is retried whatever its idempotency, as the
 * server guarantees it did nothing. While calls are in flight, a ping every `keepaliveMs` checks
 * the peer: no answer within `keepaliveTimeoutMs` drops the session and its calls fail UNAVAILABLE
 * (then retried if idempotent). Idle sessions send no pings (grpc-js servers punish pings without
 * data), and are unref'd so an idle client does not keep the process alive.
 */
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from "node:http2";
import { create, type DescMethod, fromBinary, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { PermissionService } from "../gen/latch/v1/permission_service_pb.js";
import {
  decodeCheckBulkResponse,
  decodeCheckResponse,
  encodeCheckBulkRequest,
  encodeCheckRequest,
  frameOf,
} from "./check-codec.js";
import { deadlines } from "./deadline-wheel.js";
import { RemoteError, remoteError } from "./errors.js";
import type { UnaryTransport } from "./transport.js";
import { capture, localError, refused, UnaryCall } from "./unary-call.js";

export interface Http2TransportOptions {
  /** `host:port` */
  readonly address: string;
  readonly token?: string;
  /** TLS (`{}` for the system roots, or a CA and an optional client certificate); plaintext when absent. */
  readonly tls?: { readonly ca?: Buffer; readonly key?: Buffer; readonly cert?: Buffer };
  /** Default deadline of a call (ms). */
  readonly timeoutMs: number;
  /** Attempts for idempotent calls that fail with UNAVAILABLE. */
  readonly maxAttempts: number;
  /** Largest response message accepted, in bytes. */
  readonly maxMessageBytes: number;
  /** Most HTTP/2 sessions calls are spread over (default 1). */
  readonly connections?: number;
  /** Calls in flight on every open session before the pool opens another (default 64). */
  readonly streamsPerConnection?: number;
  /** Interval of keepalive pings while calls are in flight (ms, default 10 s). */
  readonly keepaliveMs?: number;
  /** How long a ping may go unanswered before the session is dropped (ms, default 5 s). */
  readonly keepaliveTimeoutMs?: number;
}

/** gRPC's mapping of HTTP status codes for answers that are not gRPC at all (a proxy's error page). */
export function statusOfHttp(httpStatus: number): status {
  if (httpStatus === 400) return status.INTERNAL;
  if (httpStatus === 401) return status.UNAUTHENTICATED;
  if (httpStatus === 403) return status.PERMISSION_DENIED;
  if (httpStatus === 404) return status.UNIMPLEMENTED;
  if (httpStatus === 429 || httpStatus === 502 || httpStatus === 503 || httpStatus === 504)
    return status.UNAVAILABLE;
  return status.UNKNOWN;
}

function headerText(headers: IncomingHttpHeaders, key: string): string | undefined {
  const value = headers[key];
  return Array.isArray(value) ? value[0] : value;
}

/** A failed call's RemoteError from its status headers; `-bin` values are base64 on the wire. */
export function statusError(code: number, headers: IncomingHttpHeaders): RemoteError {
  let message = headerText(headers, "grpc-message") ?? "";
  try {
    message = decodeURIComponent(message);
  } catch {
    // Not percent-encoded as the spec asks: shown as sent.
  }
  return remoteError(code, message, (key) => {
    const value = headerText(headers, key);
    if (value === undefined) return undefined;
    return key.endsWith("-bin") ? Buffer.from(value, "base64") : value;
  });
}

/**
 * A stream that ended without a gRPC status: refused after GOAWAY, reset by the peer, or lost with
 * its session (Node resets the streams of a lost session with CANCEL: that is UNAVAILABLE).
 */
export function streamError(
  rstCode: number | undefined,
  cause: string | undefined,
  sessionLost: boolean,
): RemoteError {
  if (rstCode === constants.NGHTTP2_REFUSED_STREAM) {
    const error = localError(status.UNAVAILABLE, "the server refused the call unprocessed (GOAWAY)");
    refused.add(error);
    return error;
  }
  if (rstCode === constants.NGHTTP2_CANCEL && cause === undefined && !sessionLost)
    return localError(status.CANCELLED, "the server cancelled the call");
  if (rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM && !sessionLost)
    return localError(status.RESOURCE_EXHAUSTED, "the server refused the call: too many requests");
  return localError(status.UNAVAILABLE, `connection lost before the answer${cause ? `: ${cause}` : ""}`);
}

/** A stream lost with its session; `wasRefused`: the server cannot have processed it. */
export function lostError(cause: string, wasRefused: boolean): RemoteError {
  const error = streamError(undefined, cause, true);
  if (wasRefused) refused.add(error);
  return error;
}

/** One HTTP/2 session and the calls in flight on it. */
class Connection {
  readonly session: ClientHttp2Session;
  inflight = 0;
  private pinging = false;
  private readonly keepalive: NodeJS.Timeout;
  /** Why the session was lost, for the calls that fail with it. */
  lost: string | undefined;

  constructor(
    authority: string,
    options: SecureClientSessionOptions,
    keepaliveMs: number,
    pingTimeoutMs: number,
  ) {
    const session = connect(authority, options);
    this.session = session;
    session.on("error", (error: Error) => {
      // Each call reports its own failure; this is what they report.
      this.lost = error.message;
    });
    session.on("goaway", (code: number) => {
      this.lost ??= `the server sent GOAWAY (code ${code})`;
    });
    session.on("close", () => clearInterval(this.keepalive));
    session.unref();
    this.keepalive = setInterval(() => this.ping(pingTimeoutMs), keepaliveMs);
    this.keepalive.unref();
  }

  /** False once GOAWAY arrived or the session closed or failed: new calls go elsewhere. */
  get usable(): boolean {
    const s = this.session;
    return this.lost === undefined && !s.closed && !s.destroyed;
  }

  started(): void {
    if (this.inflight++ === 0) this.session.ref();
  }

  ended(): void {
    if (--this.inflight === 0 && !this.session.destroyed) this.session.unref();
  }

  private ping(timeoutMs: number): void {
    if (this.inflight === 0 || this.pinging || this.session.destroyed) return;
    this.pinging = true;
    const drop = () => {
      this.lost = "keepalive ping unanswered";
      this.session.destroy();
    };
    const timer = setTimeout(drop, timeoutMs);
    timer.unref();
    const answered = (error: Error | null) => {
      clearTimeout(timer);
      this.pinging = false;
      if (error !== null && !this.session.destroyed) drop();
    };
    try {
      if (!this.session.ping(answered)) answered(null);
    } catch {
      answered(null);
    }
  }

  close(): void {
    clearInterval(this.keepalive);
    if (!this.session.closed) this.session.close();
  }
}

/**
 * The longest deadline (ms): Node's longest timer, about 24.8 days. A longer one would fire at once
 * in Node's setTimeout, here and in a Node server (a Latch server included), so it is cut to this.
 */
export const MAX_DEADLINE_MS = 2_147_483_647;

/** A `grpc-timeout` value, at most 8 digits: whole milliseconds, or seconds (rounded down) past that. */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole < 1e8 ? `${whole}m` : `${Math.floor(whole / 1000)}S`;
}

/** The one message of a unary answer; anything else is the server breaking the protocol. */
export function unframe(chunks: Buffer[]): Buffer | RemoteError {
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (body.length < 5) return localError(status.INTERNAL, "the server answered without a message");
  if (body[0] !== 0)
    return localError(status.INTERNAL, "the server sent a compressed message (none was asked)");
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length)
    return localError(status.INTERNAL, "the server's message is not one whole gRPC frame");
  return body.subarray(5);
}

/** How a method's calls are sent: its path, its default headers, its codec. */
export interface Plan {
  readonly path: string;
  /** The headers of a call with the default deadline and no request id: built once, reused. */
  readonly headers: OutgoingHttpHeaders;
  encode(init: unknown): Buffer;
  decode(bytes: Buffer): unknown;
}

/** What every call of one transport shares. */
interface Shared {
  closed: boolean;
  readonly pick: () => Connection;
  readonly base: OutgoingHttpHeaders;
  readonly defaultTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxMessageBytes: number;
}

const CALL = Symbol("latch.call");
type CallStream = ClientHttp2Stream & { [CALL]?: Call };

// The stream listeners are the same functions for every call (`this` is the stream), so a call
// allocates no closures. Events of a stream its call has moved past (cancelled, retried) are ignored.
function onResponse(this: CallStream, headers: IncomingHttpHeaders): void {
  const call = this[CALL]!;
  if (call.stream === this) call.head = headers;
}

function onTrailers(this: CallStream, headers: IncomingHttpHeaders): void {
  const call = this[CALL]!;
  if (call.stream === this) call.trailers = headers;
}

function onData(this: CallStream, chunk: Buffer): void {
  const call = this[CALL]!;
  if (call.stream !== this) return;
  call.received += chunk.length;
  if (call.received > call.shared.maxMessageBytes + 5)
    call.cancel(
      localError(status.RESOURCE_EXHAUSTED, `the answer is larger than ${call.shared.maxMessageBytes} bytes`),
    );
  else call.chunks.push(chunk);
}

function onError(this: CallStream, error: Error): void {
  const call = this[CALL]!;
  if (call.stream === this) call.cause = call.conn?.lost ?? error.message;
}

function onClose(this: CallStream): void {
  const call = this[CALL]!;
  if (call.stream === this) call.ended(this);
}

/** The outcome of a closed stream: the answer's message, or the error it ended with. */
function outcomeOf(stream: ClientHttp2Stream, call: Call, conn: Connection): Buffer | RemoteError {
  const head = call.head;
  if (head === undefined) return streamError(stream.rstCode, call.cause ?? conn.lost, !conn.usable);
  const meta = call.trailers ?? head;
  const grpcStatus = headerText(meta, "grpc-status");
  if (grpcStatus === undefined) {
    const httpStatus = Number(head[":status"]);
    return httpStatus !== 200
      ? localError(statusOfHttp(httpStatus), `the server answered HTTP ${httpStatus}`)
      : streamError(
          stream.rstCode,
          call.cause ?? conn.lost ?? "the answer ended without a gRPC status",
          !conn.usable,
        );
  }
  const code = Number(grpcStatus);
  return code === status.OK ? unframe(call.chunks) : statusError(code, meta);
}

/** One unary call through node:http2 (unary-call.ts): its attempt's stream and what it read. */
class Call extends UnaryCall {
  conn: Connection | undefined = undefined;
  stream: CallStream | undefined = undefined;
  head: IncomingHttpHeaders | undefined = undefined;
  trailers: IncomingHttpHeaders | undefined = undefined;
  cause: string | undefined = undefined;

  constructor(
    readonly shared: Shared,
    plan: Plan,
    private readonly body: Buffer,
    private readonly headers: OutgoingHttpHeaders,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    idempotent: boolean,
  ) {
    super(plan, timeoutMs, signal, idempotent, shared.maxAttempts);
  }

  protected get sending(): boolean {
    return this.stream !== undefined;
  }

  protected get clientClosed(): boolean {
    return this.shared.closed;
  }

  protected send(): void {
    const ms = this.attemptMs();
    const conn = this.shared.pick();
    let stream: CallStream;
    try {
      stream = conn.session.request(
        this.attempt === 0 ? this.headers : { ...this.headers, "grpc-timeout": grpcTimeout(ms) },
      );
    } catch (error) {
      this.failed(localError(status.UNAVAILABLE, `cannot start a call: ${(error as Error).message}`));
      return;
    }
    conn.started();
    this.conn = conn;
    this.stream = stream;
    this.head = undefined;
    this.trailers = undefined;
    this.cause = undefined;
    this.received = 0;
    if (this.chunks.length > 0) this.chunks = [];
    stream[CALL] = this;
    stream.on("response", onResponse);
    stream.on("trailers", onTrailers);
    stream.on("data", onData);
    stream.on("error", onError);
    stream.on("close", onClose);
    deadlines.add(this, ms);
    stream.end(this.body);
  }

  /** The attempt's stream closed on its own. */
  ended(stream: CallStream): void {
    const conn = this.conn!;
    const outcome = outcomeOf(stream, this, conn);
    this.detach();
    if (outcome instanceof RemoteError) this.failed(outcome);
    else this.answered(outcome);
  }

  /** Ends the attempt from this side (deadline, abort, an answer too large). */
  cancel(error: RemoteError): void {
    const stream = this.stream;
    if (stream === undefined) return;
    this.detach();
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    this.settle(error);
  }

  private detach(): void {
    this.stream = undefined;
    deadlines.remove(this);
    this.conn!.ended();
  }
}

const generic = (method: DescMethod): Pick<Plan, "encode" | "decode"> => ({
  encode: (init) => frameOf(toBinary(method.input, create(method.input, init as never))),
  decode: (bytes) => fromBinary(method.output, bytes),
});

/** The hand-written codec (check-codec.ts) for the hot calls, protobuf-es for the rest. */
export function codecOf(method: DescMethod): Pick<Plan, "encode" | "decode"> {
  if (method === PermissionService.method.checkPermission)
    return { encode: encodeCheckRequest as Plan["encode"], decode: decodeCheckResponse };
  if (method === PermissionService.method.checkBulkPermissions)
    return { encode: encodeCheckBulkRequest as Plan["encode"], decode: decodeCheckBulkResponse };
  return generic(method);
}

/**
 * Calls in flight on a connection past which a pool opens its next connection (while it has fewer
 * than `connections`): below it one connection carries everything (fewest sockets, best batching
 * of writes); past it, new calls go to the least busy connection.
 */
export const DEFAULT_STREAMS_PER_CONNECTION = 64;

export function createHttp2Transport(options: Http2TransportOptions): UnaryTransport {
  const scheme = options.tls === undefined ? "http" : "https";
  const authority = `${scheme}://${options.address}`;
  const sessionOptions: SecureClientSessionOptions = {
    ...(options.tls?.ca === undefined ? {} : { ca: options.tls.ca }),
    ...(options.tls?.key === undefined ? {} : { key: options.tls.key }),
    ...(options.tls?.cert === undefined ? {} : { cert: options.tls.cert }),
    maxSessionMemory: 64,
  };
  const size = Math.max(1, options.connections ?? 1);
  const saturated = Math.max(1, options.streamsPerConnection ?? DEFAULT_STREAMS_PER_CONNECTION);
  const pool: Connection[] = [];
  const keepaliveMs = options.keepaliveMs ?? 10_000;
  const pingTimeoutMs = options.keepaliveTimeoutMs ?? 5_000;

  /** The least busy usable connection; a new one when none is usable or all are saturated. */
  const pick = (): Connection => {
    let best: Connection | undefined;
    for (let i = 0; i < pool.length; i++) {
      const conn = pool[i]!;
      if (!conn.usable) {
        // Dropped from the pool; its calls in flight finish on it.
        pool.splice(i--, 1);
        continue;
      }
      if (best === undefined || conn.inflight < best.inflight) best = conn;
    }
    if (best !== undefined && (best.inflight < saturated || pool.length >= size)) return best;
    const conn = new Connection(authority, sessionOptions, keepaliveMs, pingTimeoutMs);
    pool.push(conn);
    return conn;
  };

  const defaultTimeoutMs = Math.min(options.timeoutMs, MAX_DEADLINE_MS);
  const shared: Shared = {
    closed: false,
    pick,
    base: {
      ":method": "POST",
      "content-type": "application/grpc",
      te: "trailers",
      "user-agent": "latch-client-http2",
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    },
    defaultTimeoutMs,
    maxAttempts: options.maxAttempts,
    maxMessageBytes: options.maxMessageBytes,
  };

  const plans = new Map<DescMethod, Plan>();
  const planOf = (method: DescMethod): Plan => {
    let plan = plans.get(method);
    if (plan === undefined) {
      const path = `/${method.parent.typeName}/${method.name}`;
      plan = {
        path,
        headers: { ...shared.base, ":path": path, "grpc-timeout": grpcTimeout(defaultTimeoutMs) },
        ...codecOf(method),
      };
      plans.set(method, plan);
    }
    return plan;
  };

  return {
    unary(method, request, opts, idempotent) {
      const signal = opts?.signal;
      let plan: Plan;
      let body: Buffer;
      try {
        signal?.throwIfAborted();
        plan = planOf(method);
        body = plan.encode(request);
      } catch (error) {
        return Promise.reject(error);
      }
      const timeoutMs =
        opts?.timeoutMs === undefined ? defaultTimeoutMs : Math.min(opts.timeoutMs, MAX_DEADLINE_MS);
      const requestId = opts?.requestId;
      const headers =
        timeoutMs === defaultTimeoutMs && requestId === undefined
          ? plan.headers
          : {
              ...plan.headers,
              "grpc-timeout": grpcTimeout(timeoutMs),
              ...(requestId === undefined ? {} : { "x-request-id": requestId }),
            };
      const answer = new Promise(capture);
      const call = new Call(shared, plan, body, headers, timeoutMs, signal, idempotent);
      signal?.addEventListener("abort", call);
      call.start();
      return answer as Promise<never>;
    },

    close() {
      shared.closed = true;
      for (const conn of pool) conn.close();
    },
  };
}
