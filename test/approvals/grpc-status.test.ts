/** Over a real gRPC server, each refusal of the approval flow has its proper status, and the server stays up. */
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { RemoteError } from "../../src/client/errors.js";
import type { LatchClient } from "../../src/index.js";
import { grpcServer } from "../service/transports.js";
import { RULES, SCHEMA } from "./fixtures.js";

async function statusOf(promise: Promise<unknown>): Promise<[number, string] | undefined> {
  return promise.then(
    () => undefined,
    (e: unknown) => (e instanceof RemoteError ? [e.status, e.code] : undefined),
  );
}

describe("ApprovalService statuses", () => {
  it("maps every refusal to its gRPC status", async () => {
    await grpcServer(
      { schema: SCHEMA, approvals: { rules: RULES, pollIntervalMs: 60_000 } },
      async (client: LatchClient) => {
        await client.writeRelationships({
          updates: [
            "database:prod-orders#operator@agent:cleanup",
            "database:prod-orders#approver@user:olga",
          ].map((relationship) => ({ operation: "touch" as const, relationship })),
        });
        const action = { resource: "database:prod-orders", permission: "delete", subject: "agent:cleanup" };
        expect(await statusOf(client.getApproval("nope"))).toEqual([status.NOT_FOUND, "approval/not-found"]);
        expect(await statusOf(client.getApproval(""))).toEqual([
          status.INVALID_ARGUMENT,
          "request/invalid-argument",
        ]);
        expect(await statusOf(client.writeApprovalRules("rules: [oops"))).toEqual([
          status.INVALID_ARGUMENT,
          "approval/invalid-rules",
        ]);
        expect(await statusOf(client.requestApproval({ ...action, message: "é".repeat(300) }))).toEqual([
          status.RESOURCE_EXHAUSTED,
          "approval/message-too-long",
        ]);
        expect(
          await statusOf(client.requestApproval({ ...action, permission: "read", message: "read?" })),
        ).toEqual([status.FAILED_PRECONDITION, "approval/not-gated"]);
        const { id } = await client.requestApproval({ ...action, message: "delete?" });
        await client.getApproval(id);
        expect(await statusOf(client.getApproval(id))).toEqual([
          status.RESOURCE_EXHAUSTED,
          "approval/slow-down",
        ]);
        expect(await statusOf(client.decideApproval({ id, approve: true, approver: "user:bob" }))).toEqual([
          status.PERMISSION_DENIED,
          "approval/not-approver",
        ]);
        expect(
          await statusOf(client.decideApproval({ id, approve: true, approver: "agent:cleanup" })),
        ).toEqual([status.PERMISSION_DENIED, "approval/self-approval"]);
        await client.decideApproval({ id, approve: false, approver: "user:olga", reason: "no" });
        expect(await statusOf(client.decideApproval({ id, approve: true, approver: "user:olga" }))).toEqual([
          status.FAILED_PRECONDITION,
          "approval/already-decided",
        ]);
        expect((await client.check(action)).state).toBe("APPROVAL_REQUIRED");
      },
    );
  });
});
