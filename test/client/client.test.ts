import { createClient, createEmbedded } from "../../src/client/index.js";
import { createEngine } from "../../src/engine/index.js";
import { createLogger, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { defineClientContract } from "./client.case.js";

defineClientContract("createEmbedded", async () => {
  const client = await createEmbedded({ database: ":memory:", watchPollMs: 10 });
  return { client, cleanup: () => client.close() };
});

defineClientContract("createClient over loopback gRPC", async () => {
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
  const client = createClient({ address: server.address, token: "contract-token-0123456789" });
  return {
    client,
    async cleanup() {
      await client.close();
      await server.shutdown(1000);
      await store.close();
    },
  };
});
