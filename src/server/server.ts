/** The gRPC server: services, auth, health, reflection, limits, graceful shutdown; and the HTTP one. */
import { type Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ApprovalFlow } from "../approvals/index.js";
import type { Engine } from "../engine/index.js";
import {
  createActorTokens,
  createDelegation,
  type Decider,
  decorate,
  type PermissionWatch,
} from "../service/index.js";
import type { Signals } from "../signals/index.js";
import type { Store } from "../store/index.js";
import { type Authenticator, createAuthenticator, type NamedToken, parseTokens } from "./auth.js";
import { authInterceptor } from "./auth-interceptor.js";
import { startDatastoreHealth, watchReadReplicas } from "./datastore-health.js";
import { addHealth, addReflection, SERVICE_NAMES } from "./discovery.js";
import { type AdapterOptions, serviceImplementation } from "./grpc-adapter.js";
import { methodPaths, serverServiceDefinition } from "./grpc-definition.js";
import { closeSilentSockets, DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./handshake-timeout.js";
import type { HttpRoutes, HttpServer } from "./http-server.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import { createLogger, type Metrics, type MetricsServer, startMetricsServer } from "./observability.js";
import {
  type Backend,
  SERVED_SHAPES,
  type ServedService,
  type ServiceSettings,
  servedServices,
} from "./services.js";
import { type TestingOptions, testingAuthenticator, testingServices } from "./testing-mode.js";
import { useNodeTextEncoding } from "./text-encoding.js";

/** What the server serves from: one backend, or (`--testing`) one per token. */
export type BackendOptions =
  | {
      readonly store: Store;
      readonly engine: Engine;
      /**
       * Where Check, CheckBulk and LookupResources are decided (the service layer's seam, e.g.
       * `openLatch().decider`); when absent, the engine under the delegation decorator with its
       * defaults, so that an on-behalf-of chain is always answered.
       */
      readonly decider?: Decider;
      /** The approval flow behind ApprovalService (`openLatch().approvals`); without it, its calls are refused. */
      readonly approvals?: ApprovalFlow;
      /** WatchPermissions' live sets (`openLatch().permissions`); when absent, one over the decider. */
      readonly permissions?: PermissionWatch;
      /** Security signals behind SignalService (`openLatch().signals`); without it, SendSignal is refused. */
      readonly signals?: Signals;
      readonly testing?: undefined;
    }
  | {
      /**
       * Testing mode: every distinct bearer token gets its own empty store, opened on its first
       * call; any token is accepted (`tokens` and `insecureNoAuth` are not used). Tests only.
       */
      readonly testing: TestingOptions;
      readonly store?: undefined;
      readonly engine?: undefined;
      readonly decider?: undefined;
      readonly approvals?: undefined;
      readonly permissions?: undefined;
      readonly signals?: undefined;
    };

export type ServerOptions = BackendOptions & CommonServerOptions;

export interface CommonServerOptions {
  /**
   * Pre-shared bearer tokens, each `name=secret`, a bare secret (named `token-N`) or a NamedToken;
   * the name is the caller the audit trail records. Without any, `insecureNoAuth` must be set.
   */
  readonly tokens?: readonly (string | NamedToken)[];
  readonly insecureNoAuth?: boolean;
  /** Accept tokens shorter than MIN_TOKEN_LENGTH (tests, development). */
  readonly insecureShortTokens?: boolean;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly limits?: Partial<ServerLimits>;
  /** PEM certificate chain and private key; plaintext when absent. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly watchPollMs?: number;
  /** How often health probes the datastore (default 2000 ms); NOT_SERVING while it fails. */
  readonly healthProbeMs?: number;
  /**
   * A connection with no call in progress for this long is closed (default 5 min; GOAWAY, then
   * the socket). The clock starts when the socket is accepted, so a plaintext socket that never
   * sends a byte is closed after this long too.
   */
  readonly idleTimeoutMs?: number;
  /**
   * A socket that has not sent an HTTP/2 preface within this long is closed (default 10 s; see
   * handshake-timeout.ts for what is judged and what TLS leaves to Node).
   */
  readonly handshakeTimeoutMs?: number;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

export interface LatchServer {
  readonly grpc: Server;
  readonly limits: ServerLimits;
  /** Binds and returns the bound address (`127.0.0.1:0` picks a free port). */
  listen(address: string): Promise<string>;
  /** Binds the HTTP server and returns its bound address. */
  listenHttp(address: string): Promise<string>;
  /** Binds the web console (its files from `dir`) and, on the same port, the Connect API. */
  listenConsole(address: string, dir?: string): Promise<string>;
  /** Stops accepting, ends Watch streams, waits up to `graceMs` for in-flight calls, then cuts. */
  shutdown(graceMs?: number): Promise<void>;
}

export class ServerConfigError extends Error {
  override readonly name = "ServerConfigError";
}

/** Shortest token accepted without `insecureShortTokens`: 16 characters, as a guess-proof floor. */
export const MIN_TOKEN_LENGTH = 16;

/** Throws a ServerConfigError for a missing or too short token; returns the tokens, named. */
export function checkTokens(
  options: Pick<ServerOptions, "tokens" | "insecureNoAuth" | "insecureShortTokens">,
  what = "token",
): readonly NamedToken[] {
  const tokens = parseTokens(options.tokens ?? []);
  if (tokens.length === 0 && options.insecureNoAuth !== true) {
    throw new ServerConfigError("no token configured: give --token (or LATCH_TOKEN), or --insecure-no-auth");
  }
  if (options.insecureShortTokens !== true) {
    const short = tokens.findIndex((t) => [...t.secret].length < MIN_TOKEN_LENGTH);
    if (short >= 0) {
      throw new ServerConfigError(
        `${what} ${short + 1} of ${tokens.length} (${tokens[short]!.name}) has ${[...tokens[short]!.secret].length} characters: tokens need at least ${MIN_TOKEN_LENGTH} (e.g. \`openssl rand -hex 24\`), or --insecure-short-tokens for development`,
      );
    }
  }
  return tokens;
}

/** The services over the one backend, or the testing mode's routers and their pool. */
function servicesOf(
  options: ServerOptions,
  settings: ServiceSettings,
): { services: ServedService[]; close(): Promise<void> } {
  const build = (backend: Backend) => servedServices(backend, settings);
  if (options.testing !== undefined) {
    const testing = testingServices(options.testing, SERVED_SHAPES, build);
    return { services: testing.services, close: () => testing.pool.close() };
  }
  const decider =
    options.decider ??
    decorate(
      options.engine,
      createActorTokens(undefined),
      createDelegation({ maxBulkItems: settings.limits.maxBulkItems }),
    );
  return {
    services: build({
      store: options.store,
      engine: options.engine,
      decider,
      ...(options.approvals === undefined ? {} : { approvals: options.approvals }),
      ...(options.permissions === undefined ? {} : { permissions: options.permissions }),
      ...(options.signals === undefined ? {} : { signals: options.signals }),
    }),
    close: async () => {},
  };
}

export function createServer(options: ServerOptions): LatchServer {
  const testing = options.testing !== undefined;
  const auth: Authenticator = testing ? testingAuthenticator() : createAuthenticator(checkTokens(options));
  useNodeTextEncoding();
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.logger ?? createLogger("info");
  const adapter: AdapterOptions = {
    log,
    callerOf: (metadata) => auth.callerOf(metadata),
    ...(options.metrics === undefined ? {} : { observer: options.metrics }),
  };
  // Every method added below is guarded: its token is checked before its message is read.
  const guarded = new Set<string>();
  const grpc = new Server({
    "grpc.max_receive_message_length": limits.maxMessageBytes,
    "grpc.max_send_message_length": Math.max(limits.maxMessageBytes, 16 * 1024 * 1024),
    // Latch serves no channelz service, so nobody could read what grpc-js would track per call
    // (an object of callbacks and timestamps for every call).
    "grpc.enable_channelz": 0,
    "grpc.max_connection_idle_ms": options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    interceptors: [authInterceptor(guarded, { ...adapter, auth })],
  });
  const shutdownController = new AbortController();
  const served = servicesOf(options, {
    limits,
    watchPollMs: options.watchPollMs ?? 50,
    shutdown: shutdownController.signal,
  });
  for (const { service, impl, codecs = {}, toWireError } of served.services) {
    for (const path of methodPaths(service)) guarded.add(path);
    grpc.addService(
      serverServiceDefinition(service, codecs),
      serviceImplementation(
        service,
        impl,
        // Another API's error shape (authzed.api.v1's); Latch's own when absent.
        toWireError === undefined ? adapter : { ...adapter, toWireError },
        codecs,
      ),
    );
  }
  const health = addHealth(grpc);
  // In testing mode every token has its own in-memory store: there is no one datastore to probe.
  const datastoreHealth =
    options.store === undefined
      ? undefined
      : startDatastoreHealth({ store: options.store, health, log, intervalMs: options.healthProbeMs });
  const replicaStatuses = options.store?.readReplicas?.bind(options.store);
  const replicaHealth =
    replicaStatuses === undefined
      ? undefined
      : watchReadReplicas({ statuses: replicaStatuses, health, log, intervalMs: options.healthProbeMs });
  addReflection(grpc);
  const authenticate = (metadata: Metadata) => auth.authenticate(metadata);
  // The HTTP side is loaded when asked for: Connect's packages cost a server without it nothing.
  let http: HttpServer | undefined;
  let consoleHttp: HttpServer | undefined;
  const startHttp = async (before: readonly HttpRoutes[] = []): Promise<HttpServer> => {
    const [{ createLatchHttpServer }, { createGateway }, { SPICEDB_GATEWAY_ROUTES }] = await Promise.all([
      import("./http-server.js"),
      import("./http-gateway.js"),
      import("./gateway-routes.js"),
    ]);
    return createLatchHttpServer({
      // Latch's own API in the Connect protocol; SpiceDB's has its HTTP gateway (http-gateway.ts).
      services: served.services.filter((s) => s.service.typeName.startsWith("latch.v1.")),
      adapter,
      authenticate,
      limits,
      shutdown: shutdownController.signal,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      headersTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      routes: [
        ...before,
        createGateway({
          routes: SPICEDB_GATEWAY_ROUTES,
          services: served.services,
          adapter,
          authenticate,
          maxBodyBytes: limits.maxMessageBytes,
          serving: () => !shutdownController.signal.aborted && (datastoreHealth?.serving ?? true),
        }),
      ],
    });
  };

  const credentials =
    options.tls === undefined
      ? ServerCredentials.createInsecure()
      : ServerCredentials.createSsl(
          null,
          [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
          false,
        );

  const stopWatching: (() => void)[] = [];
  return {
    grpc,
    limits,
    listen(address) {
      return new Promise((resolve, reject) => {
        grpc.bindAsync(address, credentials, (error, port) => {
          if (error !== null) reject(error);
          else {
            stopWatching.push(
              closeSilentSockets(port, options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS),
            );
            resolve(address.replace(/:\d+$/, `:${port}`));
          }
        });
      });
    },
    async listenHttp(address) {
      if (http !== undefined) throw new ServerConfigError("the HTTP server is already listening");
      http = await startHttp();
      return http.listen(address);
    },
    async listenConsole(address, dir) {
      if (consoleHttp !== undefined) throw new ServerConfigError("the console is already listening");
      const { createConsoleRoutes, defaultConsoleDir, loadConsoleFiles } = await import("./console-files.js");
      const from = dir ?? defaultConsoleDir();
      const files = loadConsoleFiles(from);
      if (files === undefined) {
        throw new ServerConfigError(
          `--console-listen: no console build in ${from} (index.html missing): run \`npm run build\`, or give --console-dir`,
        );
      }
      consoleHttp = await startHttp([createConsoleRoutes(files)]);
      return consoleHttp.listen(address);
    },
    async shutdown(graceMs = 10_000) {
      for (const stop of stopWatching.splice(0)) stop();
      datastoreHealth?.stop();
      replicaHealth?.stop();
      for (const name of ["", ...SERVICE_NAMES]) health.setStatus(name, "NOT_SERVING");
      shutdownController.abort();
      const grpcDone = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          grpc.forceShutdown();
          resolve();
        }, graceMs);
        timer.unref();
        grpc.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await Promise.all([grpcDone, http?.close(graceMs), consoleHttp?.close(graceMs)]);
      await served.close();
    },
  };
}

export type StartOptions = ServerOptions & StartListenOptions;

export interface StartListenOptions {
  readonly listen: string;
  /** Also serve HTTP here: Latch's services in the Connect protocol, SpiceDB's HTTP gateway. */
  readonly httpListen?: string;
  /** Also serve the web console here (with the Connect API on the same port); default off. */
  readonly consoleListen?: string;
  /** The console's built files (default: dist/console of this package). */
  readonly consoleDir?: string;
  readonly metricsListen?: string;
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>` (401 otherwise). */
  readonly metricsToken?: string;
}

export interface RunningServer {
  readonly address: string;
  readonly httpAddress?: string;
  readonly consoleAddress?: string;
  readonly metricsAddress?: string;
  readonly server: LatchServer;
  shutdown(graceMs?: number): Promise<void>;
}

let rejectionLoggerInstalled = false;

/** Creates, binds and starts the metrics endpoint; the caller owns (and closes) the store. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const log = options.logger ?? createLogger("info");
  if (!rejectionLoggerInstalled) {
    rejectionLoggerInstalled = true;
    // A stray rejection must be seen, never take the server down.
    process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
  }
  if (options.metricsToken !== undefined) {
    checkTokens(
      { tokens: [options.metricsToken], insecureShortTokens: options.insecureShortTokens === true },
      "metrics token",
    );
  }
  const server = createServer({ ...options, logger: log });
  const address = await server.listen(options.listen);
  let httpAddress: string | undefined;
  let consoleAddress: string | undefined;
  try {
    if (options.httpListen !== undefined) httpAddress = await server.listenHttp(options.httpListen);
    if (options.consoleListen !== undefined) {
      consoleAddress = await server.listenConsole(options.consoleListen, options.consoleDir);
    }
  } catch (error) {
    await server.shutdown(0);
    throw error;
  }
  let metricsServer: MetricsServer | undefined;
  if (options.metricsListen !== undefined && options.metrics !== undefined) {
    metricsServer = await startMetricsServer(
      options.metrics.registry,
      options.metricsListen,
      options.metricsToken === undefined ? {} : { token: options.metricsToken },
    );
  }
  return {
    address,
    server,
    ...(metricsServer === undefined ? {} : { metricsAddress: metricsServer.address }),
    ...(httpAddress === undefined ? {} : { httpAddress }),
    ...(consoleAddress === undefined ? {} : { consoleAddress }),
    async shutdown(graceMs) {
      await server.shutdown(graceMs);
      await metricsServer?.close();
    },
  };
}
