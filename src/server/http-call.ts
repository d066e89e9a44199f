/**
 * One call that came over HTTP (Connect or SpiceDB's gateway), as handlers see it: the same
 * CallContext the gRPC wrapper gives (request id, cancellation, caller, logs), and the same
 * bookkeeping when it ends (a log line, the call metric).
 */
import { Metadata, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { LatchError } from "../core/index.js";
import type { RequestOptions } from "../engine/index.js";
import { toWireError as latchWireError, type WireError } from "./errors.js";
import type { AdapterOptions, CallContext } from "./grpc-adapter.js";
import { requestIdOr } from "./request-id.js";

/** Request headers as gRPC metadata, which handlers, auth and routing read. */
function metadataOfHeaders(headers: Iterable<readonly [string, string | readonly string[]]>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of headers) {
    // Metadata refuses keys gRPC would not send (and wants Buffers for `-bin` ones): skip those.
    if (key.endsWith("-bin") || key.startsWith(":")) continue;
    for (const one of typeof value === "string" ? [value] : value) {
      try {
        metadata.add(key.toLowerCase(), one);
      } catch {
        // Not a header any handler reads.
      }
    }
  }
  return metadata;
}

export const cancelledError = () =>
  new LatchError("request/cancelled", "deadline-exceeded", "the call was cancelled");
export const deadlineError = () =>
  new LatchError("request/deadline-exceeded", "deadline-exceeded", "deadline exceeded");

export class HttpCall implements CallContext, RequestOptions {
  private readonly started = performance.now();
  private md: Metadata | undefined;
  private id: string | undefined;
  private child: Logger | undefined;

  /**
   * `signal` is aborted with a Latch error (`deadlineError` or `cancelledError`) when the client
   * goes away or the deadline passes; `headers` are read only when something asks for them.
   */
  constructor(
    readonly method: string,
    private readonly options: AdapterOptions,
    private readonly headers: () => Iterable<readonly [string, string | readonly string[]]>,
    private readonly requestIdHeader: string | null | undefined,
    readonly signal: AbortSignal,
  ) {}

  get metadata(): Metadata {
    this.md ??= metadataOfHeaders(this.headers());
    return this.md;
  }

  get requestId(): string {
    if (this.id === undefined) {
      this.id = requestIdOr(this.requestIdHeader);
    }
    return this.id;
  }

  get caller(): string | undefined {
    return this.options.callerOf?.(this.metadata);
  }

  get requestOptions(): RequestOptions {
    return this;
  }

  get aborted(): boolean {
    return this.signal.aborted;
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

  /** Logs and counts a failure that is not Latch's own doing to describe (a transport's error). */
  failAs(code: status): void {
    this.options.observer?.onCallEnd({ method: this.method, code, seconds: this.seconds() });
  }

  /**
   * Logs and counts a failure; returns what the client gets, in the shape of `toWireError`
   * (Latch's own, or another API's: authzed/errors.ts).
   */
  fail(
    error: unknown,
    toWireError: (error: unknown, requestId: string) => WireError = latchWireError,
  ): WireError {
    const seconds = this.seconds();
    const wire = toWireError(error, this.requestId);
    const fields = { code: status[wire.code], errorCode: wire.errorCode, ms: seconds * 1000 };
    if (wire.unexpected) this.log.error({ ...fields, err: error }, "call failed unexpectedly");
    else this.log.info({ ...fields, message: wire.details }, "call failed");
    this.options.observer?.onCallEnd({ method: this.method, code: wire.code, seconds });
    return wire;
  }
}
