/**
 * Server-streaming gRPC calls (LookupResources, LookupSubjects, ...) over the client's own HTTP/2
 * framing (h2-session.ts), beside the unary calls of h2-transport.ts.
 *
 * Why: the lookups were the last calls of a RAG pipeline still paying grpc-js's per-message cost
 * (a Readable stream, an object mode push and its event machinery per result) and its second
 * connection. A server stream is one request message, then any number of length-prefixed messages
 * in DATA frames (split across frames or several to a frame), then trailers with `grpc-status`.
 *
 * Behaviour is the grpc-js streams' (transport.ts), decision for decision: the call starts at the
 * first `next()`; a deadline only when the call gives one (`grpc-timeout`, and locally on the
 * shared wheel); an aborted signal ends the iteration quietly (RST_STREAM CANCEL); a consumer that
 * stops early cancels the stream; UNAVAILABLE (or refused unprocessed) is tried again only while
 * nothing was received, so nothing is delivered twice; the server's errors are the unary calls'
 * RemoteErrors, delivered after the messages that preceded them.
 *
 * Backpressure: the stream's receive window is given back as the consumer takes messages, not as
 * they arrive, so a slow consumer stops the server after one window (1 MiB by default) instead of
 * buffering without bound. While no whole message waits for the consumer, what arrived is given
 * back at once: a message larger than the window must be able to complete.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { frameOf } from "./check-codec.js";
import { deadlines, type Expiring, type Lane } from "./deadline-wheel.js";
import { RemoteError } from "./errors.js";
import type { H2Session, H2Stream } from "./h2-session.js";
import type { HeaderMap } from "./hpack.js";
import { lostError, MAX_DEADLINE_MS, statusError, statusOfHttp, streamError } from "./http2-transport.js";
import { retryPause } from "./retry-policy.js";
import type { CallOptions } from "./types.js";
import { localError, refused } from "./unary-call.js";

/** A gRPC message the stream cannot take: compressed, or larger than allowed. */
export class MessageFrameError extends Error {
  constructor(
    readonly status: status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Cuts a gRPC stream's DATA bytes into messages, however the bytes were split. Holds at most one
 * incomplete message; its bytes are copied once, when it completes.
 */
export class GrpcMessageReader {
  private held: Buffer[] = [];
  /** Bytes held of the incomplete message (its prefix included). */
  heldBytes = 0;
  /** The incomplete message's framed length, once its prefix is whole (else 5: the prefix). */
  private needed = 5;

  constructor(private readonly maxMessageBytes: number) {}

  /** Appends `chunk` and pushes the bodies of the messages it completes onto `out`. */
  push(chunk: Buffer, out: Uint8Array[]): void {
    let buf = chunk;
    if (this.heldBytes > 0) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes < this.needed) return;
      buf = Buffer.concat(this.held, this.heldBytes);
      this.held = [];
      this.heldBytes = 0;
    }
    let at = 0;
    this.needed = 5;
    while (buf.length - at >= 5) {
      if (buf[at] !== 0)
        throw new MessageFrameError(status.INTERNAL, "the server sent a compressed message (none was asked)");
      const length = buf.readUInt32BE(at + 1);
      if (length > this.maxMessageBytes)
        throw new MessageFrameError(
          status.RESOURCE_EXHAUSTED,
          `a message is larger than ${this.maxMessageBytes} bytes`,
        );
      if (buf.length - at < 5 + length) {
        this.needed = 5 + length;
        break;
      }
      // A plain view: a Buffer per message (subarray) costs more, and protobuf-es reads either.
      out.push(new Uint8Array(buf.buffer, buf.byteOffset + at + 5, length));
      at += 5 + length;
    }
    if (at < buf.length) {
      this.held = [buf.subarray(at)];
      this.heldBytes = buf.length - at;
    }
  }
}

/** What every stream of one h2 transport shares. */
export interface StreamShared {
  readonly pick: () => H2Session;
  readonly isClosed: () => boolean;
  /** The request header block of `method`, with `grpc-timeout` and `x-request-id` when given. */
  readonly headerBlock: (
    method: DescMethod,
    timeoutMs: number | undefined,
    requestId: string | undefined,
  ) => Buffer;
  readonly maxAttempts: number;
  readonly maxMessageBytes: number;
}

type StreamMethod<O extends DescMessage> = DescMethod & { readonly output: O };

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

type Waiter = { resolve: (r: IteratorResult<unknown>) => void; reject: (e: unknown) => void };

/**
 * The async iterator a consumer reads (`serverStream`'s answer). Apart from its call because the
 * deadline wheel links a call through a `next` field.
 */
export class ServerStream<O extends DescMessage> implements AsyncIterableIterator<MessageShape<O>> {
  constructor(readonly call: StreamCall<O>) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<MessageShape<O>>> {
    return this.call.pull();
  }

  /** The consumer stopped early (`break`, a throw in its loop): the stream is cancelled. */
  return(): Promise<IteratorResult<MessageShape<O>>> {
    this.call.stop(DONE);
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<MessageShape<O>>> {
    this.call.stop(DONE);
    return Promise.reject(error);
  }
}

/**
 * One server-streaming call: the session's record of its stream, its own deadline entry and its
 * own abort listener.
 */
export class StreamCall<O extends DescMessage> implements H2Stream, Expiring {
  // H2Stream (managed by the session).
  id = 0;
  body: Buffer | undefined = undefined;
  sent = 0;
  sendWindow = 0;
  unacked = 0;
  headerBlock: Buffer | undefined = undefined;
  readonly manualWindow = true;
  // Expiring (managed by the deadline wheel).
  deadlineAt = 0;
  lane: Lane | undefined = undefined;
  prev: Expiring | undefined = undefined;
  next: Expiring | undefined = undefined;

  /** The most `bufferedBytes` ever was. */
  peakBufferedBytes = 0;
  /** Bytes of DATA received, over all attempts. */
  receivedBytes = 0;

  private session: H2Session | undefined = undefined;
  private head: HeaderMap | undefined = undefined;
  private trailers: HeaderMap | undefined = undefined;
  private reader: GrpcMessageReader | undefined = undefined;
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Bytes received this attempt and not given back to the stream's window. */
  private owed = 0;
  private receivedThisAttempt = 0;
  private started = false;
  /** The end: `DONE`, or the error the consumer gets once the messages before it are taken. */
  private end: RemoteError | typeof DONE | undefined = undefined;
  private readonly waiters: Waiter[] = [];
  private attempt = 0;
  private backoff: NodeJS.Timeout | undefined = undefined;
  private request: Buffer | undefined = undefined;
  private block: Buffer | undefined = undefined;
  private readonly timeoutMs: number | undefined;
  /** `Date.now()` when the call's deadline (when it has one) passes, over all its attempts. */
  private endsAt = 0;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly shared: StreamShared,
    private readonly method: StreamMethod<O>,
    private readonly init: unknown,
    private readonly options: CallOptions | undefined,
    private readonly idempotent: boolean,
  ) {
    this.signal = options?.signal;
    this.timeoutMs =
      options?.timeoutMs === undefined ? undefined : Math.min(options.timeoutMs, MAX_DEADLINE_MS);
  }

  /** Bytes received and not yet taken by the consumer (whole messages and the incomplete one). */
  get bufferedBytes(): number {
    return this.queuedBytes + (this.reader?.heldBytes ?? 0);
  }

  /** The consumer's `next()`: the call starts at the first, as an async generator would. */
  pull(): Promise<IteratorResult<MessageShape<O>>> {
    // Not when the consumer returned before its first read.
    if (!this.started && this.end === undefined) {
      this.started = true;
      try {
        this.begin();
      } catch (error) {
        this.end = DONE;
        return Promise.reject(error);
      }
    }
    const taken = this.take();
    if (taken instanceof RemoteError) return Promise.reject(taken);
    if (taken !== undefined) return Promise.resolve(taken);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve: resolve as Waiter["resolve"], reject });
    });
  }

  private begin(): void {
    this.signal?.throwIfAborted();
    // The header block first: a request id no header may carry is refused before the message is encoded.
    this.block = this.shared.headerBlock(this.method, this.timeoutMs, this.options?.requestId);
    this.request = frameOf(toBinary(this.method.input, create(this.method.input, this.init as never)));
    this.signal?.addEventListener("abort", this);
    if (this.timeoutMs !== undefined) this.endsAt = Date.now() + this.timeoutMs;
    this.send();
  }

  /** Starts an attempt (the first, or a retry after its backoff). */
  private send(): void {
    this.backoff = undefined;
    if (this.shared.isClosed()) {
      this.finish(localError(status.UNAVAILABLE, "the client is closed"));
      return;
    }
    const session = this.shared.pick();
    this.session = session;
    this.head = undefined;
    this.trailers = undefined;
    this.reader = new GrpcMessageReader(this.shared.maxMessageBytes);
    this.owed = 0;
    this.receivedThisAttempt = 0;
    let block = this.block!;
    if (this.timeoutMs !== undefined) {
      // A retry has what is left of the call's deadline, and tells the server so.
      const ms = this.attempt === 0 ? this.timeoutMs : Math.max(1, this.endsAt - Date.now());
      if (this.attempt > 0) block = this.shared.headerBlock(this.method, ms, this.options?.requestId);
      deadlines.add(this, ms);
    }
    session.start(this, block, this.request!);
  }

  /**
   * The next message or the end (an error is thrown to the consumer), or undefined when the consumer
   * must wait. Plain values, not promises: a waiting consumer's promise is settled with them directly.
   */
  private take(): IteratorResult<MessageShape<O>> | RemoteError | undefined {
    const body = this.queue.shift();
    if (body !== undefined) {
      this.queuedBytes -= body.length + 5;
      this.giveBack();
      try {
        return { done: false, value: fromBinary(this.method.output, body) };
      } catch (error) {
        this.stop(DONE);
        return localError(status.INTERNAL, `cannot decode a message: ${(error as Error).message}`);
      }
    }
    const end = this.end;
    if (end === undefined) return undefined;
    // The error is the consumer's once; the iteration is over after it.
    this.end = DONE;
    return end;
  }

  /** Hands what is ready to waiting consumers. */
  private wake(): void {
    while (this.waiters.length > 0) {
      const taken = this.take();
      if (taken === undefined) return;
      const waiter = this.waiters.shift()!;
      if (taken instanceof RemoteError) waiter.reject(taken);
      else waiter.resolve(taken);
    }
  }

  /**
   * Gives back to the stream's window the bytes no longer held for the consumer; while no whole
   * message waits, everything received (an incomplete message must be able to complete).
   */
  private giveBack(): void {
    const keep = this.queue.length === 0 ? 0 : this.bufferedBytes;
    if (this.owed <= keep) return;
    this.session?.acknowledge(this, this.owed - keep);
    this.owed = keep;
  }

  onHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.head === undefined) {
      // An informational (1xx) answer precedes the real one.
      if (!endStream && headers[":status"]?.startsWith("1")) return;
      this.head = headers;
    } else this.trailers = headers;
  }

  onData(data: Buffer): void {
    this.owed += data.length;
    this.receivedThisAttempt += data.length;
    this.receivedBytes += data.length;
    const before = this.queue.length;
    try {
      this.reader!.push(data, this.queue);
    } catch (error) {
      if (!(error instanceof MessageFrameError)) throw error;
      // The whole messages before the bad one are good: the consumer gets them first.
      for (let i = before; i < this.queue.length; i++) this.queuedBytes += this.queue[i]!.length + 5;
      this.stop(localError(error.status, error.message), false);
      return;
    }
    for (let i = before; i < this.queue.length; i++) this.queuedBytes += this.queue[i]!.length + 5;
    const buffered = this.bufferedBytes;
    if (buffered > this.peakBufferedBytes) this.peakBufferedBytes = buffered;
    this.giveBack();
    if (this.queue.length > before) this.wake();
  }

  onEnd(): void {
    this.detach();
    const outcome = this.outcome();
    if (outcome === undefined) this.finish(DONE);
    else this.failed(outcome);
  }

  onReset(code: number): void {
    this.detach();
    this.failed(streamError(code, undefined, false));
  }

  onLost(cause: string, wasRefused: boolean): void {
    this.detach();
    this.failed(lostError(cause, wasRefused));
  }

  /** How a stream the server ended ended: undefined for OK, else its error. */
  private outcome(): RemoteError | undefined {
    const error = endedWith(this.head, this.trailers);
    if (error !== undefined) return error;
    if (this.reader!.heldBytes > 0) return localError(status.INTERNAL, "the stream ended inside a message");
    return undefined;
  }

  /**
   * An attempt failed: tried again only when it received nothing (so nothing is delivered twice;
   * an attempt before it received nothing either) and may be, else the end.
   */
  private failed(error: RemoteError): void {
    const again =
      error.status === status.UNAVAILABLE &&
      (this.idempotent || refused.has(error)) &&
      this.receivedThisAttempt === 0 &&
      !this.signal?.aborted &&
      this.end === undefined;
    const pause = again
      ? retryPause(
          this.attempt,
          this.shared.maxAttempts,
          this.timeoutMs === undefined ? undefined : this.endsAt,
        )
      : undefined;
    if (pause === undefined) {
      this.finish(error);
      return;
    }
    this.backoff = setTimeout(() => this.send(), pause);
    this.attempt++;
  }

  /** The deadline passed: the consumer gets DEADLINE_EXCEEDED at once. */
  expire(): void {
    this.stop(localError(status.DEADLINE_EXCEEDED, "Deadline exceeded"));
  }

  /** The signal aborted: the iteration ends quietly, as grpc-js's does. */
  handleEvent(): void {
    this.stop(DONE);
  }

  /**
   * Ends the call from this side with `end`: the stream cancelled (RST_STREAM CANCEL); what was
   * queued dropped when `dropQueued`. Nothing to do once the call has ended by itself.
   */
  stop(end: RemoteError | typeof DONE, dropQueued = true): void {
    if (this.end !== undefined) return;
    if (this.session !== undefined) {
      this.session.cancel(this);
      this.detach();
    }
    clearTimeout(this.backoff);
    this.backoff = undefined;
    if (dropQueued) {
      this.queue.length = 0;
      this.queuedBytes = 0;
    }
    this.finish(end);
  }

  private finish(end: RemoteError | typeof DONE): void {
    if (this.end !== undefined) return;
    this.end = end;
    this.signal?.removeEventListener("abort", this);
    this.wake();
  }

  private detach(): void {
    this.session = undefined;
    if (this.timeoutMs !== undefined) deadlines.remove(this);
  }
}

/**
 * The error a stream the server ended carries in its headers and trailers (a unary call's and a
 * server stream's alike), or undefined when it ended with OK.
 */
export function endedWith(
  head: HeaderMap | undefined,
  trailers: HeaderMap | undefined,
): RemoteError | undefined {
  if (head === undefined) return streamError(undefined, "the answer ended without headers", false);
  const meta = trailers ?? head;
  const grpcStatus = meta["grpc-status"];
  if (grpcStatus === undefined) {
    const httpStatus = Number(head[":status"]);
    return httpStatus !== 200
      ? localError(statusOfHttp(httpStatus), `the server answered HTTP ${httpStatus}`)
      : streamError(undefined, "the answer ended without a gRPC status", false);
  }
  const code = Number(grpcStatus);
  return code === status.OK ? undefined : statusError(code, meta);
}
