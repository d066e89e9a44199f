/** Starts a real server on a loopback port with raw grpc-js clients for each service. */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { createEngine } from "../../src/engine/index.js";
import { PermissionService } from "../../src/gen/latch/v1/permission_service_pb.js";
import { RelationshipService } from "../../src/gen/latch/v1/relationship_service_pb.js";
import { SchemaService } from "../../src/gen/latch/v1/schema_service_pb.js";
import {
  type CommonServerOptions,
  createLogger,
  createMetrics,
  type RunningServer,
  type ServerLimits,
  type StartListenOptions,
  serviceDefinition,
  startServer,
} from "../../src/server/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

export const TOKEN = "test-token-0123456789";

export interface Harness {
  readonly server: RunningServer;
  readonly store: Store;
  readonly permission: grpc.Client;
  readonly relationship: grpc.Client;
  readonly schema: grpc.Client;
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    limits?: Partial<ServerLimits>;
    wrapStore?: (store: Store) => Store;
    metricsListen?: string;
    /** Default: a silent logger. */
    logger?: Logger;
    /** Merged into what startServer is given. */
    server?: Partial<CommonServerOptions & StartListenOptions>;
  } = {},
): Promise<Harness> {
  const raw = await createSqliteStore({ path: ":memory:" });
  const store = options.wrapStore ? options.wrapStore(raw) : raw;
  const engine = createEngine({ store });
  const metrics = createMetrics(() => engine.stats(), { defaultMetrics: false });
  const server = await startServer({
    store,
    engine,
    tokens: [TOKEN, "second-token-0123456789"],
    listen: "127.0.0.1:0",
    logger: options.logger ?? createLogger("silent"),
    metrics,
    watchPollMs: 10,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.metricsListen === undefined ? {} : { metricsListen: options.metricsListen }),
    ...options.server,
  });
  const make = (service: Parameters<typeof serviceDefinition>[0]) => {
    const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(service), service.name);
    return new Ctor(server.address, grpc.credentials.createInsecure());
  };
  const permission = make(PermissionService);
  const relationship = make(RelationshipService);
  const schema = make(SchemaService);
  return {
    server,
    store: raw,
    permission,
    relationship,
    schema,
    async close() {
      for (const c of [permission, relationship, schema]) c.close();
      await server.shutdown(1000);
      await raw.close();
    },
  };
}

export function auth(token = TOKEN): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
}

/** Calls a unary method by its local name with a plain init object. */
export function unary<O>(
  client: grpc.Client,
  method: string,
  input: DescMessage,
  request: MessageInitShape<DescMessage>,
  metadata: grpc.Metadata = auth(),
  options: grpc.CallOptions = {},
): Promise<O> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.bind(client);
    fn(create(input, request), metadata, options, (error: grpc.ServiceError | null, response: O) =>
      error ? reject(error) : resolve(response),
    );
  });
}

export async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}
