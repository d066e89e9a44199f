/**
 * The story of issue 16, embedded (SQLite): an agent acting for alice asks to delete
 * database:prod-orders; a person must say yes first, and only once.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIGNATURE_HEADER, verifySignature } from "../../src/approvals/index.js";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import type { CheckRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { RULES, SCHEMA } from "./fixtures.js";

const SECRET = "a webhook secret";
const MINUTE = 60_000;

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isLatchError(error) ? error.code : error).toBe(code);
}

/** The interval (s) a slow_down answer tells the poller to keep. */
async function slowDownInterval(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isLatchError(error) ? error.code : error).toBe("approval/slow-down");
  return isLatchError(error) ? error.details?.intervalSeconds : undefined;
}

describe("human approval: the story", () => {
  let clock = Date.parse("2026-12-04T09:00:00Z");
  let latch: OpenedLatch;
  let receiver: Server;
  const received: { body: string; signature: string }[] = [];

  beforeAll(async () => {
    receiver = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        received.push({ body, signature: String(req.headers[SIGNATURE_HEADER]) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const port = (receiver.address() as AddressInfo).port;
    latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      audit: { policy: "all", mode: "sync" },
      approvals: {
        rules: RULES,
        rulesFile: "rules.yaml",
        now: () => clock,
        pollIntervalMs: 2_000,
        webhook: { url: `http://127.0.0.1:${port}/hook`, secret: SECRET, backoffMs: 10 },
      },
    });
    await latch.store.write(
      [
        "database:prod-orders#owner@user:alice",
        "database:prod-orders#operator@agent:cleanup",
        "database:prod-orders#approver@user:olga",
        "database:prod-orders#approver@user:alice",
        "user:alice#delegate_to@agent:cleanup",
      ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
    );
  });

  afterAll(async () => {
    await latch.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  const action: CheckRequest = {
    resource: { type: "database", id: "prod-orders" },
    permission: "delete",
    subject: { type: "agent", id: "cleanup" },
    onBehalfOf: [{ type: "user", id: "alice" }],
    consistency: { kind: "fully-consistent" },
  };
  const flow = () => latch.approvals!;

  it("tells the agent its delete needs approval, names the rule, and records it", async () => {
    const result = await latch.decider.check(action);
    expect(result).toMatchObject({ state: "APPROVAL_REQUIRED", approvalRule: "prod-delete" });
    // Ungated: the same agent reading, and alice deleting herself.
    expect((await latch.decider.check({ ...action, permission: "read" })).state).toBe("ALLOWED");
    expect(
      (await latch.decider.check({ ...action, subject: { type: "user", id: "alice" }, onBehalfOf: [] }))
        .state,
    ).toBe("ALLOWED");
    const records = await latch.store.decisions.read({ subject: "agent:cleanup" });
    expect(records.at(-1)?.record).toMatchObject({ answer: "ALLOWED", permission: "read" });
    expect(records.find((r) => r.record.answer === "APPROVAL_REQUIRED")?.record.approvalRule).toBe(
      "prod-delete",
    );
  });

  let id = "";
  it("takes the request, hands a duplicate the same id, and signs the webhook to approvers", async () => {
    const ticket = await flow().request({
      ...action,
      onBehalfOf: action.onBehalfOf!,
      message: "Delete database prod-orders for alice?",
      justification: "alice asked to retire it after the migration",
    });
    id = ticket.id;
    expect(id.length).toBeGreaterThanOrEqual(32);
    expect(ticket).toMatchObject({ created: true, intervalSeconds: 2, expiresAt: clock + 10 * MINUTE });
    const again = await flow().request({ ...action, message: "again?" });
    expect(again).toMatchObject({ id, created: false });

    await expect.poll(() => received.length).toBe(1);
    const delivery = received[0]!;
    expect(verifySignature(delivery.body, delivery.signature, SECRET)).toBe(true);
    expect(verifySignature(delivery.body, delivery.signature, "another secret")).toBe(false);
    expect(JSON.parse(delivery.body).approval).toMatchObject({
      id,
      subject: "agent:cleanup",
      on_behalf_of: ["user:alice"],
      message: "Delete database prod-orders for alice?",
    });
  });

  it("keeps the check APPROVAL_REQUIRED while pending, and slows down a fast poller", async () => {
    expect((await latch.decider.check(action)).state).toBe("APPROVAL_REQUIRED");
    expect((await flow().get(id)).state).toBe("pending");
    // Each slow_down grows this request's interval by 5 s (CIBA): 2 s, then 7 s, then 12 s.
    expect(await slowDownInterval(flow().get(id))).toBe(7);
    clock += 2_000;
    expect(await slowDownInterval(flow().get(id))).toBe(12);
    clock += 12_000;
    expect((await flow().get(id)).state).toBe("pending");
    // Another request's poller keeps the base interval.
    const other = await flow().request({ ...action, onBehalfOf: [], message: "Delete prod-orders?" });
    expect(other.intervalSeconds).toBe(2);
    expect((await flow().get(other.id)).state).toBe("pending");
    clock += 2_000;
    expect((await flow().get(other.id)).state).toBe("pending");
    expect(await slowDownInterval(flow().get(other.id))).toBe(7);
  });

  it("refuses bob (not an approver) and alice (her own agent's request)", async () => {
    await expectCode(
      flow().decide({ id, approve: true, approver: { type: "user", id: "bob" }, reason: "sure" }),
      "approval/not-approver",
    );
    await expectCode(
      flow().decide({ id, approve: true, approver: { type: "user", id: "alice" }, reason: "mine" }),
      "approval/self-approval",
    );
    expect((await flow().show(id)).state).toBe("pending");
  });

  it("lets olga approve, wakes the waiting agent, and refuses a second decision", async () => {
    const waiting = flow().await(id);
    const decided = await flow().decide({
      id,
      approve: true,
      approver: { type: "user", id: "olga" },
      reason: "ticket OPS-42",
    });
    expect(decided).toMatchObject({ state: "approved", decidedBy: "user:olga", reason: "ticket OPS-42" });
    expect((await waiting).state).toBe("approved");
    await expectCode(
      flow().decide({ id, approve: false, approver: { type: "user", id: "olga" } }),
      "approval/already-decided",
    );
    const steps = (await latch.store.decisions.read({ limit: 1_000 })).filter((d) =>
      d.record.operation.startsWith("approval-"),
    );
    expect(steps.map((d) => d.record.operation)).toEqual(
      expect.arrayContaining(["approval-request", "approval-webhook", "approval-approve"]),
    );
    expect(steps.find((d) => d.record.operation === "approval-approve")?.record).toMatchObject({
      subject: "user:olga",
      approvalId: id,
      reason: "agent:cleanup for user:alice: ticket OPS-42",
    });
  });

  it("allows the consuming check once; the one after needs approval again", async () => {
    expect(await latch.decider.check(action)).toMatchObject({ state: "ALLOWED", approvalId: id });
    expect(await latch.decider.check({ ...action, consumeApproval: true })).toMatchObject({
      state: "ALLOWED",
      approvalId: id,
    });
    expect((await latch.decider.check({ ...action, consumeApproval: true })).state).toBe("APPROVAL_REQUIRED");
    expect((await flow().show(id)).state).toBe("consumed");
    const records = await latch.store.decisions.read({ subject: "agent:cleanup", limit: 1_000 });
    expect(records.some((r) => r.record.answer === "ALLOWED" && r.record.approvalId === id)).toBe(true);
  });

  it("a matching approval is for exactly its chain: the agent acting for no one is not unlocked", async () => {
    const { id: other } = await flow().request({ ...action, message: "once more" });
    await flow().decide({ id: other, approve: true, approver: { type: "user", id: "olga" } });
    const alone = { ...action, onBehalfOf: [] };
    expect((await latch.decider.check(alone)).state).toBe("APPROVAL_REQUIRED");
    expect((await latch.decider.check(action)).state).toBe("ALLOWED");
  });

  it("an approval left alone expires, and cannot be decided after", async () => {
    const { id: lapsed } = await flow().request({
      ...action,
      permission: "delete",
      subject: { type: "agent", id: "cleanup" },
      onBehalfOf: [],
      message: "delete alone?",
    });
    clock += 10 * MINUTE;
    expect((await flow().await(lapsed)).state).toBe("expired");
    await expectCode(
      flow().decide({ id: lapsed, approve: true, approver: { type: "user", id: "olga" } }),
      "approval/expired",
    );
  });

  it("revoking the agent's grant after approval makes the check DENIED", async () => {
    const { id: fresh } = await flow().request({ ...action, message: "one last time" });
    await flow().decide({ id: fresh, approve: true, approver: { type: "user", id: "olga" } });
    expect((await latch.decider.check(action)).state).toBe("ALLOWED");
    await latch.store.write([
      { operation: "delete", relationship: parseRelationship("user:alice#delegate_to@agent:cleanup") },
    ]);
    expect((await latch.decider.check(action)).state).toBe("DENIED");
  });
});
