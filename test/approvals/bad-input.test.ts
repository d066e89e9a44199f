/** Bad input to the approval flow: each refused with a clear, coded error, and nothing changes. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BINDING_MESSAGE } from "../../src/approvals/index.js";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { RULES, SCHEMA } from "./fixtures.js";

let latch: OpenedLatch;
const agent = { type: "agent", id: "cleanup" };
const db = { type: "database", id: "prod-orders" };

async function refusal(promise: Promise<unknown>): Promise<{ code: string; kind: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isLatchError(error)) throw new Error(`not refused: ${String(error)}`);
  return { code: error.code, kind: error.kind, message: error.message };
}

beforeAll(async () => {
  latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: { rules: RULES } });
  await latch.store.write([
    { operation: "touch", relationship: parseRelationship("database:prod-orders#operator@agent:cleanup") },
  ]);
});
afterAll(() => latch.close());

describe("approval flow: bad input", () => {
  it("an unknown approval id is not-found, for polling, showing and deciding", async () => {
    for (const call of [
      latch.approvals!.get("nope"),
      latch.approvals!.show("nope"),
      latch.approvals!.decide({ id: "nope", approve: true, approver: { type: "user", id: "olga" } }),
    ])
      expect(await refusal(call)).toMatchObject({ code: "approval/not-found", kind: "not-found" });
  });

  it("an oversize binding message is refused, and no request is stored", async () => {
    const message = "x".repeat(MAX_BINDING_MESSAGE + 1);
    expect(
      await refusal(
        latch.approvals!.request({ resource: db, permission: "delete", subject: agent, message }),
      ),
    ).toMatchObject({
      code: "approval/message-too-long",
      kind: "resource-exhausted",
    });
    expect(
      await refusal(
        latch.approvals!.request({ resource: db, permission: "delete", subject: agent, message: " " }),
      ),
    ).toMatchObject({
      code: "approval/invalid-request",
    });
    expect(await latch.approvals!.list({})).toEqual([]);
  });

  it("a control character in a message is refused (a terminal escape, a carriage return); line breaks are text", async () => {
    for (const message of ["nightly cleanup\u001b[2K", "ok\rALLOWED"])
      expect(
        await refusal(
          latch.approvals!.request({ resource: db, permission: "delete", subject: agent, message }),
        ),
      ).toMatchObject({ code: "approval/invalid-request", kind: "invalid-argument" });
    expect(await latch.approvals!.list({})).toEqual([]);
  });

  it("an action no rule gates, or one the subject is not permitted, cannot be requested", async () => {
    const ungated = await refusal(
      latch.approvals!.request({ resource: db, permission: "read", subject: agent, message: "read?" }),
    );
    expect(ungated).toMatchObject({ code: "approval/not-gated", kind: "failed-precondition" });
    const denied = await refusal(
      latch.approvals!.request({
        resource: db,
        permission: "delete",
        subject: { type: "agent", id: "rogue" },
        message: "delete?",
      }),
    );
    expect(denied.code).toBe("approval/not-gated");
    expect(denied.message).toMatch(/only unlock what is already permitted/);
    expect(await latch.approvals!.list({})).toEqual([]);
  });

  it("rules that do not compile are refused and the rules in force stay", async () => {
    const before = await latch.store.approvals.readRules();
    const bad = RULES.replace("permission: delete", "permission: destroy");
    expect(await refusal(latch.approvals!.writeRules(bad, "rules.yaml"))).toMatchObject({
      code: "approval/invalid-rules",
      kind: "invalid-argument",
    });
    expect(await latch.store.approvals.readRules()).toEqual(before);
    expect(latch.approvals!.rules().rules.map((r) => r.id)).toEqual(["prod-delete"]);
  });
});
