/**
 * What a unary call does across its attempts, whichever HTTP/2 client carries it (h2-transport.ts
 * frames HTTP/2 itself, http2-transport.ts goes through node:http2): it is its own deadline entry on
 * the shared wheel (no timer of its own) and its own abort listener (`handleEvent`), decodes the
 * answer, retries what may be retried, and settles once. A transport says how an attempt starts
 * and how it is cancelled.
 */
import { status } from "@grpc/grpc-js";
import type { Expiring, Lane } from "./deadline-wheel.js";
import { type RemoteError, remoteError } from "./errors.js";
import { retryPause } from "./retry-policy.js";

/** A RemoteError the transport made itself (no server status), `grpc/<status>` like grpc-js's. */
export function localError(code: status, message: string): RemoteError {
  return remoteError(code, message, () => undefined);
}

/** REFUSED_STREAM: the server did not process the call, so any call may be sent again. */
export const refused = new WeakSet<RemoteError>();

// `new Promise(capture)` hands its resolvers over without a closure per call.
let capturedResolve: (value: unknown) => void = () => undefined;
let capturedReject: (error: unknown) => void = () => undefined;
export function capture(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** Made inside `new Promise(capture)`, whose resolvers it takes. */
export abstract class UnaryCall implements Expiring {
  deadlineAt = 0;
  lane: Lane | undefined = undefined;
  prev: Expiring | undefined = undefined;
  next: Expiring | undefined = undefined;
  attempt = 0;
  chunks: Buffer[] = [];
  received = 0;
  backoff: NodeJS.Timeout | undefined = undefined;
  /** `Date.now()` when the call's deadline passes, over all its attempts. */
  private endsAt = 0;
  private settled = false;
  private readonly resolve = capturedResolve;
  private readonly reject = capturedReject;

  constructor(
    private readonly codec: { readonly decode: (bytes: Buffer) => unknown },
    protected readonly timeoutMs: number,
    protected readonly signal: AbortSignal | undefined,
    private readonly idempotent: boolean,
    private readonly maxAttempts: number,
  ) {}

  /**
   * This attempt's timeout: the call's own for the first, what is left of it for a retry: retries
   * never extend the call's deadline, and the server is told what is left.
   */
  protected attemptMs(): number {
    return this.attempt === 0 ? this.timeoutMs : Math.max(1, this.endsAt - Date.now());
  }

  /** Starts an attempt (the first, or a retry after its backoff). */
  start(): void {
    this.backoff = undefined;
    if (this.attempt === 0) this.endsAt = Date.now() + this.timeoutMs;
    if (this.clientClosed) this.settle(localError(status.UNAVAILABLE, "the client is closed"));
    else this.send();
  }
  /** The client was closed: no attempt starts. */
  protected abstract get clientClosed(): boolean;
  /** Puts an attempt on the wire. */
  protected abstract send(): void;
  /** An attempt is on the wire. */
  protected abstract get sending(): boolean;
  /** Ends the attempt on the wire from this side and settles with `error`. */
  abstract cancel(error: RemoteError): void;

  expire(): void {
    this.cancel(localError(status.DEADLINE_EXCEEDED, "Deadline exceeded"));
  }

  handleEvent(): void {
    const error = localError(status.CANCELLED, "Cancelled on client");
    if (this.sending) this.cancel(error);
    else if (this.backoff !== undefined) {
      clearTimeout(this.backoff);
      this.backoff = undefined;
      this.settle(error);
    }
  }

  protected answered(message: Buffer): void {
    let decoded: unknown;
    try {
      decoded = this.codec.decode(message);
    } catch (error) {
      this.settle(localError(status.INTERNAL, `cannot decode the answer: ${(error as Error).message}`));
      return;
    }
    if (this.finish()) this.resolve(decoded);
  }

  protected failed(error: RemoteError): void {
    const again =
      error.status === status.UNAVAILABLE &&
      (this.idempotent || refused.has(error)) &&
      !this.signal?.aborted &&
      !this.settled;
    const pause = again ? retryPause(this.attempt, this.maxAttempts, this.endsAt) : undefined;
    if (pause === undefined) {
      this.settle(error);
      return;
    }
    this.backoff = setTimeout(() => this.start(), pause);
    this.attempt++;
  }

  /** Fails the call with `error`, unless it already settled. */
  protected settle(error: RemoteError): void {
    if (this.finish()) this.reject(error);
  }

  /**
   * Marks the call settled; false when it already was. Answers and errors settle through their own
   * paths: an `instanceof RemoteError` on every answer showed in profiles (V8 looked its
   * Symbol.hasInstance up through the class chain each time).
   */
  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.signal?.removeEventListener("abort", this);
    return true;
  }
}
