/**
 * An approval rule's `when` threshold and an approval itself hold for the values the decision
 * used: the agent's own claim in the request's context can neither lower a threshold the stored
 * data (or a security signal) sets, nor carry an approval over to another context.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import type { CheckRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import { AUDIENCE, createTransmitter, ISSUER, type Transmitter } from "../signals/fixtures.js";

const SCHEMA = `
definition agent {}
definition user {}
caveat sensitive(sensitivity int) { sensitivity >= 0 }
caveat limit(amount int, max int) { amount <= max }
caveat risky(risk int) { risk >= 0 }
definition database {
  relation operator: agent with sensitive
  relation payer: agent with limit
  relation runner: agent with risky
  relation approver: user
  permission delete = operator
  permission pay = payer
  permission run = runner
  permission approve = approver
}`;

const rule = (id: string, permission: string, parameter: string, above: number) => `
  - id: ${id}
    resource: database
    permission: ${permission}
    subjects: [agent]
    approvers: approve
    when: { parameter: ${parameter}, above: ${above} }`;
const RULES = `rules:${rule("sensitive-delete", "delete", "sensitivity", 2)}${rule("big-payment", "pay", "amount", 100)}${rule("risky-run", "run", "risk", 3)}
`;
const SIGNAL_RULES = `
subjects:
  - { format: opaque, as: "agent:{id}" }
events:
  "${EVENT_TYPES.tokenClaimsChange}":
    set-attributes: { risk: claims.risk }
`;

const bot = { type: "agent", id: "bot" } as const;
const olga = { type: "user", id: "olga" } as const;
const fresh = { kind: "fully-consistent" } as const;
const on = (id: string, permission: string, context: Record<string, unknown>): CheckRequest => ({
  resource: { type: "database", id },
  permission,
  subject: bot,
  context,
  consistency: fresh,
});

describe("approvals and the values a decision used", () => {
  let latch: OpenedLatch;
  let transmitter: Transmitter;
  beforeAll(async () => {
    transmitter = await createTransmitter();
    latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      approvals: { rules: RULES, closedForMs: 0 },
      signals: {
        transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE },
        rules: SIGNAL_RULES,
      },
    });
    await latch.store.write(
      [
        // The stored sensitivity wins over the request's in the caveat.
        'database:prod#operator@agent:bot[sensitive:{"sensitivity":5}]',
        'database:scratch#operator@agent:bot[sensitive:{"sensitivity":1}]',
        'database:bank#payer@agent:bot[limit:{"max":1000000}]',
        "database:jobs#runner@agent:bot[risky]",
        ...["prod", "scratch", "bank", "jobs"].map((id) => `database:${id}#approver@user:olga`),
      ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
    );
  });
  afterAll(() => latch.close());

  it("judges a `when` threshold on a value stored on the proof, not the agent's claim", async () => {
    const claimed = on("prod", "delete", { sensitivity: 0 });
    const answer = await latch.decider.check(claimed);
    expect(answer).toMatchObject({ state: "APPROVAL_REQUIRED", approvalRule: "sensitive-delete" });
    // The proof the gate asked for itself is not handed to a caller that did not ask.
    expect(answer.witness).toBeUndefined();
    // Where the stored value is low, the claim's own low value lets it through.
    expect((await latch.decider.check(on("scratch", "delete", { sensitivity: 0 }))).state).toBe("ALLOWED");
    const bulk = await latch.decider.checkBulk({
      items: [claimed, on("scratch", "delete", { sensitivity: 0 })],
      consistency: fresh,
    });
    expect(bulk.results.map((r) => (r.ok ? [r.state, r.witness] : r.error.code))).toEqual([
      ["APPROVAL_REQUIRED", undefined],
      ["ALLOWED", undefined],
    ]);
    // And an approval can be asked for it with the same claim.
    const ticket = await latch.approvals!.request({ ...claimed, message: "drop prod?" });
    expect(ticket.approval.ruleId).toBe("sensitive-delete");
  });

  it("takes a NaN claim as unknown (gated), and answers a claim JSON cannot write (Infinity)", async () => {
    for (const sensitivity of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const asked = on("prod", "delete", { sensitivity });
      expect((await latch.decider.check(asked)).state, String(sensitivity)).toBe("APPROVAL_REQUIRED");
      const bulk = await latch.decider.checkBulk({
        items: [asked, on("scratch", "delete", {})],
        consistency: fresh,
      });
      expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual([
        "APPROVAL_REQUIRED",
        "APPROVAL_REQUIRED",
      ]);
    }
  });

  it("judges a `when` threshold on a security signal's attribute too", async () => {
    expect((await latch.decider.check(on("jobs", "run", { risk: 0 }))).state).toBe("ALLOWED");
    await latch.signals!.receiver.receive(
      await transmitter.sign(
        { [EVENT_TYPES.tokenClaimsChange]: { claims: { risk: 7 } } },
        { subId: { format: "opaque", id: "bot" } },
      ),
      "api",
    );
    expect((await latch.decider.check(on("jobs", "run", { risk: 0 }))).state).toBe("APPROVAL_REQUIRED");
  });

  it("holds an approval to the context its approver was shown", async () => {
    const pay150 = on("bank", "pay", { amount: 150 });
    expect((await latch.decider.check(pay150)).state).toBe("APPROVAL_REQUIRED");
    const ticket = await latch.approvals!.request({ ...pay150, message: "pay 150" });
    await latch.approvals!.decide({ id: ticket.id, approve: true, approver: olga });
    for (const amount of [999_999, 149])
      expect(
        (await latch.decider.check({ ...on("bank", "pay", { amount }), consumeApproval: true })).state,
      ).toBe("APPROVAL_REQUIRED");
    expect(await latch.decider.check({ ...pay150, consumeApproval: true })).toMatchObject({
      state: "ALLOWED",
      approvalId: ticket.id,
    });
  });
});
