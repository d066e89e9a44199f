/**
 * PermissionsService's decisions through the real @authzed/authzed-node client against a real
 * Latch server: every permissionship (caveat contexts), traces, bulk checks with per-item errors,
 * expansion, lookups with cursors and wildcard exclusions, ZedTokens for read-after-write, and
 * SpiceDB's error codes and ErrorInfo reasons, in both plaintext modes of the client.
 */
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
// The client library does not export the trace's enums; ours have the same numbers (wire-compat.test.ts).
import {
  CaveatEvalInfo_Result,
  CheckDebugTrace_Permissionship,
  CheckDebugTrace_PermissionType,
} from "../../../src/gen/authzed/api/v1/debug_pb.js";
import { ErrorInfoSchema } from "../../../src/gen/google/rpc/error_details_pb.js";
import { RelationshipUpdate_Operation } from "../../../src/gen/latch/v1/core_pb.js";
import { WriteRelationshipsRequestSchema } from "../../../src/gen/latch/v1/relationship_service_pb.js";
import { relationshipToProto } from "../../../src/server/convert.js";
import { type Harness, startHarness, unary } from "../harness.js";
import { errorInfoOf, failure, spiceClient, v1 } from "./harness.js";

const SCHEMA = `
caveat in_window(now int, until int) {
  now < until
}

definition user {}

definition group {
  relation member: user | group#member
}

definition folder {
  relation viewer: user
}

definition document {
  relation parent: folder
  relation viewer: user | group#member | user with in_window | user:*
  relation banned: user
  permission view = (viewer + parent->viewer) - banned
}
`;

const RELATIONSHIPS = [
  "document:d1#viewer@group:eng#member",
  "group:eng#member@user:alice",
  "document:d1#parent@folder:f",
  "folder:f#viewer@user:bob",
  'document:d1#viewer@user:carol[in_window:{"until":10}]',
  "document:d2#viewer@user:alice",
  "document:d3#viewer@user:alice",
  'document:d4#viewer@user:dan[in_window:{"until":10}]',
  "document:pub#viewer@user:*",
  "document:pub#banned@user:mallory",
];

let h: Harness;
let c: v1.ZedClientInterface;

beforeAll(async () => {
  h = await startHarness();
  await h.store.writeSchema(SCHEMA);
  await h.store.write(RELATIONSHIPS.map((r) => ({ operation: "touch", relationship: parseRelationship(r) })));
  c = spiceClient(h.server.address);
});
afterAll(async () => {
  c?.close();
  await h?.close();
});

const obj = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
const user = (id: string) => v1.SubjectReference.create({ object: obj("user", id) });
const fullyConsistent = () =>
  v1.Consistency.create({ requirement: { oneofKind: "fullyConsistent", fullyConsistent: true } });

function check(resource: string, subject: string, context?: Record<string, unknown>, permission = "view") {
  return c.promises.checkPermission(
    v1.CheckPermissionRequest.create({
      consistency: fullyConsistent(),
      resource: obj("document", resource),
      permission,
      subject: user(subject),
      ...(context === undefined ? {} : { context: v1.PbStruct.fromJson(context as never) }),
    }),
  );
}

describe("CheckPermission", () => {
  it("answers HAS_PERMISSION and NO_PERMISSION with a ZedToken", async () => {
    const allowed = await check("d1", "alice");
    expect(allowed.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
    expect(allowed.checkedAt?.token).not.toBe("");
    expect(allowed.partialCaveatInfo).toBeUndefined();
    const viaArrow = await check("d1", "bob");
    expect(viaArrow.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
    const denied = await check("d1", "eve");
    expect(denied.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.NO_PERMISSION);
  });

  it("gives all three permissionships of a caveat by the context sent", async () => {
    const missing = await check("d1", "carol");
    expect(missing.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.CONDITIONAL_PERMISSION);
    expect(missing.partialCaveatInfo?.missingRequiredContext).toEqual(["now"]);
    const inside = await check("d1", "carol", { now: 5 });
    expect(inside.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
    const outside = await check("d1", "carol", { now: 50 });
    expect(outside.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.NO_PERMISSION);
  });

  it("reads its own write through the ZedToken of a latch.v1 write", async () => {
    const written = await unary<{ writtenAt: { token: string } }>(
      h.relationship,
      "writeRelationships",
      WriteRelationshipsRequestSchema,
      {
        updates: [
          {
            operation: RelationshipUpdate_Operation.TOUCH,
            relationship: relationshipToProto(parseRelationship("document:fresh#viewer@user:erin")),
          },
        ],
      },
    );
    const answer = await c.promises.checkPermission(
      v1.CheckPermissionRequest.create({
        consistency: v1.Consistency.create({
          requirement: {
            oneofKind: "atLeastAsFresh",
            atLeastAsFresh: v1.ZedToken.create({ token: written.writtenAt.token }),
          },
        }),
        resource: obj("document", "fresh"),
        permission: "view",
        subject: user("erin"),
      }),
    );
    expect(answer.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
  });

  it("traces the check as SpiceDB's CheckDebugTrace, with the schema used", async () => {
    const answer = await c.promises.checkPermission(
      v1.CheckPermissionRequest.create({
        consistency: fullyConsistent(),
        resource: obj("document", "d1"),
        permission: "view",
        subject: user("carol"),
        withTracing: true,
      }),
    );
    const trace = answer.debugTrace?.check;
    expect(answer.debugTrace?.schemaUsed).toContain("definition document");
    expect(trace?.resource).toEqual(obj("document", "d1"));
    expect(trace?.permission).toBe("view");
    expect(trace?.permissionType).toBe(CheckDebugTrace_PermissionType.PERMISSION);
    expect(trace?.subject).toEqual(user("carol"));
    expect(trace?.result).toBe(CheckDebugTrace_Permissionship.CONDITIONAL_PERMISSION);
    expect(trace?.resolution.oneofKind).toBe("subProblems");
    const subs = trace?.resolution.oneofKind === "subProblems" ? trace.resolution.subProblems.traces : [];
    const viewer = subs.find((t) => t.permission === "viewer");
    expect(viewer?.permissionType).toBe(CheckDebugTrace_PermissionType.RELATION);
    expect(viewer?.result).toBe(CheckDebugTrace_Permissionship.CONDITIONAL_PERMISSION);
    expect(viewer?.caveatEvaluationInfo).toMatchObject({
      caveatName: "in_window",
      expression: expect.stringContaining("now < until"),
      result: CaveatEvalInfo_Result.MISSING_SOME_CONTEXT,
      partialCaveatInfo: { missingRequiredContext: ["now"] },
    });
  });

  it("refuses an unknown definition and an unknown permission as SpiceDB does", async () => {
    const unknownType = await failure(
      c.promises.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: obj("nope", "x"),
          permission: "view",
          subject: user("a"),
        }),
      ),
    );
    expect(unknownType.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorInfoOf(unknownType.metadata)?.info).toMatchObject({
      domain: "authzed.com",
      reason: "ERROR_REASON_UNKNOWN_DEFINITION",
      metadata: { definition_name: "nope" },
    });
    const unknownPermission = await failure(check("d1", "alice", undefined, "edit"));
    expect(unknownPermission.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorInfoOf(unknownPermission.metadata)?.info).toMatchObject({
      reason: "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
      metadata: { definition_name: "document", relation_or_permission_name: "edit" },
    });
  });

  it("refuses a wildcard subject and a missing resource", async () => {
    const wildcard = await failure(check("d1", "*"));
    expect(wildcard.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(wildcard.metadata)?.info?.reason).toBe("ERROR_REASON_WILDCARD_NOT_ALLOWED");
    const noResource = await failure(
      c.promises.checkPermission(
        v1.CheckPermissionRequest.create({ permission: "view", subject: user("a") }),
      ),
    );
    expect(noResource.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noResource.details).toContain("resource");
  });

  it("refuses a malformed ZedToken and a caveat context of the wrong type", async () => {
    const token = await failure(
      c.promises.checkPermission(
        v1.CheckPermissionRequest.create({
          consistency: v1.Consistency.create({
            requirement: {
              oneofKind: "atExactSnapshot",
              atExactSnapshot: v1.ZedToken.create({ token: "nope" }),
            },
          }),
          resource: obj("document", "d1"),
          permission: "view",
          subject: user("alice"),
        }),
      ),
    );
    expect(token.code).toBe(grpc.status.INVALID_ARGUMENT);
    const context = await failure(check("d1", "carol", { now: "noon" }));
    expect(context.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(context.metadata)?.info?.reason).toMatch(/^ERROR_REASON_CAVEAT_/);
  });

  it("works the same in INSECURE_LOCALHOST_ALLOWED mode", async () => {
    const local = spiceClient(h.server.address, { mode: "localhost" });
    try {
      const answer = await local.promises.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: obj("document", "d1"),
          permission: "view",
          subject: user("alice"),
        }),
      );
      expect(answer.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
    } finally {
      local.close();
    }
  });
});

describe("CheckBulkPermissions", () => {
  it("answers each item, echoing it, with a google.rpc.Status for an item that fails", async () => {
    const items = [
      { resource: obj("document", "d1"), permission: "view", subject: user("alice") },
      { resource: obj("document", "d1"), permission: "view", subject: user("eve") },
      { resource: obj("document", "d1"), permission: "view", subject: user("carol") },
      { resource: obj("document", "d1"), permission: "edit", subject: user("alice") },
    ].map((i) => v1.CheckBulkPermissionsRequestItem.create(i));
    const answer = await c.promises.checkBulkPermissions(
      v1.CheckBulkPermissionsRequest.create({ consistency: fullyConsistent(), items }),
    );
    expect(answer.checkedAt?.token).not.toBe("");
    expect(answer.pairs.map((p) => p.request)).toEqual(items);
    const [a, b, cc, d] = answer.pairs.map((p) => p.response);
    expect(a?.oneofKind === "item" && a.item.permissionship).toBe(
      v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
    );
    expect(b?.oneofKind === "item" && b.item.permissionship).toBe(
      v1.CheckPermissionResponse_Permissionship.NO_PERMISSION,
    );
    expect(cc?.oneofKind === "item" && cc.item.partialCaveatInfo?.missingRequiredContext).toEqual(["now"]);
    expect(d?.oneofKind).toBe("error");
    if (d?.oneofKind !== "error") return;
    expect(d.error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(d.error.message).toContain("edit");
    expect(d.error.details.map((x) => x.typeUrl)).toEqual(["type.googleapis.com/google.rpc.ErrorInfo"]);
    expect(fromBinary(ErrorInfoSchema, d.error.details[0]!.value)).toMatchObject({
      domain: "authzed.com",
      reason: "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
    });
  });

  it("refuses more items than the limit as SpiceDB does", async () => {
    const item = v1.CheckBulkPermissionsRequestItem.create({
      resource: obj("document", "d1"),
      permission: "view",
      subject: user("alice"),
    });
    const error = await failure(
      c.promises.checkBulkPermissions(
        v1.CheckBulkPermissionsRequest.create({ items: Array.from({ length: 1001 }, () => item) }),
      ),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(error.metadata)?.info).toMatchObject({
      // SpiceDB's reason for this one is UNSPECIFIED; the counts say what is wrong.
      reason: "ERROR_REASON_UNSPECIFIED",
      metadata: { check_count: "1001", maximum_checks_allowed: "1000" },
    });
  });

  it("traces each item when asked", async () => {
    const answer = await c.promises.checkBulkPermissions(
      v1.CheckBulkPermissionsRequest.create({
        withTracing: true,
        items: [
          v1.CheckBulkPermissionsRequestItem.create({
            resource: obj("document", "d1"),
            permission: "view",
            subject: user("bob"),
          }),
        ],
      }),
    );
    const first = answer.pairs[0]?.response;
    expect(first?.oneofKind === "item" && first.item.debugTrace?.check?.result).toBe(
      CheckDebugTrace_Permissionship.HAS_PERMISSION,
    );
  });
});

describe("ExpandPermissionTree", () => {
  it("returns the tree of operations with the subjects at the leaves", async () => {
    const answer = await c.promises.expandPermissionTree(
      v1.ExpandPermissionTreeRequest.create({ resource: obj("document", "d1"), permission: "view" }),
    );
    expect(answer.expandedAt?.token).not.toBe("");
    const root = answer.treeRoot!;
    expect(root.expandedObject).toEqual(obj("document", "d1"));
    expect(root.expandedRelation).toBe("view");
    expect(root.treeType.oneofKind).toBe("intermediate");
    const leaves: string[] = [];
    const walk = (t: v1.PermissionRelationshipTree) => {
      if (t.treeType.oneofKind === "leaf")
        for (const s of t.treeType.leaf.subjects)
          leaves.push(
            `${s.object?.objectType}:${s.object?.objectId}${s.optionalRelation ? `#${s.optionalRelation}` : ""}`,
          );
      else if (t.treeType.oneofKind === "intermediate") t.treeType.intermediate.children.forEach(walk);
    };
    walk(root);
    expect(leaves).toEqual(expect.arrayContaining(["group:eng#member", "user:carol", "user:bob"]));
  });
});

describe("LookupResources", () => {
  const request = (extra: Partial<v1.LookupResourcesRequest> = {}) =>
    v1.LookupResourcesRequest.create({
      consistency: fullyConsistent(),
      resourceObjectType: "document",
      permission: "view",
      subject: user("alice"),
      ...extra,
    });

  it("streams every resource with a cursor after each, and resumes from any of them", async () => {
    const all = await c.promises.lookupResources(request());
    const ids = all.map((r) => r.resourceObjectId);
    expect(ids.sort()).toEqual(["d1", "d2", "d3", "pub"]);
    for (const r of all) {
      expect(r.afterResultCursor?.token).not.toBe("");
      expect(r.permissionship).toBe(v1.LookupPermissionship.HAS_PERMISSION);
    }
    const pages: string[] = [];
    let cursor: v1.Cursor | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await c.promises.lookupResources(
        request({ optionalLimit: 2, ...(cursor === undefined ? {} : { optionalCursor: cursor }) }),
      );
      expect(page.length).toBeLessThanOrEqual(2);
      if (page.length === 0) break;
      pages.push(...page.map((r) => r.resourceObjectId));
      cursor = page.at(-1)!.afterResultCursor;
    }
    expect(pages.sort()).toEqual(["d1", "d2", "d3", "pub"]);
  });

  it("marks a resource decided by a missing caveat parameter CONDITIONAL_PERMISSION", async () => {
    const answer = await c.promises.lookupResources(request({ subject: user("dan") }));
    const d4 = answer.find((r) => r.resourceObjectId === "d4");
    expect(d4?.permissionship).toBe(v1.LookupPermissionship.CONDITIONAL_PERMISSION);
    expect(d4?.partialCaveatInfo?.missingRequiredContext).toEqual(["now"]);
  });

  it("refuses a cursor that does not decode, and one of another lookup, as SpiceDB does", async () => {
    const garbage = await failure(
      c.promises.lookupResources(request({ optionalCursor: v1.Cursor.create({ token: "garbage" }) })),
    );
    expect(garbage.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(garbage.metadata)?.info?.reason).toBe("ERROR_REASON_INVALID_CURSOR");
    const page = await c.promises.lookupResources(request({ optionalLimit: 1 }));
    const foreign = await failure(
      c.promises.lookupResources(
        request({ subject: user("bob"), optionalCursor: page[0]!.afterResultCursor! }),
      ),
    );
    expect(foreign.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorInfoOf(foreign.metadata)?.info?.reason).toBe("ERROR_REASON_INVALID_CURSOR");
  });
});

describe("LookupSubjects", () => {
  const request = (resource: string, extra: Partial<v1.LookupSubjectsRequest> = {}) =>
    v1.LookupSubjectsRequest.create({
      consistency: fullyConsistent(),
      resource: obj("document", resource),
      permission: "view",
      subjectObjectType: "user",
      ...extra,
    });

  it("lists the subjects, filling the deprecated fields as SpiceDB does", async () => {
    const answer = await c.promises.lookupSubjects(request("d1"));
    const byId = new Map(answer.map((r) => [r.subject?.subjectObjectId, r]));
    expect([...byId.keys()].sort()).toEqual(["alice", "bob", "carol"]);
    const carol = byId.get("carol")!;
    expect(carol.subject?.permissionship).toBe(v1.LookupPermissionship.CONDITIONAL_PERMISSION);
    expect(carol.subject?.partialCaveatInfo?.missingRequiredContext).toEqual(["now"]);
    expect(carol.subjectObjectId).toBe("carol");
    expect(carol.permissionship).toBe(v1.LookupPermissionship.CONDITIONAL_PERMISSION);
    expect(carol.partialCaveatInfo?.missingRequiredContext).toEqual(["now"]);
    expect(carol.lookedUpAt?.token).not.toBe("");
  });

  it("returns a wildcard with its exclusions, or leaves it out when asked", async () => {
    const answer = await c.promises.lookupSubjects(request("pub"));
    const wildcard = answer.find((r) => r.subject?.subjectObjectId === "*");
    expect(wildcard?.excludedSubjects.map((e) => e.subjectObjectId)).toEqual(["mallory"]);
    expect(wildcard?.excludedSubjects[0]?.permissionship).toBe(v1.LookupPermissionship.HAS_PERMISSION);
    expect(wildcard?.excludedSubjectIds).toEqual(["mallory"]);
    const without = await c.promises.lookupSubjects(
      request("pub", { wildcardOption: v1.LookupSubjectsRequest_WildcardOption.EXCLUDE_WILDCARDS }),
    );
    expect(without.map((r) => r.subject?.subjectObjectId)).not.toContain("*");
  });

  it("answers a concrete limit UNIMPLEMENTED, as SpiceDB does", async () => {
    const error = await failure(c.promises.lookupSubjects(request("d1", { optionalConcreteLimit: 1 })));
    expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("refuses an unknown subject type as an unknown definition", async () => {
    const error = await failure(c.promises.lookupSubjects(request("d1", { subjectObjectType: "robot" })));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorInfoOf(error.metadata)?.info?.reason).toBe("ERROR_REASON_UNKNOWN_DEFINITION");
  });
});

describe("before any schema is written", () => {
  it("answers a check FAILED_PRECONDITION with UNKNOWN_DEFINITION, as SpiceDB does", async () => {
    const empty = await startHarness();
    const client = spiceClient(empty.server.address);
    try {
      const error = await failure(
        client.promises.checkPermission(
          v1.CheckPermissionRequest.create({
            resource: obj("document", "d1"),
            permission: "view",
            subject: user("a"),
          }),
        ),
      );
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(errorInfoOf(error.metadata)?.info?.reason).toBe("ERROR_REASON_UNKNOWN_DEFINITION");
    } finally {
      client.close();
      await empty.close();
    }
  });
});
