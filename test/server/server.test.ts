import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createClient } from "../../src/client/index.js";
import { RelationshipUpdate_Operation } from "../../src/gen/latch/v1/core_pb.js";
import {
  CheckBulkPermissionsRequestSchema,
  type CheckBulkPermissionsResponse,
  CheckPermissionRequestSchema,
  type CheckPermissionResponse,
  CheckPermissionResponse_Permissionship,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { WriteRelationshipsRequestSchema } from "../../src/gen/latch/v1/relationship_service_pb.js";
import { WriteSchemaRequestSchema } from "../../src/gen/latch/v1/schema_service_pb.js";
import { delegateReader, delegateStore, latestReader } from "../../src/store/index.js";
import { RELATIONSHIPS, SCHEMA } from "../client/fixtures.js";
import { healthStatus, reflectionAnswers } from "./grpc-probes.js";
import { auth, failure, type Harness, startHarness, TOKEN, unary } from "./harness.js";

const ref = (text: string) => {
  const [objectType, objectId] = text.split(":") as [string, string];
  return { objectType, objectId };
};

function checkRequest(
  resource: string,
  permission: string,
  subject: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { resource: ref(resource), permission, subject: { object: ref(subject) }, ...extra };
}

const touch = (resource: string, relation: string, subject: string) => ({
  operation: RelationshipUpdate_Operation.TOUCH,
  relationship: { resource: ref(resource), relation, subject: { object: ref(subject) } },
});

describe("gRPC server over loopback", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ limits: { maxUpdates: 7, maxBulkItems: 4, maxMessageBytes: 64 * 1024 } });
    const client = createClient({ address: h.server.address, token: TOKEN });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
    await client.close();
  });

  afterAll(async () => {
    await h.close();
  });

  const check = (request: Record<string, unknown>, metadata?: grpc.Metadata, options?: grpc.CallOptions) =>
    unary<CheckPermissionResponse>(
      h.permission,
      "checkPermission",
      CheckPermissionRequestSchema,
      request,
      metadata,
      options,
    );

  /** The server must still answer correctly after every bad request. */
  async function stillServing() {
    const ok = await check(checkRequest("document:memo", "view", "user:bob"));
    expect(ok.permissionship).toBe(CheckPermissionResponse_Permissionship.ALLOWED);
    expect(ok.checkedAt?.token).toMatch(/.+/);
  }

  async function documentCount(): Promise<number> {
    const page = await (await latestReader(h.store)).readRelationships({ resourceType: "document" });
    return page.relationships.length;
  }

  it("answers a check with a revision token", async () => {
    await stillServing();
  });

  it("accepts any of the configured tokens", async () => {
    const answer = await check(
      checkRequest("document:memo", "view", "user:bob"),
      auth("second-token-0123456789"),
    );
    expect(answer.permissionship).toBe(CheckPermissionResponse_Permissionship.ALLOWED);
  });

  it("refuses a call without a token", async () => {
    const error = await failure(
      check(checkRequest("document:memo", "view", "user:bob"), new grpc.Metadata()),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).toMatch(/authorization/);
    await stillServing();
  });

  it("refuses a wrong token, and writes nothing for it", async () => {
    const before = await documentCount();
    const error = await failure(
      unary(
        h.relationship,
        "writeRelationships",
        WriteRelationshipsRequestSchema,
        { updates: [touch("document:x", "viewer", "user:intruder")] },
        auth("wrong-token"),
      ),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).toBe("invalid token");
    expect(await documentCount()).toBe(before);
    await stillServing();
  });

  it("names the field of a malformed reference", async () => {
    const error = await failure(check(checkRequest("document:has space", "view", "user:bob")));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain("resource.object_id");
    expect(error.metadata.get("latch-error-code")).toEqual(["request/invalid-argument"]);
    const missing = await failure(check({ permission: "view", subject: { object: ref("user:bob") } }));
    expect(missing.code).toBe(status.INVALID_ARGUMENT);
    expect(missing.details).toContain("resource");
    await stillServing();
  });

  it("refuses unknown types and relations", async () => {
    const type = await failure(check(checkRequest("spaceship:x", "view", "user:bob")));
    expect(type.code).toBe(status.INVALID_ARGUMENT);
    expect(type.details).toContain("spaceship");
    const before = await documentCount();
    const relation = await failure(
      unary(h.relationship, "writeRelationships", WriteRelationshipsRequestSchema, {
        updates: [touch("document:ok", "viewer", "user:fine"), touch("document:x", "owner", "user:bob")],
      }),
    );
    expect(relation.code).toBe(status.INVALID_ARGUMENT);
    expect(relation.details).toContain("owner");
    expect(await documentCount()).toBe(before);
    await stillServing();
  });

  it("refuses batches over the limits with RESOURCE_EXHAUSTED, writing nothing", async () => {
    const before = await documentCount();
    const updates = Array.from({ length: 8 }, (_, i) => touch(`document:batch${i}`, "viewer", "user:bob"));
    const write = await failure(
      unary(h.relationship, "writeRelationships", WriteRelationshipsRequestSchema, { updates }),
    );
    expect(write.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(write.details).toContain("updates");
    expect(await documentCount()).toBe(before);

    const items = Array.from({ length: 5 }, () => checkRequest("document:memo", "view", "user:bob"));
    const bulk = await failure(
      unary<CheckBulkPermissionsResponse>(
        h.permission,
        "checkBulkPermissions",
        CheckBulkPermissionsRequestSchema,
        {
          items,
        },
      ),
    );
    expect(bulk.code).toBe(status.RESOURCE_EXHAUSTED);

    const huge = await failure(
      unary(h.schema, "writeSchema", WriteSchemaRequestSchema, { schema: `// ${"x".repeat(100 * 1024)}` }),
    );
    expect(huge.code).toBe(status.RESOURCE_EXHAUSTED);
    await stillServing();
  });

  it("answers a bulk check within the limit, in order", async () => {
    const items = [
      checkRequest("document:memo", "view", "user:bob"),
      checkRequest("document:memo", "view", "user:alice"),
      checkRequest("document:q3", "view", "user:alice"),
    ];
    const answer = await unary<CheckBulkPermissionsResponse>(
      h.permission,
      "checkBulkPermissions",
      CheckBulkPermissionsRequestSchema,
      { items },
    );
    const { ALLOWED, DENIED } = CheckPermissionResponse_Permissionship;
    expect(
      answer.pairs.map((p) => (p.response.case === "item" ? p.response.value.permissionship : -1)),
    ).toEqual([ALLOWED, DENIED, ALLOWED]);
    expect(answer.pairs[1]?.request?.subject?.object?.objectId).toBe("alice");
  });

  it("refuses a context value of the wrong type", async () => {
    const error = await failure(
      check(checkRequest("document:secret", "view", "user:carol", { context: { level: "very high" } })),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain("level");
    await stillServing();
  });

  it("refuses a revision token from another datastore", async () => {
    const other = await startHarness();
    try {
      const foreignToken = (await check(checkRequest("document:memo", "view", "user:bob"))).checkedAt?.token;
      expect(foreignToken).toBeDefined();
      const error = await failure(
        unary(
          other.permission,
          "checkPermission",
          CheckPermissionRequestSchema,
          checkRequest("document:memo", "view", "user:bob", {
            consistency: { requirement: { case: "atLeastAsFresh", value: { token: foreignToken } } },
          }),
        ),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
    } finally {
      await other.close();
    }
  });

  it("honours an expired deadline: DEADLINE_EXCEEDED and nothing written", async () => {
    const before = await documentCount();
    const error = await failure(
      unary(
        h.relationship,
        "writeRelationships",
        WriteRelationshipsRequestSchema,
        { updates: [touch("document:late", "viewer", "user:bob")] },
        auth(),
        { deadline: Date.now() - 1 },
      ),
    );
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(await documentCount()).toBe(before);
    await stillServing();
  });

  it("refuses a schema with an error, with its position, and an orphaning one", async () => {
    const invalid = await failure(
      unary(h.schema, "writeSchema", WriteSchemaRequestSchema, {
        schema: "definition user {}\ndefinition x {",
      }),
    );
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
    expect(invalid.details).toMatch(/:2:\d+/);
    const orphan = await failure(
      unary(h.schema, "writeSchema", WriteSchemaRequestSchema, { schema: "definition user {}" }),
    );
    expect(orphan.code).toBe(status.FAILED_PRECONDITION);
    await stillServing();
  });

  it("serves health checks without a token", async () => {
    for (const service of ["", "latch.v1.PermissionService"]) {
      expect(await healthStatus(h.server.address, service)).toBe("SERVING");
    }
  });

  it("lists and describes the services through reflection, without a token", async () => {
    const answers = await reflectionAnswers(h.server.address, "v1", [
      { list_services: "" },
      { file_containing_symbol: "latch.v1.PermissionService" },
    ]);
    const list = answers[0]?.list_services_response as { service: { name: string }[] };
    expect(list.service.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        "latch.v1.PermissionService",
        "latch.v1.RelationshipService",
        "latch.v1.SchemaService",
      ]),
    );
    const files = answers[1]?.file_descriptor_response as { file_descriptor_proto: Buffer[] };
    expect(files.file_descriptor_proto.length).toBeGreaterThan(0);
  });
});

describe("gRPC server failure handling", () => {
  it("turns an unexpected failure into INTERNAL without leaking it, and keeps serving", async () => {
    let explode = true;
    const h = await startHarness({
      wrapStore: (store) => ({
        ...delegateStore(store),
        at: (revision) => ({
          ...delegateReader(store.at(revision)),
          async readSchema() {
            if (explode) throw new Error("disk on fire at /secret/path");
            return store.at(revision).readSchema();
          },
        }),
      }),
    });
    try {
      const client = createClient({ address: h.server.address, token: TOKEN });
      await client.writeSchema(SCHEMA);
      const error = (await client.readSchema().then(
        () => ({ status: -1, message: "" }),
        (e: unknown) => e,
      )) as { status: number; message: string };
      expect(error.status).toBe(status.INTERNAL);
      expect(error.message).not.toContain("secret");
      expect(error.message).toMatch(/request id/);
      explode = false;
      expect((await client.readSchema()).schema).toBe(SCHEMA);
      await client.close();
    } finally {
      await h.close();
    }
  });

  it("stops a check whose deadline passes while it is running", async () => {
    let slow = false;
    const h = await startHarness({
      metricsListen: "127.0.0.1:0",
      wrapStore: (store) => ({
        ...delegateStore(store),
        at: (revision) => ({
          ...delegateReader(store.at(revision)),
          async lookupForward(query) {
            if (slow) await new Promise((r) => setTimeout(r, 300));
            return store.at(revision).lookupForward(query);
          },
        }),
      }),
    });
    try {
      const client = createClient({ address: h.server.address, token: TOKEN });
      await client.writeSchema(SCHEMA);
      await client.writeRelationships({
        updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
      });
      slow = true;
      const request = {
        resource: "document:q3",
        permission: "view",
        subject: "user:alice",
        consistency: { kind: "fully-consistent" },
      } as const;
      await expect(client.check(request, { timeoutMs: 100 })).rejects.toMatchObject({
        kind: "deadline-exceeded",
      });
      // The server side must have given up too, not finished the work and answered OK.
      await vi.waitFor(
        async () => {
          const text = await (await fetch(`http://${h.server.metricsAddress}/metrics`)).text();
          expect(text).toMatch(/PermissionService\/CheckPermission",code="DEADLINE_EXCEEDED"\} 1/);
        },
        { timeout: 5000 },
      );
      slow = false;
      expect((await client.check(request)).state).toBe("ALLOWED");
      await client.close();
    } finally {
      await h.close();
    }
  });

  it("publishes request counts and latencies per method and code", async () => {
    const h = await startHarness({ metricsListen: "127.0.0.1:0" });
    try {
      const client = createClient({ address: h.server.address, token: TOKEN });
      await client.writeSchema(SCHEMA);
      await client.readSchema();
      await client
        .check({ resource: "nosuch:x", permission: "view", subject: "user:a" })
        .catch(() => undefined);
      await client.close();
      const text = await (await fetch(`http://${h.server.metricsAddress}/metrics`)).text();
      expect(text).toMatch(
        /latch_grpc_requests_total\{method="latch.v1.SchemaService\/ReadSchema",code="OK"\} 1/,
      );
      expect(text).toMatch(
        /latch_grpc_requests_total\{method="latch.v1.PermissionService\/CheckPermission",code="INVALID_ARGUMENT"\} 1/,
      );
      expect(text).toContain("latch_grpc_request_duration_seconds_bucket");
      expect(text).toContain("latch_engine_cache_hit_ratio");
    } finally {
      await h.close();
    }
  });

  it("ends Watch streams at shutdown so that in-flight calls drain", async () => {
    const h = await startHarness();
    const client = createClient({ address: h.server.address, token: TOKEN });
    const { token } = await client.writeSchema(SCHEMA);
    let seen = 0;
    let delivered: () => void = () => {};
    const first = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    const watching = (async () => {
      for await (const event of client.watch({ after: token })) {
        seen += event.updates.length;
        delivered();
      }
      return "ended";
    })();
    await client.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:w#viewer@user:w" }],
    });
    await first;
    await h.close();
    expect(await watching).toBe("ended");
    expect(seen).toBe(1);
    await client.close();
  });
});
