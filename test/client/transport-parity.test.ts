/**
 * The h2 framing and node:http2 transports fail exactly as the grpc-js one does: the same RemoteError (code, kind,
 * gRPC status, message, details but the per-call request id) for the server's refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type LatchClient, RemoteError } from "../../src/client/index.js";
import { createEngine } from "../../src/engine/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { SCHEMA } from "./fixtures.js";

const TOKEN = "parity-token-0123456789";

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream);
}

async function failure(call: () => Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(RemoteError);
    const e = error as RemoteError;
    const { requestId: _id, ...details } = e.details;
    return { code: e.code, kind: e.kind, status: e.status, message: e.message, details };
  }
  throw new Error("expected the call to fail");
}

describe("h2, node:http2 and grpc-js transports fail alike", () => {
  let store: Store;
  let server: RunningServer;
  const clients: LatchClient[] = [];
  const both = (token: string) => {
    const pair = [
      createClient({ address: server.address, token, batch: false, transport: "h2" }),
      createClient({ address: server.address, token, batch: false, transport: "http2" }),
      createClient({ address: server.address, token, batch: false, transport: "grpc-js" }),
    ] as const;
    clients.push(...pair);
    return pair;
  };

  beforeAll(async () => {
    store = await createSqliteStore({ path: ":memory:" });
    server = await startServer({
      store,
      engine: createEngine({ store }),
      tokens: [TOKEN],
      listen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
    await both(TOKEN)[0].writeSchema(SCHEMA);
  });

  afterAll(async () => {
    for (const client of clients) await client.close();
    await server.shutdown(1000);
    await store.close();
  });

  const cases: [string, (client: LatchClient) => Promise<unknown>, string?][] = [
    ["an unknown type", (c) => c.check({ resource: "nosuchtype:x", permission: "view", subject: "user:a" })],
    [
      "an unknown permission",
      (c) => c.check({ resource: "document:x", permission: "nope", subject: "user:a" }),
    ],
    [
      "a token of no revision",
      (c) =>
        c.check({
          resource: "document:x",
          permission: "view",
          subject: "user:a",
          consistency: { kind: "at-least-as-fresh", token: "not-a-token" },
        }),
    ],
    ["an invalid schema", (c) => c.writeSchema("definition {")],
    ["a wrong token", (c) => c.readSchema(), "wrong-token-0123456789"],
    // Server streams: over the h2 framing on "h2", over grpc-js on the other two.
    [
      "a lookup of an unknown permission",
      (c) => drain(c.lookupResources({ resourceType: "document", permission: "nope", subject: "user:a" })),
    ],
    [
      "a lookup of subjects with a cursor of another lookup",
      (c) =>
        drain(
          c.lookupSubjects({
            resource: "document:x",
            permission: "view",
            subjectType: "user",
            cursor: "bogus",
          }),
        ),
    ],
    [
      "a stream with a wrong token",
      (c) => drain(c.readRelationships({ filter: { resourceType: "document" } })),
      "wrong-token-0123456789",
    ],
  ];

  for (const [name, call, token] of cases) {
    it(`refuses ${name} with the same error`, async () => {
      const [h2, http2, grpcJs] = both(token ?? TOKEN);
      const viaGrpcJs = await failure(() => call(grpcJs));
      expect(await failure(() => call(h2))).toEqual(viaGrpcJs);
      expect(await failure(() => call(http2))).toEqual(viaGrpcJs);
      expect(viaGrpcJs.code).not.toMatch(/^grpc\//);
    });
  }
});
