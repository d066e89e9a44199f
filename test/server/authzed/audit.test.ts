/**
 * authzed.api.v1's decisions pass the same seam as latch.v1's: with the audit recorder on it, a
 * CheckPermission, a CheckBulkPermissions and a LookupResources through the real
 * @authzed/authzed-node client are recorded with the token's name and the request id, once each
 * (a trace is not a second decision).
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditRecorder } from "../../../src/audit/index.js";
import { parseRelationship } from "../../../src/core/index.js";
import { createEngine } from "../../../src/engine/index.js";
import { createLogger, type RunningServer, startServer } from "../../../src/server/index.js";
import type { Store } from "../../../src/store/index.js";
import { createSqliteStore } from "../../../src/store/sqlite/index.js";
import { RELATIONSHIPS, SCHEMA } from "../../client/fixtures.js";
import { spiceClient, v1 } from "./harness.js";

const SECRET = "spice-reader-0123456789";

let store: Store;
let server: RunningServer;
let client: v1.ZedClientInterface;

beforeAll(async () => {
  store = await createSqliteStore({ path: ":memory:" });
  await store.writeSchema(SCHEMA);
  await store.write(RELATIONSHIPS.map((r) => ({ operation: "touch", relationship: parseRelationship(r) })));
  const engine = createEngine({ store });
  const recorder = createAuditRecorder({ log: store.decisions, policy: "all", mode: "sync" });
  server = await startServer({
    store,
    engine,
    decider: recorder.decorator(engine),
    tokens: [`spice=${SECRET}`],
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
  });
  client = spiceClient(server.address, { token: SECRET });
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
  await store?.close();
});

const obj = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
const user = (id: string) => v1.SubjectReference.create({ object: obj("user", id) });

async function recordsAfter(call: () => Promise<unknown>) {
  const before = (await store.decisions.read()).length;
  await call();
  return (await store.decisions.read()).slice(before).map((d) => d.record);
}

describe("authzed.api.v1 decisions on the audit trail", () => {
  it("records a CheckPermission once, traced or not, with the caller and the request id", async () => {
    const metadata = new grpc.Metadata();
    metadata.set("x-request-id", "spice-1");
    const records = await recordsAfter(() =>
      client.promises.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: obj("document", "memo"),
          permission: "view",
          subject: user("bob"),
          withTracing: true,
        }),
        metadata,
      ),
    );
    expect(records.map((r) => [r.operation, r.caller, r.requestId, r.resource, r.subject, r.answer])).toEqual(
      [["check", "spice", "spice-1", "document:memo", "user:bob", "ALLOWED"]],
    );
  });

  it("records each item of a CheckBulkPermissions once, even with tracing", async () => {
    const records = await recordsAfter(() =>
      client.promises.checkBulkPermissions(
        v1.CheckBulkPermissionsRequest.create({
          withTracing: true,
          items: ["bob", "mallory"].map((id) =>
            v1.CheckBulkPermissionsRequestItem.create({
              resource: obj("document", "memo"),
              permission: "view",
              subject: user(id),
            }),
          ),
        }),
      ),
    );
    expect(records.map((r) => [r.operation, r.subject, r.answer])).toEqual([
      ["check-bulk", "user:bob", "ALLOWED"],
      ["check-bulk", "user:mallory", "DENIED"],
    ]);
  });

  it("records a LookupResources", async () => {
    const records = await recordsAfter(() =>
      client.promises.lookupResources(
        v1.LookupResourcesRequest.create({
          resourceObjectType: "document",
          permission: "view",
          subject: user("bob"),
        }),
      ),
    );
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.operation === "lookup-resources" && r.caller === "spice")).toBe(true);
  });
});
