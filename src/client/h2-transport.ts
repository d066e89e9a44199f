/**
 * Unary gRPC calls over HTTP/2 framed by the client itself (h2-session.ts), the default transport
 * of the unary calls; node:http2 (http2-transport.ts) stays selectable for comparison.
 *
 * Behaviour is the node:http2 transport's, decision for decision (its file comment says why each):
 * deadlines on the shared wheel, sent as `grpc-timeout`; cancellation from an AbortSignal (RST_STREAM
 * CANCEL); the bearer token; TLS with a CA; retries of idempotent calls on UNAVAILABLE, and of any
 * call the server refused unprocessed (REFUSED_STREAM, above a GOAWAY's last stream id, or never
 * sent because the connection never came up); keepalive pings only while calls are in flight; the
 * pool (`connections`, `streamsPerConnection`); the same RemoteErrors. Beyond that it queues calls
 * past the server's SETTINGS_MAX_CONCURRENT_STREAMS instead of failing them.
 *
 * What makes it cheaper: a method's request header block is HPACK-encoded once (hpack.ts) and
 * copied into each call's HEADERS frame; a call is its own stream record and its own deadline entry;
 * the frames of one event-loop turn leave in one socket write.
 */

import type { DescMethod } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { deadlines } from "./deadline-wheel.js";
import { RemoteError } from "./errors.js";
import { H2Session, type H2Stream } from "./h2-session.js";
import { checkRequestId, type HeaderMap, indexedField, literalField, STATIC_INDEX } from "./hpack.js";
import {
  codecOf,
  DEFAULT_STREAMS_PER_CONNECTION,
  grpcTimeout,
  type Http2TransportOptions,
  lostError,
  MAX_DEADLINE_MS,
  type Plan,
  streamError,
  unframe,
} from "./http2-transport.js";
import { endedWith, ServerStream, StreamCall, type StreamShared } from "./stream-call.js";
import type { Transport, UnaryTransport } from "./transport.js";
import { capture, localError, UnaryCall } from "./unary-call.js";

export interface H2TransportOptions extends Http2TransportOptions {
  /** The last stream id a connection uses before the pool opens another (tests lower it). */
  readonly streamIdLimit?: number;
  /** Our per-stream receive window in bytes (default 1 MiB; tests lower it). */
  readonly streamWindow?: number;
}

/** How a method's calls are sent: the header block without `grpc-timeout`, and with the default one. */
interface H2Plan extends Pick<Plan, "encode" | "decode"> {
  readonly prefix: Buffer;
  readonly block: Buffer;
  /** `prefix` and the name part of a literal `grpc-timeout` field: a call's value follows. */
  readonly timed: Buffer;
}

/** The `x-request-id` field, refused (as node:http2 would) for a value no header may carry. */
function requestIdField(requestId: string): Buffer {
  checkRequestId(requestId);
  return literalField("x-request-id", requestId);
}

/** A header block with the call's own `grpc-timeout` value: one allocation, no re-encoding. */
function timedBlock(plan: H2Plan, timeoutMs: number): Buffer {
  const value = grpcTimeout(timeoutMs); // at most 9 characters: its HPACK length is one byte
  const at = plan.timed.length;
  const out = Buffer.allocUnsafe(at + 1 + value.length);
  plan.timed.copy(out, 0);
  out[at] = value.length;
  out.write(value, at + 1, "latin1");
  return out;
}

/** A unary call's header block: its timeout, and its request id when it has one. */
function blockFor(plan: H2Plan, timeoutMs: number, requestId: string | undefined): Buffer {
  const timed = timedBlock(plan, timeoutMs);
  return requestId === undefined ? timed : Buffer.concat([timed, requestIdField(requestId)]);
}

interface Shared {
  closed: boolean;
  readonly pick: () => H2Session;
  readonly maxAttempts: number;
  readonly maxMessageBytes: number;
}

/**
 * One unary call over an h2 session (unary-call.ts): the session's record of its stream too, so a
 * call has no object per stream beside it.
 */
class Call extends UnaryCall implements H2Stream {
  id = 0;
  body: Buffer | undefined = undefined;
  sent = 0;
  sendWindow = 0;
  unacked = 0;
  headerBlock: Buffer | undefined = undefined;
  session: H2Session | undefined = undefined;
  head: HeaderMap | undefined = undefined;
  trailers: HeaderMap | undefined = undefined;

  constructor(
    private readonly shared: Shared,
    private readonly plan: H2Plan,
    private readonly request: Buffer,
    private readonly block: Buffer,
    private readonly requestId: string | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    idempotent: boolean,
  ) {
    super(plan, timeoutMs, signal, idempotent, shared.maxAttempts);
  }

  protected get sending(): boolean {
    return this.session !== undefined;
  }

  protected get clientClosed(): boolean {
    return this.shared.closed;
  }

  protected send(): void {
    const session = this.shared.pick();
    this.session = session;
    this.head = undefined;
    this.trailers = undefined;
    this.received = 0;
    if (this.chunks.length > 0) this.chunks = [];
    const ms = this.attemptMs();
    deadlines.add(this, ms);
    session.start(
      this,
      this.attempt === 0 ? this.block : blockFor(this.plan, ms, this.requestId),
      this.request,
    );
  }

  onHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.head === undefined) {
      // An informational (1xx) answer precedes the real one.
      if (!endStream && headers[":status"]?.startsWith("1")) return;
      this.head = headers;
    } else this.trailers = headers;
  }

  onData(data: Buffer): void {
    this.received += data.length;
    if (this.received > this.shared.maxMessageBytes + 5)
      this.cancel(
        localError(
          status.RESOURCE_EXHAUSTED,
          `the answer is larger than ${this.shared.maxMessageBytes} bytes`,
        ),
      );
    else this.chunks.push(data);
  }

  onEnd(): void {
    this.detach();
    const outcome = this.outcome();
    if (outcome instanceof RemoteError) this.failed(outcome);
    else this.answered(outcome);
  }

  onReset(code: number): void {
    this.detach();
    this.failed(streamError(code, undefined, false));
  }

  onLost(cause: string, wasRefused: boolean): void {
    this.detach();
    this.failed(lostError(cause, wasRefused));
  }

  /** The outcome of a stream the server ended: the answer's message, or the error it carries. */
  private outcome(): Buffer | RemoteError {
    return endedWith(this.head, this.trailers) ?? unframe(this.chunks);
  }

  /** Ends the attempt from this side (deadline, abort, an answer too large). */
  cancel(error: RemoteError): void {
    const session = this.session;
    if (session === undefined) return;
    session.cancel(this);
    this.detach();
    this.settle(error);
  }

  private detach(): void {
    this.session = undefined;
    deadlines.remove(this);
  }
}

/** `host:port`, `[v6]:port`. */
function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port <= 0 || port > 65_535)
    throw new TypeError(`not a host:port address: ${address}`);
  const host = address.slice(0, colon);
  return { host: host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host, port };
}

/** Unary calls, and server-streaming ones (stream-call.ts) on the same connections. */
export type H2Transport = UnaryTransport & Pick<Transport, "serverStream">;

export function createH2Transport(options: H2TransportOptions): H2Transport {
  const { host, port } = hostPort(options.address);
  const size = Math.max(1, options.connections ?? 1);
  const saturated = Math.max(1, options.streamsPerConnection ?? DEFAULT_STREAMS_PER_CONNECTION);
  const sessionOptions = {
    host,
    port,
    tls: options.tls,
    keepaliveMs: options.keepaliveMs ?? 10_000,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 5_000,
    ...(options.streamIdLimit === undefined ? {} : { streamIdLimit: options.streamIdLimit }),
    ...(options.streamWindow === undefined ? {} : { streamWindow: options.streamWindow }),
  };
  const pool: H2Session[] = [];

  /** The least busy usable connection; a new one when none is usable or all are saturated. */
  const pick = (): H2Session => {
    let best: H2Session | undefined;
    for (let i = 0; i < pool.length; i++) {
      const session = pool[i]!;
      if (!session.usable) {
        // Dropped from the pool; its calls in flight finish on it.
        pool.splice(i--, 1);
        continue;
      }
      if (best === undefined || session.inflight < best.inflight) best = session;
    }
    if (best !== undefined && (best.inflight < saturated || pool.length >= size)) return best;
    const session = new H2Session(sessionOptions);
    pool.push(session);
    return session;
  };

  const shared: Shared = {
    closed: false,
    pick,
    maxAttempts: options.maxAttempts,
    maxMessageBytes: options.maxMessageBytes,
  };
  const defaultTimeoutMs = Math.min(options.timeoutMs, MAX_DEADLINE_MS);
  const pseudo = Buffer.concat([
    indexedField(STATIC_INDEX.methodPost),
    indexedField(options.tls === undefined ? STATIC_INDEX.schemeHttp : STATIC_INDEX.schemeHttps),
  ]);
  // Pseudo-header fields must come first (RFC 9113 8.3): `:path` and `:authority` go before these.
  const common = Buffer.concat([
    literalField(STATIC_INDEX.contentType, "application/grpc"),
    literalField("te", "trailers"),
    literalField(STATIC_INDEX.userAgent, "latch-client-h2"),
    ...(options.token === undefined
      ? []
      : [literalField(STATIC_INDEX.authorization, `Bearer ${options.token}`, true)]),
  ]);
  const timeoutField = (ms: number) => literalField("grpc-timeout", grpcTimeout(ms));
  // The literal field's first byte and name; `literalField("grpc-timeout", v)` continues with v's length.
  const timeoutName = literalField("grpc-timeout", "").subarray(0, -1);

  const plans = new Map<DescMethod, H2Plan>();
  const planOf = (method: DescMethod): H2Plan => {
    let plan = plans.get(method);
    if (plan === undefined) {
      const prefix = Buffer.concat([
        pseudo,
        literalField(STATIC_INDEX.path, `/${method.parent.typeName}/${method.name}`),
        literalField(STATIC_INDEX.authority, options.address),
        common,
      ]);
      plan = {
        prefix,
        block: Buffer.concat([prefix, timeoutField(defaultTimeoutMs)]),
        timed: Buffer.concat([prefix, timeoutName]),
        ...codecOf(method),
      };
      plans.set(method, plan);
    }
    return plan;
  };

  const streams: StreamShared = {
    pick,
    isClosed: () => shared.closed,
    // A stream has a deadline only when its call gives one, as on grpc-js.
    headerBlock: (method, timeoutMs, requestId) => {
      const plan = planOf(method);
      if (timeoutMs !== undefined) return blockFor(plan, timeoutMs, requestId);
      return requestId === undefined ? plan.prefix : Buffer.concat([plan.prefix, requestIdField(requestId)]);
    },
    maxAttempts: options.maxAttempts,
    maxMessageBytes: options.maxMessageBytes,
  };

  return {
    unary(method, request, opts, idempotent) {
      const signal = opts?.signal;
      const timeoutMs =
        opts?.timeoutMs === undefined ? defaultTimeoutMs : Math.min(opts.timeoutMs, MAX_DEADLINE_MS);
      const requestId = opts?.requestId;
      let plan: H2Plan;
      let body: Buffer;
      let block: Buffer;
      try {
        signal?.throwIfAborted();
        plan = planOf(method);
        body = plan.encode(request);
        block =
          opts?.timeoutMs === undefined && requestId === undefined
            ? plan.block
            : blockFor(plan, timeoutMs, requestId);
      } catch (error) {
        return Promise.reject(error);
      }
      const answer = new Promise(capture);
      const call = new Call(shared, plan, body, block, requestId, timeoutMs, signal, idempotent);
      signal?.addEventListener("abort", call);
      call.start();
      return answer as Promise<never>;
    },

    serverStream(method, request, opts, idempotent) {
      return new ServerStream(new StreamCall(streams, method, request, opts, idempotent));
    },

    close() {
      shared.closed = true;
      for (const session of pool) session.close();
    },
  };
}
