/**
 * The flow on every client: embedded mode and the gRPC client against a real server give the
 * same answers, the same errors (with codes, and statuses over the wire) and the same approvals.
 */
import { describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import type { LatchClient } from "../../src/index.js";
import { TRANSPORTS } from "../service/transports.js";
import { RULES, SCHEMA } from "./fixtures.js";

const UPDATES = [
  "database:prod-orders#owner@user:alice",
  "database:prod-orders#operator@agent:cleanup",
  "database:prod-orders#approver@user:olga",
  "user:alice#delegate_to@agent:cleanup",
].map((relationship) => ({ operation: "touch" as const, relationship }));

const check = {
  resource: "database:prod-orders",
  permission: "delete",
  subject: "agent:cleanup",
  onBehalfOf: ["user:alice"],
  consistency: { kind: "fully-consistent" as const },
};

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (e: unknown) => (isLatchError(e) ? e.code : String(e)),
  );
}

describe.each(TRANSPORTS)("approvals through %s", (_name, transport) => {
  it("gates, requests, refuses bad input, decides, consumes once", async () => {
    await transport(
      { schema: SCHEMA, approvals: { pollIntervalMs: 60_000 } },
      async (client: LatchClient) => {
        await client.writeRelationships({ updates: UPDATES });
        expect(
          await code(
            client.writeApprovalRules(RULES.replace("permission: delete", "permission: drop"), {
              fileName: "r.yaml",
            }),
          ),
        ).toBe("approval/invalid-rules");
        expect(await client.writeApprovalRules(RULES, { fileName: "rules.yaml" })).toEqual({
          version: 1,
          ruleIds: ["prod-delete"],
        });
        expect(await client.readApprovalRules()).toEqual({ version: 1, rules: RULES });

        expect(await client.check(check)).toMatchObject({
          state: "APPROVAL_REQUIRED",
          approvalRule: "prod-delete",
          allowed: false,
        });
        const ticket = await client.requestApproval({
          ...check,
          message: "Delete prod-orders?",
          context: { why: "retired" },
        });
        expect(ticket).toMatchObject({
          created: true,
          intervalSeconds: 60,
          approval: { state: "pending", chain: ["user:alice"] },
        });
        // Why the agent may act at all (its own grant and alice's delegation), for the approver.
        expect(ticket.approval.witness).toEqual(
          expect.arrayContaining(["database:prod-orders#operator@agent:cleanup"]),
        );
        expect((await client.listApprovals({ id: ticket.id }))[0]?.witness).toEqual(ticket.approval.witness);
        const retired = { why: "retired" };
        expect((await client.requestApproval({ ...check, message: "again", context: retired })).id).toBe(
          ticket.id,
        );
        // Another context is another action: the approver sees what the agent means to use.
        const other = await client.requestApproval({ ...check, message: "no context" });
        expect(other.id).not.toBe(ticket.id);

        expect((await client.getApproval(ticket.id)).state).toBe("pending");
        expect(await code(client.getApproval(ticket.id))).toBe("approval/slow-down");
        expect(await code(client.getApproval("no-such-id"))).toBe("approval/not-found");
        expect(await code(client.requestApproval({ ...check, message: "x".repeat(600) }))).toBe(
          "approval/message-too-long",
        );
        expect(
          await code(client.decideApproval({ id: ticket.id, approve: true, approver: "user:bob" })),
        ).toBe("approval/not-approver");
        expect(
          await code(client.decideApproval({ id: ticket.id, approve: true, approver: "user:alice" })),
        ).toBe("approval/self-approval");
        expect((await client.listApprovals({ state: "pending" })).map((a) => a.id).sort()).toEqual(
          [ticket.id, other.id].sort(),
        );

        const waiting = client.awaitApproval(ticket.id);
        const decided = await client.decideApproval({
          id: ticket.id,
          approve: true,
          approver: "user:olga",
          reason: "OPS-42",
        });
        expect(decided).toMatchObject({ state: "approved", decidedBy: "user:olga", reason: "OPS-42" });
        expect((await waiting).state).toBe("approved");
        expect(
          await code(client.decideApproval({ id: ticket.id, approve: false, approver: "user:olga" })),
        ).toBe("approval/already-decided");

        // Approved for the context it was requested with, and for no other.
        expect((await client.check({ ...check, consumeApproval: true })).state).toBe("APPROVAL_REQUIRED");
        expect(await client.check({ ...check, context: retired, consumeApproval: true })).toMatchObject({
          state: "ALLOWED",
          approvalId: ticket.id,
        });
        expect((await client.check({ ...check, context: retired, consumeApproval: true })).state).toBe(
          "APPROVAL_REQUIRED",
        );
        const bulk = await client.checkBulk({ items: [check, { ...check, permission: "read" }] });
        expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual([
          "APPROVAL_REQUIRED",
          "ALLOWED",
        ]);
        expect(
          (await client.listApprovals({}))
            .map((a) => [a.id, a.state])
            .sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
        ).toEqual(
          [
            [ticket.id, "consumed"],
            [other.id, "pending"],
          ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
        );

        // Each step of the flow is in the audit trail, whatever records the checks themselves.
        const steps = await client.queryDecisions({ subject: "user:olga" });
        expect(
          steps.decisions.map((d) => [d.record.operation, d.record.approvalId, d.record.answer]),
        ).toEqual([["approval-approve", ticket.id, "ALLOWED"]]);
      },
    );
  });
});
