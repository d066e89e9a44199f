/**
 * The HTTP side of `latch serve --http-listen`: one port serving Latch's own services in the
 * Connect protocol (`POST /latch.v1.PermissionService/CheckPermission`, JSON or binary), and the
 * routes given in `routes` (SpiceDB's HTTP gateway, http-gateway.ts). Same handlers, token, limits
 * and error codes as the gRPC port; HTTP/1.1, TLS when the gRPC port has it.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Metadata } from "@grpc/grpc-js";
import { connectGate, connectImplementation } from "./connect-adapter.js";
import type { AdapterOptions } from "./grpc-adapter.js";
import { closeOnceAnswered, lingerOnClose } from "./http-close.js";
import type { ServerLimits } from "./limits.js";
import { listenOn } from "./observability.js";
import type { ServedService } from "./services.js";

/** Routes served beside Connect's; `handle` answers and returns true when the request is theirs. */
export interface HttpRoutes {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export interface HttpServerOptions {
  /** Served in the Connect protocol. */
  readonly services: readonly ServedService[];
  readonly adapter: AdapterOptions;
  /** Throws an `unauthenticated` LatchError for a call without a valid token (auth.ts). */
  readonly authenticate: (metadata: Metadata) => void;
  readonly limits: ServerLimits;
  /** Aborted at shutdown: Connect then ends streams still open. */
  readonly shutdown: AbortSignal;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Tried before Connect's routes. */
  readonly routes?: readonly HttpRoutes[];
  /** How long a socket may take to send a request's headers (default 10 s). */
  readonly headersTimeoutMs?: number;
}

export interface HttpServer {
  /** Binds and returns the bound address (`127.0.0.1:0` picks a free port). */
  listen(address: string): Promise<string>;
  /** Stops accepting, lets calls in progress finish for up to `graceMs`, then cuts them. */
  close(graceMs: number): Promise<void>;
}

/** A JSON error for requests no route takes, in the shape Connect and the gateway answer. */
function notFound(req: IncomingMessage, res: ServerResponse): void {
  // A body nobody will read is not drained (Node would read on until the request timeout).
  closeOnceAnswered(req, res);
  res.writeHead(404, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      code: "not_found",
      message: `no route for ${req.method} ${req.url ?? ""}: Latch's services are at POST /latch.v1.<Service>/<Method> (Connect protocol), SpiceDB's HTTP gateway at POST /v1/...`,
      errorCode: "http/not-found",
    }),
  );
}

/** The longest timer Node keeps: a longer delay fires after 1 ms (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Why `req` is a browser's request from another site, or undefined. Such a request is refused
 * before any route sees it: without a token (`--insecure-no-auth`) any page the user opens could
 * otherwise write relationships or a schema with a "simple" POST (text/plain, no preflight).
 * Browsers send `Sec-Fetch-Site`, which a proxy does not change; older ones only `Origin`, compared
 * with `Host`. Requests with neither (curl, the SDKs) are not browsers' and pass; so do GET and
 * HEAD (the console's files, /healthz), which change nothing and whose answers a page on another
 * origin cannot read.
 */
export function crossSiteReason(req: IncomingMessage): string | undefined {
  if (req.method === "GET" || req.method === "HEAD") return undefined;
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string") {
    const s = site.trim().toLowerCase();
    return s === "cross-site" || s === "same-site" ? `Sec-Fetch-Site is ${s}` : undefined;
  }
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  const host = req.headers.host ?? "";
  try {
    const from = new URL(origin);
    // The Host header read with the Origin's scheme, so that default ports compare equal.
    if (from.host !== "" && from.host === new URL(`${from.protocol}//${host}`).host) return undefined;
  } catch {
    // "null" (a sandboxed frame, a file: page) or garbage: not this server.
  }
  return `Origin ${origin.slice(0, 200)} is not this server (Host ${host.slice(0, 200)})`;
}

function refuseCrossSite(req: IncomingMessage, res: ServerResponse, reason: string): void {
  const message = `cross-site browser requests are refused (${reason}): call the HTTP API from a page served by this server (the console), or from a program`;
  closeOnceAnswered(req, res);
  res.writeHead(403, { "content-type": "application/json", "latch-error-code": "http/cross-site" });
  // In the shape of the route asked for: the gateway's google.rpc.Status, or Connect's error.
  const path = (req.url ?? "").split("?")[0]!;
  res.end(
    JSON.stringify(
      path.startsWith("/v1/")
        ? { code: 7, message, details: [] }
        : { code: "permission_denied", message, errorCode: "http/cross-site" },
    ),
  );
}

export function createLatchHttpServer(options: HttpServerOptions): HttpServer {
  const connect = connectNodeAdapter({
    routes(router: ConnectRouter) {
      for (const served of options.services) {
        router.service(served.service, connectImplementation(served, options.adapter) as never);
      }
    },
    // Only the Connect protocol: gRPC has its own port, where the limits of HTTP/2 are tuned.
    grpc: false,
    grpcWeb: false,
    connect: true,
    readMaxBytes: options.limits.maxMessageBytes,
    // A misspelt field is an error that names it, not a field silently left empty.
    jsonOptions: { ignoreUnknownFields: false },
    shutdownSignal: options.shutdown,
    // `curl -d` sends no Connect-Protocol-Version header; the content type is enough to tell.
    requireConnectProtocolHeader: false,
    requestGate: connectGate(options.authenticate, options.adapter),
    fallback: (req, res) => notFound(req as IncomingMessage, res as ServerResponse),
  });
  const routes = options.routes ?? [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const crossSite = crossSiteReason(req);
    if (crossSite !== undefined) {
      refuseCrossSite(req, res, crossSite);
      return;
    }
    for (const r of routes) if (r.handle(req, res)) return;
    // connect-node arms a timer with the header's value, which Node fires after 1 ms when it is
    // over 2^31-1 ms (24.8 days): such a deadline is as good as none, so it is clamped.
    const timeout = req.headers["connect-timeout-ms"];
    if (typeof timeout === "string" && /^\d{1,10}$/.test(timeout) && Number(timeout) > MAX_TIMER_MS)
      req.headers["connect-timeout-ms"] = String(MAX_TIMER_MS);
    // The gate answers a refusal with `connection: close` (connect-adapter.ts), but cannot reach
    // the socket: its body is left unread this way.
    lingerOnClose(req);
    connect(req, res);
  };
  // A socket must send its headers soon and its whole request within a minute (a full 4 MiB
  // body at 70 KiB/s): a slow sender cannot hold a socket open for long. Answers (a Watch stream)
  // may last as long as they need.
  const timeouts = { headersTimeout: options.headersTimeoutMs ?? 10_000, requestTimeout: 60_000 };
  const server =
    options.tls === undefined
      ? createHttpServer(timeouts, listener)
      : createHttpsServer({ ...timeouts, cert: options.tls.cert, key: options.tls.key }, listener);
  return {
    listen: (address) => listenOn(server, address),
    async close(graceMs) {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}
