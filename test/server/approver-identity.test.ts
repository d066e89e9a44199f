/**
 * DecideApproval as the signed-in person: a token named after a subject (`user:olga=SECRET`)
 * decides as that subject and cannot name another approver; a token that names no one (an
 * administrator's, bare or with a plain name) keeps the old rule: the request names the approver.
 * Also CheckPermission's `with_witness`, which the console draws. Over the Connect protocol, as
 * the console calls them.
 */
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalService, ApprovalState } from "../../src/gen/latch/v1/approval_service_pb.js";
import {
  CheckPermissionResponse_Permissionship,
  PermissionService,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { createClient as createLatchClient } from "../../src/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { approverOf, tokenIdentity } from "../../src/server/approver-identity.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import { RULES, SCHEMA } from "../approvals/fixtures.js";

const OLGA = "olga-secret-0123456789";
const BOB = "bob-secret-0123456789";
const ADMIN = "admin-secret-0123456789";
const CI = "ci-secret-0123456789";

const ref = (type: string, id: string) => ({ objectType: type, objectId: id });
const subject = (type: string, id: string) => ({ object: ref(type, id) });

async function connectError(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

describe("the approver is the token's subject", () => {
  let latch: OpenedLatch;
  let server: RunningServer;
  const clients = (token: string) => {
    const bearer: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    };
    const transport = createConnectTransport({
      baseUrl: `http://${server.httpAddress}`,
      httpVersion: "1.1",
      interceptors: [bearer],
    });
    return {
      approvals: createClient(ApprovalService, transport),
      permissions: createClient(PermissionService, transport),
    };
  };
  const request = async () => {
    const { approvals } = clients(ADMIN);
    const r = await approvals.requestApproval({
      resource: ref("database", "prod-orders"),
      permission: "delete",
      subject: subject("agent", "cleanup"),
      bindingMessage: `delete? ${Math.random()}`,
    });
    return r.approvalId;
  };

  const write = async (operation: "touch" | "delete", relationships: string[]) => {
    const client = createLatchClient({ address: server.address, token: ADMIN });
    try {
      await client.writeRelationships({
        updates: relationships.map((relationship) => ({ operation, relationship })),
      });
    } finally {
      await client.close();
    }
  };

  beforeAll(async () => {
    latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: { rules: RULES } });
    server = await startServer({
      store: latch.store,
      engine: latch.engine,
      decider: latch.decider,
      approvals: latch.approvals!,
      tokens: [`user:olga=${OLGA}`, `user:bob=${BOB}`, ADMIN, `ci=${CI}`],
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
    await write("touch", [
      "database:prod-orders#operator@agent:cleanup",
      "database:prod-orders#approver@user:olga",
      "database:prod-orders#approver@user:bob",
    ]);
  });

  afterAll(async () => {
    await server?.shutdown(1000);
    await latch?.close();
  });

  it("decides as the token's subject when the request names no approver", async () => {
    const id = await request();
    const { approval } = await clients(OLGA).approvals.decideApproval({ approvalId: id, approve: true });
    expect(approval?.state).toBe(ApprovalState.APPROVED);
    expect(approval?.decidedBy).toBe("user:olga");
  });

  it("accepts the token's own subject named as approver", async () => {
    const id = await request();
    const { approval } = await clients(BOB).approvals.decideApproval({
      approvalId: id,
      approve: false,
      approver: subject("user", "bob"),
      reason: "not today",
    });
    expect(approval?.state).toBe(ApprovalState.DENIED);
    expect(approval?.decidedBy).toBe("user:bob");
  });

  it("refuses another approver than the token's subject, and leaves the request pending", async () => {
    const id = await request();
    const error = await connectError(
      clients(BOB).approvals.decideApproval({
        approvalId: id,
        approve: true,
        approver: subject("user", "olga"),
      }),
    );
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.metadata.get("latch-error-code")).toBe("approval/approver-mismatch");
    expect(error.rawMessage).toContain("user:bob");
    expect(error.rawMessage).toContain("user:olga");
    const { approvals } = await clients(ADMIN).approvals.listApprovals({ approvalId: id });
    expect(approvals[0]?.state).toBe(ApprovalState.PENDING);
  });

  it("keeps the old rule for a token that names no one: the request names the approver", async () => {
    for (const token of [ADMIN, CI]) {
      const id = await request();
      const missing = await connectError(
        clients(token).approvals.decideApproval({ approvalId: id, approve: true }),
      );
      expect(missing.code).toBe(Code.InvalidArgument);
      expect(missing.rawMessage).toContain("approver");
      const { approval } = await clients(token).approvals.decideApproval({
        approvalId: id,
        approve: true,
        approver: subject("user", "olga"),
      });
      expect(approval?.decidedBy).toBe("user:olga");
    }
  });

  it("still checks the token's subject under the rule", async () => {
    await write("delete", ["database:prod-orders#approver@user:bob"]);
    const id = await request();
    const error = await connectError(
      clients(BOB).approvals.decideApproval({ approvalId: id, approve: true }),
    );
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.metadata.get("latch-error-code")).toBe("approval/not-approver");
  });

  it("answers a check's witness when asked, and none otherwise", async () => {
    const { permissions } = clients(ADMIN);
    const asked = {
      resource: ref("database", "prod-orders"),
      permission: "approve",
      subject: subject("user", "olga"),
    };
    const plain = await permissions.checkPermission(asked);
    expect(plain.permissionship).toBe(CheckPermissionResponse_Permissionship.ALLOWED);
    expect(plain.witness).toEqual([]);
    const witnessed = await permissions.checkPermission({ ...asked, withWitness: true });
    expect(witnessed.witness).toEqual(["database:prod-orders#approver@user:olga"]);
  });
});

describe("which token names a subject", () => {
  it("reads type:id names as subjects and every other name as no one", () => {
    expect(tokenIdentity("user:olga")).toEqual({ type: "user", id: "olga" });
    expect(tokenIdentity("team:ops#member")).toEqual({ type: "team", id: "ops", relation: "member" });
    for (const name of [undefined, "token-1", "ci", "ops:Night shift", "Ops:night"])
      expect(tokenIdentity(name)).toBeUndefined();
  });

  it("names the field and both subjects when they differ", () => {
    expect(() => approverOf("user:bob", subject("user", "olga") as never)).toThrow(
      expect.objectContaining({ code: "approval/approver-mismatch", kind: "permission-denied" }),
    );
    expect(approverOf("user:bob", undefined)).toEqual({ type: "user", id: "bob" });
  });
});
