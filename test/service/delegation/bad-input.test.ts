/** A chain Latch cannot answer is refused with a stable code naming the field, before it decides. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SubjectRef } from "../../../src/core/index.js";
import type { CheckRequest } from "../../../src/engine/index.js";
import { createEngine } from "../../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";

const SCHEMA = `
definition agent {}
definition team {}
definition user {
  relation delegate: agent | user
}
definition person {
  relation may_act: agent
}
definition document {
  relation viewer: user | person
  permission view = viewer
}`;

const bot = { type: "agent", id: "bot" } as const;
const alice = { type: "user", id: "alice" } as const;

describe("a bad on-behalf-of chain", () => {
  let latch: OpenedLatch;
  let custom: OpenedLatch;
  beforeAll(async () => {
    latch = await openLatch({ database: ":memory:", schema: SCHEMA });
    custom = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      delegation: { delegationPermission: { person: "may_act" } },
    });
  });
  afterAll(async () => {
    await latch.close();
    await custom.close();
  });

  const request = (onBehalfOf: readonly SubjectRef[], extra: Partial<CheckRequest> = {}): CheckRequest => ({
    resource: { type: "document", id: "d" },
    permission: "view",
    subject: bot,
    onBehalfOf,
    ...extra,
  });

  async function refusal(promise: Promise<unknown>): Promise<{ code: string; kind: string; field: unknown }> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e as { code: string; kind: string; details: { field?: unknown } },
    );
    if (error === undefined) throw new Error("expected a refusal");
    return { code: error.code, kind: error.kind, field: error.details.field };
  }

  it.each([
    [
      "a chain longer than 8",
      Array.from({ length: 9 }, (_, i) => ({ type: "user", id: `u${i}` })),
      "delegation/chain-too-long",
      "on_behalf_of",
    ],
    ["a principal equal to the subject", [alice, bot], "delegation/repeated-principal", "on_behalf_of[1]"],
    [
      "a principal twice",
      [alice, { type: "user", id: "bob" }, alice],
      "delegation/repeated-principal",
      "on_behalf_of[2]",
    ],
    [
      "a subject set",
      [{ type: "user", id: "alice", relation: "delegate" }],
      "delegation/invalid-principal",
      "on_behalf_of[0]",
    ],
    ["a wildcard", [{ type: "user", id: "*" }], "delegation/invalid-principal", "on_behalf_of[0]"],
    [
      "an unknown principal type",
      [alice, { type: "robot", id: "r" }],
      "delegation/unknown-principal-type",
      "on_behalf_of[1]",
    ],
    [
      "a type without a delegation permission",
      [{ type: "team", id: "t" }],
      "delegation/no-delegation-permission",
      "on_behalf_of[0]",
    ],
    [
      "a malformed principal",
      [{ type: "user", id: "" }],
      "request/invalid-argument",
      "on_behalf_of[0].object.object_id",
    ],
  ])("%s is refused", async (_, chain, code, field) => {
    expect(await refusal(latch.decider.check(request(chain)))).toEqual({
      code,
      kind: "invalid-argument",
      field,
    });
    const bulk = await latch.decider.checkBulk({ items: [request(chain), request([])] });
    const first = bulk.results[0]!;
    expect(first.ok ? "ok" : first.error.code).toBe(code);
    expect(bulk.results[1]!.ok).toBe(true);
    const lookup = (async () => {
      for await (const _ of latch.decider.lookupResources({
        resourceType: "document",
        permission: "view",
        subject: bot,
        onBehalfOf: chain,
      })) {
        // nothing is found before the refusal
      }
    })();
    expect((await refusal(lookup)).code).toBe(code);
  });

  it.each([
    ["a subject set", { type: "user", id: "alice", relation: "delegate" }],
    ["a wildcard", { type: "agent", id: "*" }],
  ])(
    "refuses %s acting for someone, which would pass its own link by membership in itself",
    async (_, subject) => {
      const asked = request([alice], { subject, subjectGrants: "not-required" });
      expect(await refusal(latch.decider.check(asked))).toEqual({
        code: "delegation/invalid-subject",
        kind: "invalid-argument",
        field: "subject",
      });
      const bulk = await latch.decider.checkBulk({ items: [request([]), asked] });
      expect(bulk.results[0]!.ok).toBe(true);
      const second = bulk.results[1]!;
      expect(second.ok ? "ok" : second.error.code).toBe("delegation/invalid-subject");
      const lookup = (async () => {
        for await (const _ of latch.decider.lookupResources({
          resourceType: "document",
          permission: "view",
          subject,
          onBehalfOf: [alice],
          subjectGrants: "not-required",
        })) {
          // nothing is found before the refusal
        }
      })();
      expect((await refusal(lookup)).code).toBe("delegation/invalid-subject");
    },
  );

  it("refuses contextual relationships with a chain: they could assert the person's grant and the delegation", async () => {
    // Neither alice's grant nor her delegation is stored; both are claimed in the request.
    const contextualRelationships = [
      { resource: { type: "document", id: "d" }, relation: "viewer", subject: alice },
      { resource: alice, relation: "delegate", subject: bot },
    ];
    const asked = request([alice], { subjectGrants: "not-required", contextualRelationships });
    expect(await refusal(latch.decider.check(asked))).toEqual({
      code: "delegation/contextual-relationships",
      kind: "invalid-argument",
      field: "contextual_relationships",
    });
    // In a bulk, the delegated item is refused and a plain one answered with them.
    const bulk = await latch.decider.checkBulk({
      items: [request([], { subject: alice }), request([alice], { subjectGrants: "not-required" })],
      contextualRelationships,
    });
    expect(bulk.results[0]).toMatchObject({ ok: true, state: "ALLOWED" });
    const second = bulk.results[1]!;
    expect(second.ok ? "ok" : second.error.code).toBe("delegation/contextual-relationships");
  });

  it("uses the delegation permission configured for a type", async () => {
    const chain = [{ type: "person", id: "p" }];
    expect((await custom.decider.check(request(chain))).state).toBe("DENIED");
    expect((await refusal(latch.decider.check(request(chain)))).code).toBe(
      "delegation/no-delegation-permission",
    );
  });

  it("refuses subject_grants not-required without a chain", async () => {
    expect(await refusal(latch.decider.check(request([], { subjectGrants: "not-required" })))).toEqual({
      code: "request/invalid-argument",
      kind: "invalid-argument",
      field: "subject_grants",
    });
  });

  it("is refused by the engine alone, which would otherwise ignore the chain", async () => {
    const engine = createEngine({ store: latch.store });
    expect((await refusal(engine.check(request([alice])))).code).toBe("delegation/not-enabled");
    expect((await refusal(engine.checkBulk({ items: [request([alice])] }))).code).toBe(
      "delegation/not-enabled",
    );
  });
});
