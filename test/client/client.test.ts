import { type ClientOptions, createClient, createEmbedded } from "../../src/client/index.js";
import { createEngine } from "../../src/engine/index.js";
import { createLogger, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { defineClientContract } from "./client.case.js";

defineClientContract("createEmbedded", async () => {
  const client = await createEmbedded({ database: ":memory:", watchPollMs: 10 });
  return { client, cleanup: () => client.close() };
});

/** Every transport of the remote client, with and without batching, passes the same contract. */
const REMOTE: Record<string, Partial<ClientOptions>> = {
  "h2 framing, batching (the default)": {},
  "h2 framing, no batching": { batch: false },
  // Saturated at 1 call in flight: concurrent calls spread over the 3 connections.
  "h2 framing, a pool of 3 connections, 1 ms window": {
    connections: 3,
    streamsPerConnection: 1,
    batch: { windowUs: 1000 },
  },
  // Every connection runs out of stream ids after 3 calls: the pool keeps opening new ones.
  "h2 framing, stream ids exhausted every 3 calls, no batching": { batch: false, streamIdLimit: 5 },
  "node:http2, batching": { transport: "http2" },
  "node:http2, no batching": { transport: "http2", batch: false },
  "node:http2, a pool of 3 connections, 1 ms window": {
    transport: "http2",
    connections: 3,
    streamsPerConnection: 1,
    batch: { windowUs: 1000 },
  },
  "grpc-js, no batching": { transport: "grpc-js", batch: false },
  "grpc-js, batching": { transport: "grpc-js" },
};

for (const [name, options] of Object.entries(REMOTE)) {
  defineClientContract(`createClient over loopback gRPC: ${name}`, async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    const engine = createEngine({ store });
    const server = await startServer({
      store,
      engine,
      tokens: ["contract-token-0123456789"],
      listen: "127.0.0.1:0",
      logger: createLogger("silent"),
      watchPollMs: 10,
    });
    const client = createClient({ address: server.address, token: "contract-token-0123456789", ...options });
    return {
      client,
      async cleanup() {
        await client.close();
        await server.shutdown(1000);
        await store.close();
      },
    };
  });
}
