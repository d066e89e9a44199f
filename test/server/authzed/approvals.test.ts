/**
 * An action an approval rule gates, asked through SpiceDB's API with the real @authzed/authzed-node
 * client: SpiceDB has no APPROVAL_REQUIRED, so CheckPermission fails with FAILED_PRECONDITION naming
 * the rule (and a bulk check's item carries that status), until a person approves through
 * latch.v1's ApprovalService; then the same check answers HAS_PERMISSION.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type LatchClient } from "../../../src/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import { createLogger, type RunningServer, startServer } from "../../../src/server/index.js";
import { RULES, SCHEMA } from "../../approvals/fixtures.js";
import { TOKEN } from "../harness.js";
import { failure, spiceClient, v1 } from "./harness.js";

let latch: OpenedLatch;
let server: RunningServer;
let client: LatchClient;
let spice: v1.ZedClientInterface;

beforeAll(async () => {
  latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: { pollIntervalMs: 1 } });
  server = await startServer({
    store: latch.store,
    engine: latch.engine,
    decider: latch.decider,
    ...(latch.approvals === undefined ? {} : { approvals: latch.approvals }),
    tokens: [TOKEN],
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
  });
  client = createClient({ address: server.address, token: TOKEN });
  spice = spiceClient(server.address);
  await client.writeRelationships({
    updates: ["database:prod-orders#operator@agent:cleanup", "database:prod-orders#approver@user:olga"].map(
      (relationship) => ({ operation: "touch" as const, relationship }),
    ),
  });
  await client.writeApprovalRules(RULES, { fileName: "rules.yaml" });
});

afterAll(async () => {
  spice?.close();
  await client?.close();
  await server?.shutdown(1000);
  await latch?.close();
});

const obj = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
const fullyConsistent = () =>
  v1.Consistency.create({ requirement: { oneofKind: "fullyConsistent", fullyConsistent: true } });
const item = (permission: string) => ({
  resource: obj("database", "prod-orders"),
  permission,
  subject: v1.SubjectReference.create({ object: obj("agent", "cleanup") }),
});
const checkDelete = () =>
  spice.promises.checkPermission(
    v1.CheckPermissionRequest.create({ consistency: fullyConsistent(), ...item("delete") }),
  );

describe("authzed.api.v1 on an action an approval rule gates", () => {
  it("fails CheckPermission with FAILED_PRECONDITION naming the rule, bulk items too, until approved", async () => {
    const gated = await failure(checkDelete());
    expect(gated.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(gated.details).toContain('approval rule "prod-delete"');
    expect(gated.details).toContain("database:prod-orders#delete for agent:cleanup");
    expect(gated.metadata.get("latch-error-code")).toEqual(["approval/required"]);

    const bulk = await spice.promises.checkBulkPermissions(
      v1.CheckBulkPermissionsRequest.create({
        consistency: fullyConsistent(),
        items: [
          v1.CheckBulkPermissionsRequestItem.create(item("delete")),
          v1.CheckBulkPermissionsRequestItem.create(item("read")),
        ],
      }),
    );
    const [deleteItem, readItem] = bulk.pairs.map((p) => p.response);
    expect(deleteItem?.oneofKind).toBe("error");
    if (deleteItem?.oneofKind === "error") {
      expect(deleteItem.error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(deleteItem.error.message).toContain('approval rule "prod-delete"');
    }
    expect(readItem?.oneofKind === "item" ? readItem.item.permissionship : readItem).toBe(
      v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
    );

    const ticket = await client.requestApproval({
      resource: "database:prod-orders",
      permission: "delete",
      subject: "agent:cleanup",
      message: "Delete prod-orders?",
    });
    await client.decideApproval({ id: ticket.id, approve: true, approver: "user:olga" });
    const allowed = await checkDelete();
    expect(allowed.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
  });
});
