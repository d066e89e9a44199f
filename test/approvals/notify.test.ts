/**
 * How approvers hear of requests: the webhook (signed, retried with backoff, each attempt audited)
 * and WatchApprovals; and the default recording policy records gated checks without a chain.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApprovalEvent, SIGNATURE_HEADER, verifySignature } from "../../src/approvals/index.js";
import { parseRelationship } from "../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { RULES, SCHEMA } from "./fixtures.js";

const SECRET = "another webhook secret";
let latch: OpenedLatch;
let receiver: Server;
let failedOnce = false;
const bodies: { body: string; signature: string }[] = [];

beforeAll(async () => {
  // Fails the first delivery, accepts the next.
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      bodies.push({ body, signature: String(req.headers[SIGNATURE_HEADER]) });
      const fail = !failedOnce && JSON.parse(body).type === "approval.requested";
      if (fail) failedOnce = true;
      res.writeHead(fail ? 503 : 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
  latch = await openLatch({
    database: ":memory:",
    schema: SCHEMA,
    audit: { policy: "agents", mode: "sync" },
    approvals: { rules: RULES, webhook: { url, secret: SECRET, backoffMs: 5 } },
  });
  await latch.store.write([
    { operation: "touch", relationship: parseRelationship("database:prod-orders#operator@agent:cleanup") },
    { operation: "touch", relationship: parseRelationship("database:prod-orders#approver@user:olga") },
  ]);
});
afterAll(async () => {
  await latch.close();
  await new Promise((resolve) => receiver.close(resolve));
});

const action = {
  resource: { type: "database", id: "prod-orders" },
  permission: "delete",
  subject: { type: "agent", id: "cleanup" },
};

describe("approval notifications", () => {
  it("records a gated check without a chain under the default policy", async () => {
    expect((await latch.decider.check(action)).state).toBe("APPROVAL_REQUIRED");
    expect((await latch.decider.check({ ...action, permission: "read" })).state).toBe("ALLOWED");
    const records = await latch.store.decisions.read({ subject: "agent:cleanup" });
    expect(records.map((r) => [r.record.permission, r.record.answer, r.record.approvalRule])).toEqual([
      ["delete", "APPROVAL_REQUIRED", "prod-delete"],
    ]);
  });

  it("streams requests and decisions, and retries a failed webhook delivery, auditing each attempt", async () => {
    const stop = new AbortController();
    const seen: ApprovalEvent[] = [];
    const watching = (async () => {
      for await (const event of latch.approvals!.watch(stop.signal)) {
        seen.push(event);
        if (seen.length === 2) stop.abort();
      }
    })();
    const { id } = await latch.approvals!.request({ ...action, message: "Delete?" });
    await latch.approvals!.decide({
      id,
      approve: true,
      approver: { type: "user", id: "olga" },
      reason: "ok",
    });
    await watching;
    expect(seen.map((e) => [e.kind, e.approval.id, e.approval.state])).toEqual([
      ["requested", id, "pending"],
      ["decided", id, "approved"],
    ]);

    await expect.poll(() => bodies.length).toBe(3);
    for (const { body, signature } of bodies) {
      expect(verifySignature(body, signature, SECRET)).toBe(true);
      expect(verifySignature(body, signature, "not the secret")).toBe(false);
    }
    const payloads = bodies.map((b) => JSON.parse(b.body));
    const requested = payloads.find((p) => p.type === "approval.requested");
    // The witness: the relationship that makes the agent's delete permitted at all.
    expect(requested.approval).toMatchObject({
      id,
      subject: "agent:cleanup",
      witness: ["database:prod-orders#operator@agent:cleanup"],
    });
    const decided = payloads.find((p) => p.type === "approval.decided");
    expect(decided.approval).toMatchObject({ id, state: "approved", decided_by: "user:olga", reason: "ok" });
    await expect
      .poll(async () =>
        (await latch.store.decisions.read({ subject: "agent:cleanup", limit: 100 }))
          .filter((d) => d.record.operation === "approval-webhook")
          .map((d) => `${d.record.answer} ${d.record.reason}`)
          .sort(),
      )
      .toEqual([
        "ALLOWED approval.decided attempt 1: HTTP 200",
        "APPROVAL_REQUIRED approval.requested attempt 1: HTTP 503",
        "APPROVAL_REQUIRED approval.requested attempt 2: HTTP 200",
      ]);
  });
});
