/** The gRPC edge: the only place where wire messages and status codes exist. */

export { type OpenedLatch, type OpenOptions, openLatch } from "../open/index.js";
export { type Authenticator, createAuthenticator, type NamedToken, parseToken, parseTokens } from "./auth.js";
export * from "./convert.js";
export * from "./convert-results.js";
export {
  createDatastoreGate,
  type DatastoreGate,
  DEFAULT_HEALTH_PROBE_MS,
  READ_REPLICA_HEALTH_PREFIX,
  watchDatastoreHealth,
  watchReadReplicas,
} from "./datastore-health.js";
export { addHealth, addReflection, SERVICE_NAMES } from "./discovery.js";
export { RequestError, statusForKind, toWireError } from "./errors.js";
export type { CallContext } from "./grpc-adapter.js";
export { serviceDefinition } from "./grpc-definition.js";
export type { HttpServer } from "./http-server.js";
export { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
export {
  createLogger,
  createMetrics,
  type Metrics,
  splitHostPort,
  startMetricsServer,
} from "./observability.js";
export {
  type BackendOptions,
  type CommonServerOptions,
  checkTokens,
  createServer,
  DEFAULT_IDLE_TIMEOUT_MS,
  type LatchServer,
  MIN_TOKEN_LENGTH,
  type RunningServer,
  ServerConfigError,
  type ServerOptions,
  type StartListenOptions,
  type StartOptions,
  startServer,
} from "./server.js";
export type { Backend } from "./services.js";
export {
  DEFAULT_TESTING_MAX_STORES,
  type TestingBackend,
  type TestingOptions,
  testingCallerName,
} from "./testing-mode.js";
export { useNodeTextEncoding } from "./text-encoding.js";
