/**
 * On-behalf-of chains on every interface: the gRPC client through a real server, and embedded
 * mode, answer alike (the decision is the seam's; these check the fields travel).
 */
import { describe, expect, it } from "vitest";
import type { LatchClient } from "../../../src/index.js";
import { TRANSPORTS } from "../transports.js";

const SCHEMA = `
definition agent {}
definition user {
  relation delegate_to: agent
  permission delegate = delegate_to
}
definition org {
  relation may_act: user
}
definition document {
  relation viewer: user | agent
  permission view = viewer
}`;
const consistency = { kind: "fully-consistent" } as const;

async function exercise(client: LatchClient): Promise<void> {
  await client.writeRelationships({
    updates: [
      "document:a#viewer@user:alice",
      "document:b#viewer@user:alice",
      "document:b#viewer@agent:bot",
      "document:c#viewer@agent:bot",
      "user:alice#delegate_to@agent:bot",
      "org:acme#may_act@user:alice",
    ].map((relationship) => ({ operation: "touch" as const, relationship })),
  });
  const ask = { permission: "view", subject: "agent:bot", onBehalfOf: ["user:alice"], consistency };
  expect((await client.check({ ...ask, resource: "document:a" })).state).toBe("DENIED");
  expect((await client.check({ ...ask, resource: "document:b" })).state).toBe("ALLOWED");
  expect((await client.check({ ...ask, resource: "document:c" })).state).toBe("DENIED");
  expect((await client.check({ ...ask, resource: "document:a", subjectGrants: "not-required" })).state).toBe(
    "ALLOWED",
  );
  const bulk = await client.checkBulk({
    consistency,
    items: [
      { resource: "document:a", permission: "view", subject: "agent:bot", onBehalfOf: ["user:alice"] },
      { resource: "document:c", permission: "view", subject: "agent:bot" },
      { resource: "document:a", permission: "view", subject: "agent:bot", onBehalfOf: ["agent:bot"] },
      { resource: "document:a", permission: "view", subject: "agent:bot", onBehalfOf: ["org:acme"] },
    ],
  });
  expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual([
    "DENIED",
    "ALLOWED",
    "delegation/repeated-principal",
    "delegation/no-delegation-permission",
  ]);
  const found: string[] = [];
  for await (const r of client.lookupResources({
    resourceType: "document",
    ...ask,
    subjectGrants: "not-required",
  }))
    found.push(r.resourceId);
  expect(found).toEqual(["a", "b"]);
  const refused = await client.check({ ...ask, resource: "document:a", onBehalfOf: ["robot:r2"] }).then(
    () => undefined,
    (e: { code: string; details: { field?: string } }) => e,
  );
  expect(refused?.code).toBe("delegation/unknown-principal-type");
  const tooLong = await client
    .check({ ...ask, resource: "document:a", onBehalfOf: Array.from({ length: 9 }, (_, i) => `user:u${i}`) })
    .then(
      () => undefined,
      (e: { code: string }) => e,
    );
  expect(tooLong?.code).toBe("delegation/chain-too-long");
}

describe("on-behalf-of chains", () => {
  it.each(TRANSPORTS)("travel through %s", (_name, transport) => transport({ schema: SCHEMA }, exercise));
});
