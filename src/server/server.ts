/** The gRPC server: services, auth, health, reflection, limits, graceful shutdown. */
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Engine } from "../engine/index.js";
import { AuditService } from "../gen/latch/v1/audit_service_pb.js";
import { PermissionService } from "../gen/latch/v1/permission_service_pb.js";
import { RelationshipService } from "../gen/latch/v1/relationship_service_pb.js";
import { SchemaService } from "../gen/latch/v1/schema_service_pb.js";
import { createActorTokens, createDelegation, type Decider, decorate } from "../service/index.js";
import type { Store } from "../store/index.js";
import { createAuthenticator, type NamedToken, parseTokens } from "./auth.js";
import { authInterceptor } from "./auth-interceptor.js";
import { addAuthzedServices } from "./authzed/index.js";
import { checkPermissionCodec } from "./check-permission-codec.js";
import { startDatastoreHealth } from "./datastore-health.js";
import { addHealth, addReflection, SERVICE_NAMES } from "./discovery.js";
import type { WireError } from "./errors.js";
import { type AdapterOptions, type ServiceImplementation, serviceImplementation } from "./grpc-adapter.js";
import { methodPaths, type ServerCodec, serverServiceDefinition } from "./grpc-definition.js";
import { auditHandlers } from "./handlers-audit.js";
import { permissionHandlers } from "./handlers-permission.js";
import { relationshipHandlers } from "./handlers-relationship.js";
import { schemaHandlers } from "./handlers-schema.js";
import { closeSilentSockets, DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./handshake-timeout.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import { createLogger, type Metrics, type MetricsServer, startMetricsServer } from "./observability.js";
import { useNodeTextEncoding } from "./text-encoding.js";

export interface ServerOptions {
  readonly store: Store;
  readonly engine: Engine;
  /**
   * Where Check, CheckBulk and LookupResources are decided (the service layer's seam, e.g.
   * `openLatch().decider`); when absent, the engine under the delegation decorator with its
   * defaults, so that an on-behalf-of chain is always answered.
   */
  readonly decider?: Decider;
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

export function createServer(options: ServerOptions): LatchServer {
  const tokens = checkTokens(options);
  useNodeTextEncoding();
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.logger ?? createLogger("info");
  const auth = createAuthenticator(tokens);
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
  const add = <S extends GenServiceMethods>(
    service: GenService<S>,
    impl: ServiceImplementation<S>,
    codecs: Readonly<Record<string, ServerCodec>> = {},
    // Another API's error shape (authzed.api.v1's); Latch's own when absent.
    toWireError?: (error: unknown, requestId: string) => WireError,
  ) => {
    for (const path of methodPaths(service)) guarded.add(path);
    grpc.addService(
      serverServiceDefinition(service, codecs),
      serviceImplementation(
        service,
        impl,
        toWireError === undefined ? adapter : { ...adapter, toWireError },
        codecs,
      ),
    );
  };
  const shutdownController = new AbortController();
  const decider =
    options.decider ??
    decorate(
      options.engine,
      createActorTokens(undefined),
      createDelegation({ maxBulkItems: limits.maxBulkItems }),
    );
  add(PermissionService, permissionHandlers(options.engine, limits, decider), {
    checkPermission: checkPermissionCodec,
  });
  add(
    RelationshipService,
    relationshipHandlers({
      store: options.store,
      limits,
      watchPollMs: options.watchPollMs ?? 50,
      shutdown: shutdownController.signal,
    }),
  );
  add(SchemaService, schemaHandlers(options.store, limits));
  add(
    AuditService,
    auditHandlers({
      store: options.store,
      watchPollMs: options.watchPollMs ?? 50,
      shutdown: shutdownController.signal,
    }),
  );
  addAuthzedServices(add, {
    store: options.store,
    engine: options.engine,
    decider,
    limits,
    watchPollMs: options.watchPollMs ?? 50,
    shutdown: shutdownController.signal,
  });
  const health = addHealth(grpc);
  const datastoreHealth = startDatastoreHealth({
    store: options.store,
    health,
    log,
    intervalMs: options.healthProbeMs,
  });
  addReflection(grpc);

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
    async shutdown(graceMs = 10_000) {
      for (const stop of stopWatching.splice(0)) stop();
      datastoreHealth.stop();
      for (const name of ["", ...SERVICE_NAMES]) health.setStatus(name, "NOT_SERVING");
      shutdownController.abort();
      await new Promise<void>((resolve) => {
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
    },
  };
}

export interface StartOptions extends ServerOptions {
  readonly listen: string;
  readonly metricsListen?: string;
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>` (401 otherwise). */
  readonly metricsToken?: string;
}

export interface RunningServer {
  readonly address: string;
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
    async shutdown(graceMs) {
      await server.shutdown(graceMs);
      await metricsServer?.close();
    },
  };
}
