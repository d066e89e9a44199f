/**
 * Serves protobuf-es service descriptors on @grpc/grpc-js. grpc-js wants a service definition
 * (path, serializers) and callback-style handlers; we build the definition from the generated
 * descriptors and let handlers be async functions. Every call goes through one wrapper that
 * decodes the request, ties the deadline and cancellation to an AbortSignal, maps errors to
 * statuses, and reports to logs and metrics. Nothing a handler throws can escape it.
 *
 * Requests travel through grpc-js as raw bytes and are decoded here, not by grpc-js: the token is
 * checked first (auth-interceptor.ts, before grpc-js even reads the message), so a caller without
 * one never costs a decode, and a malformed message is the caller's error (INVALID_ARGUMENT,
 * `request/malformed`), not grpc-js's INTERNAL.
 */
import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import {
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { DEFAULT_CONTEXT_LIMITS, LatchError } from "../core/index.js";
import type { Cancellation, RequestOptions } from "../engine/index.js";
import { toWireError, type WireError } from "./errors.js";
import type { ServerCodec } from "./grpc-definition.js";
import { type PacedEncoder, pacedEncoder } from "./paced-encoding.js";
import { requestDecoder } from "./request-decoder.js";
import { requestIdOr } from "./request-id.js";
import { createStreamPacer } from "./stream-pacing.js";
import {
  type ContextDecodeLimits,
  DEFAULT_CONTEXT_DECODE_LIMITS,
  tooManyContextValues,
} from "./struct-codec.js";
import { countContextValues, onlyListField, splitAtFields } from "./wire-scan.js";

export interface CallContext {
  readonly requestId: string;
  /** `latch.v1.PermissionService/CheckPermission` */
  readonly method: string;
  /** Aborted when the client cancels or the call's deadline passes. */
  readonly signal: AbortSignal;
  /**
   * The same answer as `signal.aborted`, without making the AbortSignal (and its timer and
   * listener): for work that only polls, such as the engine's (`{ signal: ctx }`).
   */
  readonly aborted: boolean;
  readonly metadata: Metadata;
  readonly log: Logger;
  /** The authenticated token's name; undefined when the server runs without tokens. */
  readonly caller: string | undefined;
  /**
   * What the decision seam is given: the call state as its cancellation signal (`aborted`), and
   * the request id and caller for the audit trail, worked out only when a record asks for them.
   */
  readonly requestOptions: RequestOptions;
}

/** Request options read from the call state on demand (a decision not recorded never asks). */
class CallRequestOptions implements RequestOptions {
  constructor(
    readonly signal: Cancellation,
    private readonly call: CallContext,
  ) {}
  get requestId(): string {
    return this.call.requestId;
  }
  get caller(): string | undefined {
    return this.call.caller;
  }
}

type AnyMethod = GenServiceMethods[string];

type Handler<M extends AnyMethod> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, ctx: CallContext) => Promise<MessageInitShape<O>>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageShape<I>, ctx: CallContext) => AsyncIterable<MessageInitShape<O>>
    : M extends {
          methodKind: "client_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (requests: AsyncIterable<MessageShape<I>>, ctx: CallContext) => Promise<MessageInitShape<O>>
      : never;

export type ServiceImplementation<S extends GenServiceMethods> = { [K in keyof S]: Handler<S[K]> };

export interface CallObserver {
  onCallEnd(event: { readonly method: string; readonly code: status; readonly seconds: number }): void;
}

export interface AdapterOptions {
  readonly log: Logger;
  readonly observer?: CallObserver;
  /** The name of the token a call's metadata carries (auth.ts `callerOf`), for the audit trail. */
  readonly callerOf?: (metadata: Metadata) => string | undefined;
  /**
   * Most caveat context values one request message may hold in all (default: a context's limit,
   * 10,000), counted on the wire before decoding (wire-scan.ts).
   */
  readonly maxContextValues?: number;
  /**
   * How a failure becomes a status: Latch's own shape (errors.ts) unless a service speaks another
   * API's (authzed.api.v1, authzed/errors.ts).
   */
  readonly toWireError?: (error: unknown, requestId: string) => WireError;
}

export function requestIdOf(metadata: Metadata): string {
  return requestIdOr(metadata.get("x-request-id")[0]);
}

interface GrpcCall {
  readonly metadata: Metadata;
  /** Set by grpc-js before it emits `cancelled`. */
  readonly cancelled: boolean;
  getDeadline(): Date | number;
  on(event: "cancelled", listener: () => void): unknown;
}

const cancelledError = () =>
  new LatchError("request/cancelled", "deadline-exceeded", "the call was cancelled");
const deadlineError = () =>
  new LatchError("request/deadline-exceeded", "deadline-exceeded", "deadline exceeded");

/**
 * The bookkeeping of one call, and the context its handler sees. One object with its methods on
 * the prototype, and everything a fast call may never need (request id, AbortSignal, deadline
 * timer, log child) made on first use: on a cached check these cost as much as the check itself.
 */
class CallState implements CallContext {
  readonly metadata: Metadata;
  private readonly started = performance.now();
  private readonly deadlineMs: number;
  private readonly expiredAtStart: boolean;
  private id: string | undefined;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private child: Logger | undefined;
  private finished = false;

  constructor(
    private readonly call: GrpcCall,
    readonly method: string,
    private readonly options: AdapterOptions,
  ) {
    this.metadata = call.metadata;
    const deadline = call.getDeadline();
    this.deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    this.expiredAtStart = Number.isFinite(this.deadlineMs) && this.deadlineMs - Date.now() <= 0;
  }

  get requestId(): string {
    this.id ??= requestIdOf(this.metadata);
    return this.id;
  }

  get caller(): string | undefined {
    return this.options.callerOf?.(this.metadata);
  }

  get requestOptions(): RequestOptions {
    return new CallRequestOptions(this, this);
  }

  get signal(): AbortSignal {
    if (this.controller !== undefined) return this.controller.signal;
    const c = new AbortController();
    this.controller = c;
    if (this.finished) return c.signal;
    if (this.expiredAtStart) c.abort(deadlineError());
    // grpc-js emits `cancelled` when the stream closes, also after every call that ended well:
    // only a call still running is aborted.
    else if (this.call.cancelled) c.abort(cancelledError());
    else {
      this.call.on("cancelled", () => {
        if (!this.finished) c.abort(cancelledError());
      });
      if (Number.isFinite(this.deadlineMs)) {
        const left = this.deadlineMs - Date.now();
        if (left <= 0) c.abort(deadlineError());
        else this.timer = setTimeout(() => c.abort(deadlineError()), left);
      }
    }
    return c.signal;
  }

  get aborted(): boolean {
    if (this.controller !== undefined) return this.controller.signal.aborted;
    if (this.finished) return false;
    return (
      this.expiredAtStart ||
      this.call.cancelled ||
      (Number.isFinite(this.deadlineMs) && Date.now() >= this.deadlineMs)
    );
  }

  // A pino child per call costs more than a fast check; make it only when something is logged.
  get log(): Logger {
    this.child ??= this.options.log.child({ requestId: this.requestId, method: this.method });
    return this.child;
  }

  /**
   * A deadline already passed: before the request is decoded. The token was checked before grpc-js
   * read the message (auth-interceptor.ts), for every method this wrapper serves.
   */
  check(): void {
    if (this.expiredAtStart) throw deadlineError();
  }

  private elapsed(): number {
    this.finished = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    return (performance.now() - this.started) / 1000;
  }

  succeed(): void {
    const seconds = this.elapsed();
    if (this.options.log.isLevelEnabled("debug")) this.log.debug({ code: "OK", ms: seconds * 1000 }, "call");
    this.options.observer?.onCallEnd({ method: this.method, code: status.OK, seconds });
  }

  /** Logs and counts a failure; returns what the client gets. The request id goes back only here. */
  fail(error: unknown): { code: status; details: string; metadata: Metadata } {
    const seconds = this.elapsed();
    const wire = (this.options.toWireError ?? toWireError)(error, this.requestId);
    const fields = { code: status[wire.code], errorCode: wire.errorCode, ms: seconds * 1000 };
    if (wire.unexpected) this.log.error({ ...fields, err: error }, "call failed unexpectedly");
    // Garbage on the wire is worth a look (a broken client, or a probe), but it is no fault of
    // ours: one line, no stack.
    else if (wire.errorCode === MALFORMED) this.log.warn({ ...fields, message: wire.details }, "call failed");
    else this.log.info({ ...fields, message: wire.details }, "call failed");
    this.options.observer?.onCallEnd({ method: this.method, code: wire.code, seconds });
    return { code: wire.code, details: wire.details, metadata: wire.metadata };
  }
}

/**
 * One unary call, start to callback. An async function rather than a promise chain: the same
 * order of events, without three closures and a derived promise per call.
 */
async function runUnary(
  state: CallState,
  handler: (req: unknown, ctx: CallContext) => Promise<unknown>,
  bytes: Buffer,
  io: MethodIo,
  callback: sendUnaryData<unknown>,
): Promise<void> {
  let response: unknown;
  try {
    state.check();
    const request = io.decode(bytes);
    response = create(io.output, (await handler(request, state)) as MessageInitShape<DescMessage>);
  } catch (error) {
    callback(state.fail(error));
    return;
  }
  state.succeed();
  callback(null, response);
}

function wrapUnary(
  method: string,
  handler: (req: unknown, ctx: CallContext) => Promise<unknown>,
  io: MethodIo,
  options: AdapterOptions,
): handleUnaryCall<Buffer, unknown> {
  return (call: ServerUnaryCall<Buffer, unknown>, callback) => {
    void runUnary(new CallState(call, method, options), handler, call.request, io, callback);
  };
}

function waitForDrain(call: ServerWritableStream<Buffer, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.on("drain", done);
    signal.addEventListener("abort", done);
  });
}

function wrapServerStream(
  method: string,
  handler: (req: unknown, ctx: CallContext) => AsyncIterable<unknown>,
  io: MethodIo,
  options: AdapterOptions,
): handleServerStreamingCall<Buffer, unknown> {
  return (call: ServerWritableStream<Buffer, unknown>) => {
    const ctx = new CallState(call, method, options);
    (async () => {
      ctx.check();
      const pacer = createStreamPacer();
      for await (const item of handler(io.decode(call.request), ctx)) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        // Encoded here, where the pacer sees its cost: grpc-js would encode a message only when the
        // one before has been written, in that write's callback, and several such callbacks in
        // one turn encoded several messages of an export back to back (100-200 ms, stall-data.ts).
        // Respect back-pressure: a slow reader must not make us buffer a whole export.
        if (!call.write(await io.encodeStreamed(item, pacer))) await waitForDrain(call, ctx.signal);
        // And a fast one must not hold the event loop for the whole stream ('drain' may come on
        // the next tick, not in a later turn).
        await pacer.afterMessage();
      }
    })().then(
      () => {
        ctx.succeed();
        call.end();
      },
      (error: unknown) => {
        const wire = ctx.fail(error);
        if (!call.cancelled) call.emit("error", wire);
      },
    );
  };
}

/**
 * Resolves once the event loop has polled for I/O again: the second immediate runs a whole loop
 * iteration after the first, and so after a poll, whatever phase this was called in.
 */
const afterPoll = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/**
 * Each message of a client stream, decoded as the handler pulls it. Messages a fast client sent
 * ahead are already buffered and their awaits never leave the microtask queue: without a turn
 * between them, decoding and converting a stream of 10,000-relationship imports held the server
 * 130-200 ms at a time (bench/stall-data.ts).
 *
 * It ends only at a clean half-close of a call still running, else it throws: a handler that
 * commits at the end (the imports) must never take a cancelled call's end for one, and grpc-js
 * does not tell them apart. It destroys the request stream at a cancel without an error, and
 * Node's iterator of a destroyed stream may then just end. And Node's HTTP/2 client (grpc-js's
 * `cancel()`) half-closes the stream (END_STREAM) before it resets it (RST_STREAM), in another
 * write: the server may see the half-close alone first (test/server/import-cancel.test.ts).
 */
async function* decodeEach(
  call: AsyncIterable<unknown>,
  io: MethodIo,
  state: CallState,
): AsyncIterable<unknown> {
  const pacer = createStreamPacer();
  try {
    for await (const bytes of call) {
      if (state.aborted) throw state.signal.reason;
      for (const message of io.decodeStreamed(bytes as Buffer)) {
        yield message;
        const turn = pacer.afterMessage();
        if (turn !== undefined) await turn;
      }
    }
  } catch (error) {
    // A cancel also surfaces as Node's "Premature close": report it as what it is.
    if (state.aborted) throw state.signal.reason;
    throw error;
  }
  // A reset sent right after the half-close is most likely on the socket already: read it before
  // the handler is told that the stream ended well. This narrows the window, no more: a reset
  // read later is still seen by a handler that asks the call's signal before its commit.
  await afterPoll();
  if (state.aborted) throw state.signal.reason;
}

function wrapClientStream(
  method: string,
  handler: (reqs: AsyncIterable<unknown>, ctx: CallContext) => Promise<unknown>,
  io: MethodIo,
  options: AdapterOptions,
): handleClientStreamingCall<Buffer, unknown> {
  return (call: ServerReadableStream<Buffer, unknown>, callback) => {
    const ctx = new CallState(call, method, options);
    (async () => {
      ctx.check();
      const result = await handler(decodeEach(call, io, ctx), ctx);
      return create(io.output, result as MessageInitShape<DescMessage>);
    })().then(
      (response) => {
        ctx.succeed();
        callback(null, response);
      },
      (error: unknown) => {
        // Stop reading what the client still sends; the answer is already decided.
        call.destroy();
        callback(ctx.fail(error));
      },
    );
  };
}

const MALFORMED = "request/malformed";

/**
 * An import's message is decoded in parts of about this size, a turn between when due: protobuf-es
 * decodes a message in one go, and one of 10,000 relationships took 50-150 ms with its garbage
 * collection (bench/stall-data.ts).
 */
const PART_BYTES = 16 * 1024;

/** How one method's request is decoded, and its response type. */
interface MethodIo {
  readonly decode: (bytes: Buffer) => unknown;
  /**
   * A client stream's message, or for one whose message is one repeated field (the imports) the
   * message in parts (wire-scan.ts `splitAtFields`), each decoded as it is asked for: a part is
   * used before the next is decoded, so few of its objects outlive a scavenge.
   */
  readonly decodeStreamed: (bytes: Buffer) => Iterable<unknown>;
  /**
   * A server stream's message, encoded with the stream's pacer asked within a large one (the
   * server's definition passes bytes on as they are).
   */
  readonly encodeStreamed: PacedEncoder;
  readonly output: DescMessage;
}

function methodIo(
  input: DescMessage,
  output: DescMessage,
  codec: ServerCodec | undefined,
  maxContextValues: number,
  clientStream: boolean,
): MethodIo {
  // Caveat contexts are read by struct-codec.ts, within the limits (typed errors), the rest by
  // protobuf-es (request-decoder.ts) or the method's own codec.
  const read = codec?.decodeRequest ?? requestDecoder(input);
  const limits: ContextDecodeLimits = { ...DEFAULT_CONTEXT_DECODE_LIMITS, maxValues: maxContextValues };
  // A context value takes at least two bytes on the wire: a smaller message cannot be over.
  const scanFrom = 2 * maxContextValues;
  const scan = (bytes: Buffer): void => {
    if (bytes.length > scanFrom && countContextValues(input, bytes, maxContextValues) > maxContextValues) {
      throw tooManyContextValues(maxContextValues);
    }
  };
  const readChecked = (bytes: Buffer): unknown => {
    try {
      return read(bytes, limits);
    } catch (error) {
      if (error instanceof LatchError) throw error;
      // protobuf-es (or struct-codec.ts, in its words) says what it found ("premature EOF",
      // "invalid wire type 7 @ 3"): short, and about the bytes only, never about Latch.
      const reason = error instanceof Error ? error.message.slice(0, 200) : "cannot be decoded";
      throw new LatchError(
        MALFORMED,
        "invalid-argument",
        `the request is not a valid ${input.typeName} message (${reason}): send protobuf-encoded bytes of that message`,
        { messageType: input.typeName, reason },
      );
    }
  };
  const decode = (bytes: Buffer): unknown => {
    scan(bytes);
    return readChecked(bytes);
  };
  const splittable = clientStream && onlyListField(input) !== undefined;
  function* decodeStreamed(bytes: Buffer): Iterable<unknown> {
    const parts = splittable && bytes.length > PART_BYTES ? splitAtFields(bytes, PART_BYTES) : undefined;
    if (parts === undefined) {
      yield decode(bytes);
      return;
    }
    // The message's context values are counted part by part, against the one budget.
    let left = maxContextValues;
    for (const part of parts) {
      const found = countContextValues(input, part, left);
      if (found > left) throw tooManyContextValues(maxContextValues);
      left -= found;
      yield readChecked(part);
    }
  }
  return { output, decode, decodeStreamed, encodeStreamed: pacedEncoder(output) };
}

/**
 * Wraps async handlers into the callback-style implementation grpc-js calls, for the definition
 * `serverServiceDefinition` makes (requests as raw bytes; `serverCodecs` as given to it). Serve it
 * only behind the auth interceptor (auth-interceptor.ts): the wrapper does not check tokens.
 */
export function serviceImplementation<S extends GenServiceMethods>(
  service: GenService<S>,
  impl: ServiceImplementation<S>,
  options: AdapterOptions,
  serverCodecs: Readonly<Record<string, ServerCodec>> = {},
): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const m of service.methods) {
    const method = `${service.typeName}/${m.name}`;
    const handler = (impl as Record<string, unknown>)[m.localName];
    if (typeof handler !== "function") throw new Error(`no handler for ${method}`);
    const codec = Object.hasOwn(serverCodecs, m.localName) ? serverCodecs[m.localName] : undefined;
    const io = methodIo(
      m.input,
      m.output,
      codec,
      options.maxContextValues ?? DEFAULT_CONTEXT_LIMITS.maxValues,
      m.methodKind === "client_streaming",
    );
    switch (m.methodKind) {
      case "unary":
        out[m.localName] = wrapUnary(method, handler as never, io, options);
        break;
      case "server_streaming":
        out[m.localName] = wrapServerStream(method, handler as never, io, options);
        break;
      case "client_streaming":
        out[m.localName] = wrapClientStream(method, handler as never, io, options);
        break;
      default:
        throw new Error(`${method}: ${m.methodKind} is not supported`);
    }
  }
  return out;
}
