/**
 * Both transports take their decisions through the seam: a decorator given to openLatch (embedded)
 * or to the server sees every Check, CheckBulk and LookupResources, and can answer instead.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createEmbedded, type LatchClient } from "../../src/index.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import type { Decorator } from "../../src/service/index.js";

const SCHEMA = "definition user {}\ndefinition document { relation viewer: user\n permission view = viewer }";
const TOKEN = "seam-token-0123456789";

function counting(seen: string[]): Decorator {
  return (next) => ({
    async check(request, options) {
      seen.push(`check ${request.resource.id}`);
      const result = await next.check(request, options);
      // Refuses document:secret whatever the relationships say: a suspension, say.
      return request.resource.id === "secret" ? { ...result, state: "DENIED" } : result;
    },
    checkBulk(request, options) {
      seen.push(`bulk ${request.items.length}`);
      return next.checkBulk(request, options);
    },
    lookupResources(request, options) {
      seen.push(`lookup ${request.resourceType}`);
      return next.lookupResources(request, options);
    },
  });
}

async function exercise(client: LatchClient, seen: string[]): Promise<void> {
  await client.writeRelationships({
    updates: [
      { operation: "touch", relationship: "document:open#viewer@user:alice" },
      { operation: "touch", relationship: "document:secret#viewer@user:alice" },
    ],
  });
  const consistency = { kind: "fully-consistent" } as const;
  expect(
    (
      await client.check({
        resource: "document:open",
        permission: "view",
        subject: "user:alice",
        consistency,
      })
    ).allowed,
  ).toBe(true);
  expect(
    (
      await client.check({
        resource: "document:secret",
        permission: "view",
        subject: "user:alice",
        consistency,
      })
    ).allowed,
  ).toBe(false);
  await client.checkBulk({
    items: [{ resource: "document:open", permission: "view", subject: "user:alice" }],
    consistency,
  });
  for await (const _ of client.lookupResources({
    resourceType: "document",
    permission: "view",
    subject: "user:alice",
    consistency,
  })) {
    // drained
  }
  expect(seen).toEqual(["check open", "check secret", "bulk 1", "lookup document"]);
}

describe("the decision seam", () => {
  it("is where the embedded client decides", async () => {
    const seen: string[] = [];
    const client = await createEmbedded({
      database: ":memory:",
      schema: SCHEMA,
      decorators: [counting(seen)],
    });
    try {
      await exercise(client, seen);
    } finally {
      await client.close();
    }
  });

  describe("over gRPC", () => {
    let server: RunningServer;
    let close: () => Promise<void>;
    const seen: string[] = [];
    beforeAll(async () => {
      const latch = await openLatch({ database: ":memory:", schema: SCHEMA, decorators: [counting(seen)] });
      server = await startServer({
        store: latch.store,
        engine: latch.engine,
        decider: latch.decider,
        tokens: [TOKEN],
        listen: "127.0.0.1:0",
        logger: createLogger("silent"),
      });
      close = async () => {
        await server.shutdown(1000);
        await latch.close();
      };
    });
    afterAll(() => close());

    it("is where the server decides", async () => {
      const client = createClient({ address: server.address, token: TOKEN });
      try {
        await exercise(client, seen);
      } finally {
        await client.close();
      }
    });
  });
});
