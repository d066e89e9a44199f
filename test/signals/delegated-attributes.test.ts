/**
 * Signal attributes in a delegated request: each part is judged with its own subject's attributes.
 * Merged into one context, the agent's (risk 0) stood in for alice's (risk 5) in alice's own grant,
 * and an agent acting for her reached the vault she is denied.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import type { CheckRequest, LookupResourcesRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { AUDIENCE, alice, createTransmitter, ISSUER, RULES, SCHEMA, type Transmitter } from "./fixtures.js";

const fresh = { kind: "fully-consistent" } as const;
const user = (id: string) => ({ type: "user", id });
const agent = (id: string) => ({ type: "agent", id });
const readVault = (
  subject: { type: string; id: string },
  extra: Partial<CheckRequest> = {},
): CheckRequest => ({
  resource: { type: "vault", id: "v1" },
  permission: "read",
  subject,
  consistency: fresh,
  ...extra,
});

describe("signal attributes in a delegated request", () => {
  let latch: OpenedLatch;
  let transmitter: Transmitter;
  const send = async (events: Record<string, Record<string, unknown>>, subId: unknown) =>
    latch.signals!.receiver.receive(await transmitter.sign(events, { subId }), "api");
  const found = async (request: LookupResourcesRequest) => {
    const ids: string[] = [];
    for await (const r of latch.decider.lookupResources(request)) ids.push(r.resourceId);
    return ids;
  };

  beforeAll(async () => {
    transmitter = await createTransmitter();
    latch = await openLatch({
      store: await createSqliteStore({ path: ":memory:" }),
      schema: SCHEMA,
      mirror: false,
      delegation: { delegationPermission: { user: "delegate_to" } },
      approvals: false,
      signals: { transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE }, rules: RULES },
    });
    await latch.store.write(
      [
        "vault:v1#reader@user:alice[risk_ok]",
        "vault:v1#reader@agent:risky[risk_ok]",
        "user:alice#delegate@agent:bot",
        "user:alice#delegate@agent:risky",
      ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
    );
    // alice is risky (5, assurance 2); agent:bot is not (0, assurance 3); agent:risky is (7, 3).
    await send({ [EVENT_TYPES.assuranceLevelChange]: { current_level: 2 } }, alice);
    await send({ [EVENT_TYPES.tokenClaimsChange]: { claims: { risk: 5 } } }, alice);
    for (const [id, risk] of [
      ["bot", 0],
      ["risky", 7],
    ] as const) {
      const ref = { format: "opaque", id };
      await send({ [EVENT_TYPES.assuranceLevelChange]: { current_level: 3 } }, ref);
      await send({ [EVENT_TYPES.tokenClaimsChange]: { claims: { risk } } }, ref);
    }
  });
  afterAll(() => latch.close());

  it("judges alice's grant with alice's attributes, whoever acts for her", async () => {
    expect((await latch.decider.check(readVault(user("alice")))).state).toBe("DENIED");
    const forAlice = { onBehalfOf: [user("alice")], subjectGrants: "not-required" as const };
    expect((await latch.decider.check(readVault(agent("bot"), forAlice))).state).toBe("DENIED");
    const bulk = await latch.decider.checkBulk({
      items: [readVault(agent("bot"), forAlice)],
      consistency: fresh,
    });
    expect(bulk.results[0]).toMatchObject({ ok: true, state: "DENIED" });
    expect(
      await found({
        resourceType: "vault",
        permission: "read",
        subject: agent("bot"),
        ...forAlice,
        consistency: fresh,
      }),
    ).toEqual([]);
  });

  it("judges the agent's own grant with the agent's attributes", async () => {
    // agent:risky holds the grant itself, but at risk 7; alice's attributes must not help it either.
    expect((await latch.decider.check(readVault(agent("risky")))).state).toBe("DENIED");
    const asked = readVault(agent("risky"), { onBehalfOf: [user("alice")], context: {} });
    expect((await latch.decider.check(asked)).state).toBe("DENIED");
  });

  it("still lets the request's own context give what no signal set", async () => {
    // No attributes stored for this agent: the request's context decides its own grant.
    await latch.store.write([
      { operation: "touch", relationship: parseRelationship("vault:v1#reader@agent:quiet[risk_ok]") },
    ]);
    const asked = readVault(agent("quiet"), { context: { risk: 1, assurance_level: 2 } });
    expect((await latch.decider.check(asked)).state).toBe("ALLOWED");
  });
});
