/**
 * The two transports a decision test runs on, set up the same way: embedded mode
 * (`createEmbedded`) and a real gRPC server (`openLatch` + `startServer`) with the remote client.
 * Each runs `body` with a fresh in-memory database and closes everything after it.
 */
import { type ClientOptions, createClient, createEmbedded, type LatchClient } from "../../src/index.js";
import { type OpenOptions, openLatch } from "../../src/open/index.js";
import { createLogger, startServer } from "../../src/server/index.js";

/** What both transports take: the schema and the seam's parts (decorators, delegation, actor tokens). */
export type TransportOptions = Pick<
  OpenOptions,
  "schema" | "decorators" | "delegation" | "actorTokens" | "approvals" | "signals"
>;

export type Transport = (
  options: TransportOptions,
  body: (client: LatchClient) => Promise<void>,
) => Promise<void>;

const TOKEN = "transport-test-token-0123456789";

export const embedded: Transport = async (options, body) => {
  const client = await createEmbedded({ database: ":memory:", ...options });
  try {
    await body(client);
  } finally {
    await client.close();
  }
};

/** A real gRPC server and the remote client, made with `clientOptions` (its transport, batching). */
export const grpcServerWith =
  (clientOptions: Partial<ClientOptions> = {}): Transport =>
  async (options, body) => {
    const latch = await openLatch({ database: ":memory:", ...options });
    try {
      const server = await startServer({
        store: latch.store,
        engine: latch.engine,
        decider: latch.decider,
        ...(latch.approvals === undefined ? {} : { approvals: latch.approvals }),
        ...(latch.signals === undefined ? {} : { signals: latch.signals }),
        tokens: [TOKEN],
        listen: "127.0.0.1:0",
        logger: createLogger("silent"),
      });
      const client = createClient({ address: server.address, token: TOKEN, ...clientOptions });
      try {
        await body(client);
      } finally {
        await client.close();
        await server.shutdown(1000);
      }
    } finally {
      await latch.close();
    }
  };

export const grpcServer: Transport = grpcServerWith();

/** For `describe.each`/`it.each`: `[name, transport]`. */
export const TRANSPORTS = [
  ["embedded mode", embedded],
  ["a gRPC server", grpcServer],
] as const;
