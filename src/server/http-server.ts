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
function notFound(res: ServerResponse, method: string | undefined, path: string): void {
  res.writeHead(404, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      code: "not_found",
      message: `no route for ${method} ${path}: Latch's services are at POST /latch.v1.<Service>/<Method> (Connect protocol), SpiceDB's HTTP gateway at POST /v1/...`,
      errorCode: "http/not-found",
    }),
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
    fallback: (req, res) => notFound(res as ServerResponse, req.method, req.url ?? ""),
  });
  const routes = options.routes ?? [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    for (const r of routes) if (r.handle(req, res)) return;
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
