/**
 * The token check, as a grpc-js server interceptor: it runs when the call's headers arrive, before
 * grpc-js reads a byte of the message. grpc-js reads a request only when the handler asks for it
 * (`startRead`, which its unary and streaming handlers do right after the headers); a call refused
 * here never asks, so its message is neither buffered whole nor decoded. What the client already
 * sent stays within HTTP/2 flow control (the stream's window, 64 KiB by default) and is dropped
 * unread when the call ends.
 *
 * Only the methods of Latch's own services are guarded; health and reflection stay open, as
 * before. One object per guarded call: it is both the call grpc-js sees and the listener it feeds.
 */
import type {
  Metadata,
  ServerInterceptingCallInterface,
  ServerInterceptor,
  StatusObject,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Authenticator } from "./auth.js";
import { toWireError } from "./errors.js";
import { type CallObserver, requestIdOf } from "./grpc-adapter.js";

type PartialStatus = Pick<StatusObject, "code" | "details"> & { metadata?: Metadata | null };
type Call = ServerInterceptingCallInterface;
type InterceptingListener = Parameters<Call["start"]>[0];

export interface AuthGate {
  readonly auth: Authenticator;
  readonly log: Logger;
  readonly observer?: CallObserver;
}

/** The status to answer instead of calling the handler, or undefined when the token is good. */
function refusal(gate: AuthGate, path: string, metadata: Metadata): PartialStatus | undefined {
  try {
    gate.auth.authenticate(metadata);
    return undefined;
  } catch (error) {
    const requestId = requestIdOf(metadata);
    const method = path.slice(1);
    const wire = toWireError(error, requestId);
    const log = gate.log.child({ requestId, method });
    if (wire.unexpected) log.error({ errorCode: wire.errorCode, err: error }, "authentication failed");
    else
      log.info({ code: "UNAUTHENTICATED", errorCode: wire.errorCode, message: wire.details }, "call refused");
    gate.observer?.onCallEnd({ method, code: wire.code, seconds: 0 });
    return { code: wire.code, details: wire.details, metadata: wire.metadata };
  }
}

class AuthenticatingCall implements ServerInterceptingCallInterface, InterceptingListener {
  private listener: InterceptingListener | undefined;

  constructor(
    private readonly next: ServerInterceptingCallInterface,
    private readonly gate: AuthGate,
    private readonly path: string,
  ) {}

  // As the call grpc-js's handler drives.
  start(listener: InterceptingListener): void {
    this.listener = listener;
    this.next.start(this);
  }
  sendMetadata(metadata: Metadata): void {
    this.next.sendMetadata(metadata);
  }
  sendMessage(message: unknown, callback: () => void): void {
    this.next.sendMessage(message, callback);
  }
  sendStatus(status: PartialStatus): void {
    this.next.sendStatus(status);
  }
  startRead(): void {
    this.next.startRead();
  }
  getPeer(): string {
    return this.next.getPeer();
  }
  getDeadline() {
    return this.next.getDeadline();
  }
  getHost(): string {
    return this.next.getHost();
  }
  getAuthContext(): ReturnType<Call["getAuthContext"]> {
    return this.next.getAuthContext();
  }
  getConnectionInfo(): ReturnType<Call["getConnectionInfo"]> {
    return this.next.getConnectionInfo();
  }
  getMetricsRecorder() {
    return this.next.getMetricsRecorder();
  }

  // As the listener of the call below: the headers are checked before the handler sees them.
  onReceiveMetadata(metadata: Metadata): void {
    const refused = refusal(this.gate, this.path, metadata);
    if (refused === undefined) this.listener!.onReceiveMetadata(metadata);
    else this.next.sendStatus(refused);
  }
  onReceiveMessage(message: unknown): void {
    this.listener!.onReceiveMessage(message);
  }
  onReceiveHalfClose(): void {
    this.listener!.onReceiveHalfClose();
  }
  onCancel(): void {
    this.listener!.onCancel();
  }
}

/**
 * Checks the token of every call to a path in `guarded` (filled as services are added) before its
 * message is read.
 */
export function authInterceptor(guarded: ReadonlySet<string>, gate: AuthGate): ServerInterceptor {
  // grpc-js's type asks for its own ServerInterceptingCall class, but it only ever uses the
  // interface (it chains interceptors by it); its own class would add a responder and closures
  // on every message and status of every call.
  type Out = ReturnType<ServerInterceptor>;
  if (!gate.auth.enabled) return (_method, call) => call as Out;
  return (method, call) =>
    (guarded.has(method.path) ? new AuthenticatingCall(call, gate, method.path) : call) as Out;
}
