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
import { setTimeout as sleep } from "node:timers/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { RemoteError, remoteError } from "./errors.js";
import type { UnaryTransport } from "./transport.js";

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
  /** HTTP/2 sessions calls are spread over (default 1). */
  readonly connections?: number;
  /** Interval of keepalive pings while calls are in flight (ms, default 10 s). */
  readonly keepaliveMs?: number;
  /** How long a ping may go unanswered before the session is dropped (ms, default 5 s). */
  readonly keepaliveTimeoutMs?: number;
}

/** A RemoteError the transport made itself (no server status), `grpc/<status>` like grpc-js's. */
function localError(code: status, message: string): RemoteError {
  return remoteError(code, message, () => undefined);
}

/** REFUSED_STREAM: the server did not process the call, so any call may be sent again. */
const refused = new WeakSet<RemoteError>();

/** gRPC's mapping of HTTP status codes for answers that are not gRPC at all (a proxy's error page). */
function statusOfHttp(httpStatus: number): status {
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
function statusError(code: number, headers: IncomingHttpHeaders): RemoteError {
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
function streamError(
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

/** One HTTP/2 session and the calls in flight on it. */
class Connection {
  readonly session: ClientHttp2Session;
  private inflight = 0;
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
function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole < 1e8 ? `${whole}m` : `${Math.floor(whole / 1000)}S`;
}

/** The gRPC message framing: a compression flag byte, a 4-byte big-endian length, the message. */
function frame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

/** The one message of a unary answer; anything else is the server breaking the protocol. */
function unframe(chunks: Buffer[]): Buffer | RemoteError {
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (body.length < 5) return localError(status.INTERNAL, "the server answered without a message");
  if (body[0] !== 0)
    return localError(status.INTERNAL, "the server sent a compressed message (none was asked)");
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length)
    return localError(status.INTERNAL, "the server's message is not one whole gRPC frame");
  return body.subarray(5);
}

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
  const pool: (Connection | undefined)[] = new Array(size).fill(undefined);
  let next = 0;
  let closed = false;
  const keepaliveMs = options.keepaliveMs ?? 10_000;
  const pingTimeoutMs = options.keepaliveTimeoutMs ?? 5_000;

  const pick = (): Connection => {
    const i = next;
    next = (next + 1) % size;
    let conn = pool[i];
    if (conn === undefined || !conn.usable) {
      conn = new Connection(authority, sessionOptions, keepaliveMs, pingTimeoutMs);
      pool[i] = conn;
    }
    return conn;
  };

  const base: OutgoingHttpHeaders = {
    ":method": "POST",
    "content-type": "application/grpc",
    te: "trailers",
    "user-agent": "latch-client-http2",
    ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
  };
  const maxBody = 5 + options.maxMessageBytes;

  /** One attempt: the answer's message bytes, or a RemoteError. */
  const call = (
    path: string,
    body: Buffer,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    requestId: string | undefined,
  ) =>
    new Promise<Buffer>((resolve, reject) => {
      if (closed) {
        reject(localError(status.UNAVAILABLE, "the client is closed"));
        return;
      }
      const conn = pick();
      let stream: ClientHttp2Stream;
      try {
        stream = conn.session.request({
          ...base,
          ":path": path,
          "grpc-timeout": grpcTimeout(timeoutMs),
          ...(requestId === undefined ? {} : { "x-request-id": requestId }),
        });
      } catch (error) {
        reject(localError(status.UNAVAILABLE, `cannot start a call: ${(error as Error).message}`));
        return;
      }
      conn.started();
      let done = false;
      let head: IncomingHttpHeaders | undefined;
      let trailers: IncomingHttpHeaders | undefined;
      let cause: string | undefined;
      const chunks: Buffer[] = [];
      let received = 0;
      const finish = (outcome: Buffer | RemoteError) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        conn.ended();
        if (outcome instanceof RemoteError) reject(outcome);
        else resolve(outcome);
      };
      const cancel = (error: RemoteError) => {
        if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
        finish(error);
      };
      const onAbort = () => cancel(localError(status.CANCELLED, "Cancelled on client"));
      const timer = setTimeout(
        () => cancel(localError(status.DEADLINE_EXCEEDED, "Deadline exceeded")),
        Math.max(1, timeoutMs),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      stream.on("response", (headers) => {
        head = headers;
      });
      stream.on("trailers", (headers) => {
        trailers = headers;
      });
      stream.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBody)
          cancel(
            localError(
              status.RESOURCE_EXHAUSTED,
              `the answer is larger than ${options.maxMessageBytes} bytes`,
            ),
          );
        else chunks.push(chunk);
      });
      stream.on("error", (error: Error) => {
        cause = conn.lost ?? error.message;
      });
      stream.on("close", () => {
        if (done) return;
        if (head === undefined) {
          finish(streamError(stream.rstCode, cause ?? conn.lost, !conn.usable));
          return;
        }
        const httpStatus = Number(head[":status"]);
        const meta = trailers ?? head;
        const grpcStatus = headerText(meta, "grpc-status");
        if (grpcStatus === undefined) {
          finish(
            httpStatus !== 200
              ? localError(statusOfHttp(httpStatus), `the server answered HTTP ${httpStatus}`)
              : streamError(
                  stream.rstCode,
                  cause ?? conn.lost ?? "the answer ended without a gRPC status",
                  !conn.usable,
                ),
          );
          return;
        }
        const code = Number(grpcStatus);
        finish(code === status.OK ? unframe(chunks) : statusError(code, meta));
      });
      stream.end(body);
    });

  const backoff = (attempt: number, signal: AbortSignal | undefined) =>
    sleep(25 * 2 ** attempt, undefined, signal === undefined ? {} : { signal });

  return {
    async unary(method, request, opts, idempotent) {
      const path = `/${method.parent.typeName}/${method.name}`;
      const body = frame(toBinary(method.input, create(method.input, request)));
      const signal = opts?.signal;
      for (let attempt = 0; ; attempt++) {
        signal?.throwIfAborted();
        let answer: Buffer;
        try {
          answer = await call(
            path,
            body,
            Math.min(opts?.timeoutMs ?? options.timeoutMs, MAX_DEADLINE_MS),
            signal,
            opts?.requestId,
          );
        } catch (error) {
          const again =
            error instanceof RemoteError &&
            error.status === status.UNAVAILABLE &&
            (idempotent || refused.has(error)) &&
            attempt + 1 < options.maxAttempts &&
            !signal?.aborted;
          if (!again) throw error;
          await backoff(attempt, signal);
          continue;
        }
        try {
          return fromBinary(method.output, answer);
        } catch (error) {
          throw localError(status.INTERNAL, `cannot decode the answer: ${(error as Error).message}`);
        }
      }
    },

    close() {
      closed = true;
      for (const conn of pool) conn?.close();
    },
  };
}
