/**
 * Both transports take their decisions through the seam: a decorator given to openLatch (embedded)
 * or to the server sees every Check, CheckBulk and LookupResources, and can answer instead.
 */
import { describe, expect, it } from "vitest";
import type { LatchClient } from "../../src/index.js";
import type { Decorator } from "../../src/service/index.js";
import { TRANSPORTS } from "./transports.js";

const SCHEMA = "definition user {}\ndefinition document { relation viewer: user\n permission view = viewer }";

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
  it.each(TRANSPORTS)("is where %s decides", async (_name, transport) => {
    const seen: string[] = [];
    await transport({ schema: SCHEMA, decorators: [counting(seen)] }, (client) => exercise(client, seen));
  });
});
