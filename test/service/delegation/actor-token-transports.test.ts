/**
 * Actor tokens on every interface: through a real gRPC server (including the hand Check codec,
 * where the new field must fall through to protobuf-es) and embedded mode, with the refusals'
 * wire status.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { LatchClient } from "../../../src/index.js";
import type { OpenOptions } from "../../../src/open/index.js";
import { TRANSPORTS } from "../transports.js";
import { type ActorKey, AGENT_SCHEMA, AUDIENCE, actorKey, ISSUER } from "./actor-fixtures.js";

const consistency = { kind: "fully-consistent" } as const;

let sign: ActorKey["sign"];
let actorTokens: NonNullable<OpenOptions["actorTokens"]>;

beforeAll(async () => {
  const key = await actorKey("RS256", "r1");
  actorTokens = { jwks: key.jwks, issuer: ISSUER, audience: AUDIENCE };
  sign = key.sign;
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "none",
    (e: { code: string; kind: string }) => `${e.kind} ${e.code}`,
  );
}

async function exercise(client: LatchClient): Promise<void> {
  await client.writeRelationships({
    updates: [
      "document:a#viewer@user:alice",
      "document:b#viewer@user:alice",
      "document:b#viewer@agent:bot",
      "document:c#viewer@agent:bot",
      "user:alice#delegate_to@agent:bot",
    ].map((relationship) => ({ operation: "touch" as const, relationship })),
  });
  const actorToken = await sign({ sub: "user:alice", act: { sub: "agent:bot" } });
  const ask = { permission: "view", subject: "agent:bot", consistency, actorToken };
  expect((await client.check({ ...ask, resource: "document:b" })).state).toBe("ALLOWED");
  expect((await client.check({ ...ask, resource: "document:c" })).state).toBe("DENIED");
  // The same request without its token is the agent alone, which may.
  const { actorToken: _, ...claimed } = ask;
  expect((await client.check({ ...claimed, resource: "document:c" })).state).toBe("ALLOWED");
  const bulk = await client.checkBulk({
    consistency,
    actorToken,
    items: ["a", "b", "c"].map((id) => ({
      resource: `document:${id}`,
      permission: "view",
      subject: "agent:bot",
    })),
  });
  expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual(["DENIED", "ALLOWED", "DENIED"]);
  const found: string[] = [];
  for await (const r of client.lookupResources({ resourceType: "document", ...ask }))
    found.push(r.resourceId);
  expect(found).toEqual(["b"]);

  expect(await codeOf(client.check({ ...ask, resource: "document:b", subject: "agent:other" }))).toBe(
    "permission-denied delegation/actor-token-mismatch",
  );
  expect(await codeOf(client.check({ ...ask, resource: "document:b", onBehalfOf: ["user:bob"] }))).toBe(
    "permission-denied delegation/actor-token-mismatch",
  );
  const expired = await sign(
    { sub: "user:alice", act: { sub: "agent:bot" } },
    Math.floor(Date.now() / 1000) - 60,
  );
  expect(await codeOf(client.check({ ...ask, resource: "document:b", actorToken: expired }))).toBe(
    "unauthenticated delegation/invalid-actor-token",
  );
}

describe("actor tokens", () => {
  it.each(TRANSPORTS)("travel through %s, with the refusals' status codes", (_name, transport) =>
    transport({ schema: AGENT_SCHEMA, actorTokens }, exercise),
  );

  it.each(TRANSPORTS)("%s without a JWKS refuses a token with FAILED_PRECONDITION", (_name, transport) =>
    transport({ schema: AGENT_SCHEMA }, async (client) => {
      const actorToken = await sign({ sub: "user:alice", act: { sub: "agent:bot" } });
      expect(
        await codeOf(
          client.check({ resource: "document:b", permission: "view", subject: "agent:bot", actorToken }),
        ),
      ).toBe("failed-precondition delegation/actor-tokens-not-configured");
    }),
  );
});
