/** LookupResources and LookupSubjects on the wire: message fields, errors, and deadlines mid-stream. */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createClient, type LatchClient, type LookupResourcesItem } from "../../src/client/index.js";
import { isLatchError, LatchError } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import {
  CheckPermissionRequestSchema,
  LookupPermissionship,
  LookupResourcesRequestSchema,
  type LookupResourcesResponse,
  LookupSubjectsRequestSchema,
  type LookupSubjectsResponse,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { lookupResources } from "../../src/server/handlers-lookup.js";
import { toWireError } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { RELATIONSHIPS, SCHEMA } from "../client/fixtures.js";
import { auth, failure, type Harness, startHarness, TOKEN, unary } from "./harness.js";

/** Calls a server-streaming method by its local name and collects every message. */
function stream<O>(
  client: grpc.Client,
  method: string,
  input: DescMessage,
  request: MessageInitShape<DescMessage>,
): Promise<O[]> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (...args: unknown[]) => grpc.ClientReadableStream<O>>)[
      method
    ]!.bind(client);
    const call = fn(create(input, request), auth());
    const out: O[] = [];
    call.on("data", (m: O) => out.push(m));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

const ref = (text: string) => {
  const [objectType, objectId] = text.split(":") as [string, string];
  return { objectType, objectId };
};

async function seed(client: LatchClient, extra: readonly string[] = []): Promise<void> {
  await client.writeSchema(SCHEMA);
  await client.writeRelationships({
    updates: [...RELATIONSHIPS, ...extra].map((relationship) => ({ operation: "touch", relationship })),
  });
}

describe("lookups over gRPC", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
    const client = createClient({ address: h.server.address, token: TOKEN });
    await seed(client);
    await client.close();
  });

  afterAll(async () => {
    await h.close();
  });

  it("streams resources with token, permissionship, missing context and a cursor each", async () => {
    const messages = await stream<LookupResourcesResponse>(
      h.permission,
      "lookupResources",
      LookupResourcesRequestSchema,
      {
        resourceObjectType: "document",
        permission: "view",
        subject: { object: ref("user:carol") },
        consistency: { requirement: { case: "fullyConsistent", value: true } },
      },
    );
    expect(messages.map((m) => m.resourceObjectId)).toEqual(["public", "secret"]);
    const [pub, secret] = messages as [LookupResourcesResponse, LookupResourcesResponse];
    expect(pub.permissionship).toBe(LookupPermissionship.HAS_PERMISSION);
    expect(pub.partialCaveatInfo).toBeUndefined();
    expect(secret.permissionship).toBe(LookupPermissionship.CONDITIONAL_PERMISSION);
    expect(secret.partialCaveatInfo?.missingRequiredContext).toEqual(["level"]);
    expect(messages.every((m) => (m.lookedUpAt?.token ?? "") !== "")).toBe(true);
    expect(new Set(messages.map((m) => m.afterResultCursor?.token)).size).toBe(2);

    const rest = await stream<LookupResourcesResponse>(
      h.permission,
      "lookupResources",
      LookupResourcesRequestSchema,
      {
        resourceObjectType: "document",
        permission: "view",
        subject: { object: ref("user:carol") },
        optionalCursor: { token: pub.afterResultCursor?.token ?? "" },
        optionalLimit: 5,
      },
    );
    expect(rest.map((m) => m.resourceObjectId)).toEqual(["secret"]);
  });

  it("streams a wildcard subject with its exclusions", async () => {
    const messages = await stream<LookupSubjectsResponse>(
      h.permission,
      "lookupSubjects",
      LookupSubjectsRequestSchema,
      { resource: ref("document:public"), permission: "view", subjectObjectType: "user" },
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]?.subject?.subjectObjectId).toBe("*");
    expect(messages[0]?.subject?.permissionship).toBe(LookupPermissionship.HAS_PERMISSION);
    expect(messages[0]?.excludedSubjects.map((s) => s.subjectObjectId)).toEqual(["mallory"]);
  });

  it("refuses malformed requests with the field named", async () => {
    const noType = await failure(
      stream(h.permission, "lookupResources", LookupResourcesRequestSchema, {
        permission: "view",
        subject: { object: ref("user:carol") },
      }),
    );
    expect(noType.code).toBe(status.INVALID_ARGUMENT);
    expect(noType.details).toContain("resource_object_type");
    const badCursor = await failure(
      stream(h.permission, "lookupResources", LookupResourcesRequestSchema, {
        resourceObjectType: "document",
        permission: "view",
        subject: { object: ref("user:carol") },
        optionalCursor: { token: "garbage" },
      }),
    );
    expect(badCursor.code).toBe(status.INVALID_ARGUMENT);
    const badSubjectsCursor = await failure(
      stream(h.permission, "lookupSubjects", LookupSubjectsRequestSchema, {
        resource: ref("document:public"),
        permission: "view",
        subjectObjectType: "user",
        optionalCursor: { token: "garbage" },
      }),
    );
    expect(badSubjectsCursor.code).toBe(status.INVALID_ARGUMENT);
  });

  it("pages subjects with a concrete limit and cursors", async () => {
    const all = await stream<LookupSubjectsResponse>(
      h.permission,
      "lookupSubjects",
      LookupSubjectsRequestSchema,
      {
        resource: ref("folder:plans"),
        permission: "view",
        subjectObjectType: "group",
        optionalSubjectRelation: "member",
      },
    );
    const first = await stream<LookupSubjectsResponse>(
      h.permission,
      "lookupSubjects",
      LookupSubjectsRequestSchema,
      {
        resource: ref("document:q3"),
        permission: "view",
        subjectObjectType: "user",
        optionalConcreteLimit: 1,
      },
    );
    expect(first.map((m) => m.subject?.subjectObjectId)).toEqual(["alice"]);
    const rest = await stream<LookupSubjectsResponse>(
      h.permission,
      "lookupSubjects",
      LookupSubjectsRequestSchema,
      {
        resource: ref("document:q3"),
        permission: "view",
        subjectObjectType: "user",
        optionalCursor: first[0]?.afterResultCursor,
      },
    );
    expect(rest).toEqual([]);
    expect(all.map((m) => m.afterResultCursor?.token ?? "").every((t) => t !== "")).toBe(true);
  });
});

describe("a lookup stopped by its deadline", () => {
  it("ends with DEADLINE_EXCEEDED and the cursor after the last result sent, in the trailers", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    try {
      const engine = createEngine({ store });
      await store.writeSchema(SCHEMA);
      await store.write(
        Array.from({ length: 20 }, (_, i) => ({
          operation: "touch" as const,
          relationship: {
            resource: { type: "document", id: `d${String(i).padStart(2, "0")}` },
            relation: "viewer",
            subject: { type: "user", id: "reader" },
          },
        })),
        [],
      );
      const request = create(LookupResourcesRequestSchema, {
        resourceObjectType: "document",
        permission: "view",
        subject: { object: ref("user:reader") },
      });
      const controller = new AbortController();
      const results = lookupResources(engine, request, { signal: controller.signal });
      const sent: string[] = [];
      let error: unknown;
      try {
        for await (const m of results) {
          sent.push(m.afterResultCursor?.token ?? "");
          // The deadline strikes after the third result has gone out.
          if (sent.length === 3)
            controller.abort(
              new LatchError("request/deadline-exceeded", "deadline-exceeded", "deadline exceeded"),
            );
        }
      } catch (e) {
        error = e;
      }
      expect(sent).toHaveLength(3);
      const wire = toWireError(error, "req-1");
      expect(wire.code).toBe(status.DEADLINE_EXCEEDED);
      const details = JSON.parse(
        (wire.metadata.get("latch-error-details-bin")[0] as Buffer).toString("utf8"),
      ) as { cursor?: string };
      expect(details.cursor).toBe(sent[2]);

      const rest: string[] = [];
      for await (const r of engine.lookupResources({
        resourceType: "document",
        permission: "view",
        subject: { type: "user", id: "reader" },
        cursor: details.cursor!,
      }))
        rest.push(r.resourceId);
      expect(rest).toEqual(Array.from({ length: 17 }, (_, i) => `d${String(i + 3).padStart(2, "0")}`));
    } finally {
      await store.close();
    }
  });

  it("gives the client DEADLINE_EXCEEDED with a cursor that resumes without gaps or duplicates", async () => {
    const h = await startHarness({ metricsListen: "127.0.0.1:0" });
    const client = createClient({ address: h.server.address, token: TOKEN });
    try {
      // Long ids make the results (about 2 MB) outgrow the HTTP/2 stream window (1 MiB on the h2
      // transport, 64 KiB on grpc-js), so a reader that stalls holds the server mid-stream until
      // the deadline passes.
      const ids = Array.from({ length: 900 }, (_, i) => `d${String(i).padStart(3, "0")}${"x".repeat(996)}`);
      await seed(
        client,
        ids.map((id) => `document:${id}#viewer@user:reader`),
      );
      const params = {
        resourceType: "document",
        permission: "view",
        subject: "user:reader",
        consistency: { kind: "fully-consistent" },
      } as const;
      const all: string[] = [];
      for await (const r of client.lookupResources(params)) all.push(r.resourceId);
      expect(all).toEqual([...ids, "public"]);

      const received: LookupResourcesItem[] = [];
      let error: LatchError | undefined;
      try {
        for await (const r of client.lookupResources(params, { timeoutMs: 1000 })) {
          received.push(r);
          if (received.length === 1) await new Promise((r) => setTimeout(r, 1500));
        }
      } catch (e) {
        if (!isLatchError(e)) throw e;
        error = e;
      }
      expect(error?.kind).toBe("deadline-exceeded");
      expect(received.length).toBeGreaterThan(0);
      expect(received.length).toBeLessThan(all.length);
      expect(error?.details.cursor).toBe(received.at(-1)?.cursor);

      const rest: string[] = [];
      for await (const r of client.lookupResources({ ...params, cursor: error!.details.cursor as string }))
        rest.push(r.resourceId);
      expect([...received.map((r) => r.resourceId), ...rest]).toEqual(all);
      // The server gave up too, rather than finishing the walk for nobody.
      await vi.waitFor(
        async () => {
          const text = await (await fetch(`http://${h.server.metricsAddress}/metrics`)).text();
          expect(text).toMatch(/PermissionService\/LookupResources",code="DEADLINE_EXCEEDED"\} 1/);
        },
        { timeout: 5000 },
      );
    } finally {
      await client.close();
      await h.close();
    }
  });
});

describe("a lookup past the depth limit", () => {
  it("fails with the status and error code Check gives there", async () => {
    const h = await startHarness();
    const client = createClient({ address: h.server.address, token: TOKEN });
    try {
      await client.writeSchema(
        "definition user {}\ndefinition doc {\n  relation parent: doc\n  relation viewer: user\n  permission view = viewer + parent->view\n}\n",
      );
      // 51 hops from c0 to alice: one past the default limit of 50.
      const links = Array.from({ length: 50 }, (_, i) => `doc:c${i}#parent@doc:c${i + 1}`);
      await client.writeRelationships({
        updates: [...links, "doc:c50#viewer@user:alice"].map((relationship) => ({
          operation: "touch",
          relationship,
        })),
      });
      const consistency = { requirement: { case: "fullyConsistent", value: true } };
      const check = await failure(
        unary(h.permission, "checkPermission", CheckPermissionRequestSchema, {
          resource: ref("doc:c0"),
          permission: "view",
          subject: { object: ref("user:alice") },
          consistency,
        }),
      );
      const subjects = await failure(
        stream(h.permission, "lookupSubjects", LookupSubjectsRequestSchema, {
          resource: ref("doc:c0"),
          permission: "view",
          subjectObjectType: "user",
          consistency,
        }),
      );
      const resources = await failure(
        stream(h.permission, "lookupResources", LookupResourcesRequestSchema, {
          resourceObjectType: "doc",
          permission: "view",
          subject: { object: ref("user:alice") },
          consistency,
        }),
      );
      expect(check.code).toBe(status.FAILED_PRECONDITION);
      const codeOf = (e: grpc.ServiceError) => e.metadata.get("latch-error-code")[0];
      expect(codeOf(check)).toBe("check/max-depth-exceeded");
      for (const lookup of [subjects, resources]) {
        expect(lookup.code).toBe(check.code);
        expect(codeOf(lookup)).toBe(codeOf(check));
      }
    } finally {
      await client.close();
      await h.close();
    }
  });
});
