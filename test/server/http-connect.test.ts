/**
 * `--http-listen`: Latch's services in the Connect protocol, through a real Connect client
 * (@connectrpc/connect-node) and through plain `fetch` with JSON, as `curl` would send it.
 */
import { create } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CheckPermissionResponse_Permissionship,
  PermissionService,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { RelationshipService, type WatchResponse } from "../../src/gen/latch/v1/relationship_service_pb.js";
import { SchemaService } from "../../src/gen/latch/v1/schema_service_pb.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, createMetrics, type RunningServer, startServer } from "../../src/server/index.js";
import { type Harness, startHarness, TOKEN } from "./harness.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}`;

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

function transport(address: string, token?: string, useBinaryFormat = false) {
  return createConnectTransport({
    baseUrl: `http://${address}`,
    httpVersion: "1.1",
    useBinaryFormat,
    interceptors: token === undefined ? [] : [bearer(token)],
  });
}

async function connectError(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

const ref = (type: string, id: string) => ({ objectType: type, objectId: id });

describe("the Connect protocol on --http-listen", () => {
  let h: Harness;
  let http: string;

  beforeAll(async () => {
    h = await startHarness({ server: { httpListen: "127.0.0.1:0" }, limits: { maxBulkItems: 3 } });
    http = h.server.httpAddress!;
    const schema = createClient(SchemaService, transport(http, TOKEN));
    await schema.writeSchema({ schema: SCHEMA });
    const relationships = createClient(RelationshipService, transport(http, TOKEN));
    await relationships.writeRelationships({
      updates: ["alice", "bob"].map((user) => ({
        operation: 2,
        relationship: {
          resource: ref("document", "plan"),
          relation: "viewer",
          subject: { object: ref("user", user) },
        },
      })),
    });
  });

  afterAll(async () => {
    await h.close();
  });

  for (const binary of [false, true]) {
    it(`checks a permission with the Connect client (${binary ? "binary" : "JSON"})`, async () => {
      const client = createClient(PermissionService, transport(http, TOKEN, binary));
      const yes = await client.checkPermission({
        resource: ref("document", "plan"),
        permission: "view",
        subject: { object: ref("user", "alice") },
        consistency: { requirement: { case: "fullyConsistent", value: true } },
      });
      expect(yes.permissionship).toBe(CheckPermissionResponse_Permissionship.ALLOWED);
      expect(yes.checkedAt?.token).not.toBe("");
      const no = await client.checkPermission({
        resource: ref("document", "plan"),
        permission: "view",
        subject: { object: ref("user", "mallory") },
        consistency: { requirement: { case: "fullyConsistent", value: true } },
      });
      expect(no.permissionship).toBe(CheckPermissionResponse_Permissionship.DENIED);
    });
  }

  it("streams LookupResources and ReadRelationships as Connect server streams", async () => {
    const permissions = createClient(PermissionService, transport(http, TOKEN));
    const found: string[] = [];
    for await (const r of permissions.lookupResources({
      resourceObjectType: "document",
      permission: "view",
      subject: { object: ref("user", "bob") },
      consistency: { requirement: { case: "fullyConsistent", value: true } },
    }))
      found.push(r.resourceObjectId);
    expect(found).toEqual(["plan"]);
    const relationships = createClient(RelationshipService, transport(http, TOKEN));
    const read: string[] = [];
    for await (const r of relationships.readRelationships({
      relationshipFilter: { resourceType: "document" },
      consistency: { requirement: { case: "fullyConsistent", value: true } },
    }))
      read.push(r.relationship!.subject!.object!.objectId);
    expect(read.sort()).toEqual(["alice", "bob"]);
  });

  it("streams Watch over Connect until the client stops it", async () => {
    const relationships = createClient(RelationshipService, transport(http, TOKEN));
    const touch = (id: string) =>
      relationships.writeRelationships({
        updates: [
          {
            operation: 2,
            relationship: {
              resource: ref("document", id),
              relation: "viewer",
              subject: { object: ref("user", "carol") },
            },
          },
        ],
      });
    // From a write's revision, so the next write is seen however soon the stream starts.
    const before = await touch("before");
    const controller = new AbortController();
    const events = relationships
      .watch({ optionalStartCursor: before.writtenAt! }, { signal: controller.signal })
      [Symbol.asyncIterator]();
    const first = events.next();
    await touch("watched");
    const event = await first;
    expect(event.done).toBe(false);
    const response = event.value as WatchResponse;
    expect(response.updates.map((u) => u.relationship?.resource?.objectId)).toEqual(["watched"]);
    controller.abort();
    await expect(events.next()).rejects.toThrow();
  });

  it("answers a bad request with Latch's error code in the headers and a Struct detail", async () => {
    const client = createClient(PermissionService, transport(http, TOKEN));
    const error = await connectError(
      client.checkPermission({
        resource: ref("folder", "x"),
        permission: "view",
        subject: { object: ref("user", "alice") },
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("folder");
    expect(error.metadata.get("latch-error-code")).toBe("check/unknown-type");
    expect(error.metadata.get("latch-request-id")).not.toBeNull();
    const [detail] = error.findDetails(StructSchema);
    expect(detail).toBeDefined();
    const json = create(StructSchema, detail).fields;
    expect(json.code?.kind).toEqual({ case: "stringValue", value: "check/unknown-type" });
  });

  it("refuses a call without a valid token with UNAUTHENTICATED", async () => {
    const client = createClient(SchemaService, transport(http));
    const missing = await connectError(client.readSchema({}));
    expect(missing.code).toBe(Code.Unauthenticated);
    expect(missing.metadata.get("latch-error-code")).toBe("auth/missing-token");
    const wrong = await connectError(
      createClient(SchemaService, transport(http, "wrong-token-0123456789")).readSchema({}),
    );
    expect(wrong.code).toBe(Code.Unauthenticated);
    expect(wrong.metadata.get("latch-error-code")).toBe("auth/invalid-token");
  });

  it("applies the same batch limits as gRPC (--max-bulk-items)", async () => {
    const client = createClient(PermissionService, transport(http, TOKEN));
    const item = {
      resource: ref("document", "plan"),
      permission: "view",
      subject: { object: ref("user", "alice") },
    };
    const error = await connectError(client.checkBulkPermissions({ items: [item, item, item, item] }));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.metadata.get("latch-error-code")).toBe("request/over-limit");
  });

  describe("plain fetch with JSON", () => {
    const post = (path: string, body: unknown, token: string | null = TOKEN) =>
      fetch(`http://${http}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(body),
      });

    it("answers a check as JSON", async () => {
      const res = await post("/latch.v1.PermissionService/CheckPermission", {
        resource: ref("document", "plan"),
        permission: "view",
        subject: { object: ref("user", "alice") },
        consistency: { fullyConsistent: true },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.permissionship).toBe("PERMISSIONSHIP_ALLOWED");
      expect((body.checkedAt as { token: string }).token).not.toBe("");
    });

    it("gives errors as HTTP status and a JSON body with Latch's code and message", async () => {
      const bad = await post("/latch.v1.PermissionService/CheckPermission", {
        resource: ref("document", "plan"),
        permission: "nope",
        subject: { object: ref("user", "alice") },
      });
      expect(bad.status).toBe(400);
      expect(bad.headers.get("latch-error-code")).toBe("check/unknown-permission");
      const body = (await bad.json()) as {
        code: string;
        message: string;
        details: { type: string; debug: { code: string; requestId: string } }[];
      };
      expect(body.code).toBe("invalid_argument");
      expect(body.message).toContain("nope");
      expect(body.details[0]?.type).toBe("google.protobuf.Struct");
      expect(body.details[0]?.debug.code).toBe("check/unknown-permission");

      const unauthenticated = await post("/latch.v1.SchemaService/ReadSchema", {}, null);
      expect(unauthenticated.status).toBe(401);
      expect(((await unauthenticated.json()) as { code: string }).code).toBe("unauthenticated");
    });

    it("refuses JSON that is not the request message, with the field it stopped at", async () => {
      const res = await post("/latch.v1.PermissionService/CheckPermission", { resource: { objectTyp: "x" } });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe("invalid_argument");
      expect(body.message).toContain("objectTyp");
    });

    it("refuses a body over --max-message-bytes with RESOURCE_EXHAUSTED (HTTP 429)", async () => {
      const huge = "x".repeat(h.server.server.limits.maxMessageBytes + 10);
      const res = await post("/latch.v1.SchemaService/WriteSchema", { schema: huge });
      expect(res.status).toBe(429);
      expect(((await res.json()) as { code: string }).code).toBe("resource_exhausted");
    });

    it("answers an unknown path with 404 and a JSON body that says where the routes are", async () => {
      const res = await post("/latch.v1.NoSuchService/Nothing", {});
      expect(res.status).toBe(404);
      const body = (await res.json()) as { message: string };
      expect(body.message).toContain("/latch.v1.");
    });
  });
});

describe("--testing over HTTP", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({
      testing: { open: () => openLatch({ database: ":memory:", mirror: false }) },
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      logger: createLogger("silent"),
      metrics: createMetrics(() => ({ cacheHits: 0, cacheMisses: 0, dispatches: 0 }), {
        defaultMetrics: false,
      }),
    });
  });

  afterAll(async () => {
    await server.shutdown(1000);
  });

  it("keeps each token's store apart on the HTTP port too", async () => {
    const a = createClient(SchemaService, transport(server.httpAddress!, "http-token-a"));
    const b = createClient(SchemaService, transport(server.httpAddress!, "http-token-b"));
    await a.writeSchema({ schema: SCHEMA });
    expect((await a.readSchema({})).schemaText).toBe(SCHEMA);
    const error = await connectError(b.readSchema({}));
    expect(error.code).toBe(Code.NotFound);
    expect(error.metadata.get("latch-error-code")).toBe("schema/not-found");
  });
});
