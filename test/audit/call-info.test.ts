/**
 * The server passes each call's request id and its token's name to the decision seam, and the
 * audit trail records them: a name, never the secret.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditRecorder } from "../../src/audit/index.js";
import { createClient } from "../../src/client/index.js";
import { createEngine } from "../../src/engine/index.js";
import {
  CheckPermissionRequestSchema,
  PermissionService,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { createLogger, type RunningServer, serviceDefinition, startServer } from "../../src/server/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { RELATIONSHIPS, SCHEMA } from "../client/fixtures.js";
import { unary } from "../server/harness.js";

const READER = "reader-secret-0123456789";
const BARE = "bare-secret-0123456789abcdef";

describe("request id and caller in decision records", () => {
  let store: Store;
  let server: RunningServer;
  let permission: grpc.Client;

  beforeAll(async () => {
    store = await createSqliteStore({ path: ":memory:" });
    const engine = createEngine({ store });
    const recorder = createAuditRecorder({ log: store.decisions, policy: "all", mode: "sync" });
    server = await startServer({
      store,
      engine,
      decider: recorder.decorator(engine),
      tokens: [`reader=${READER}`, BARE],
      listen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
    const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(PermissionService), "permission");
    permission = new Ctor(server.address, grpc.credentials.createInsecure());
    const client = createClient({ address: server.address, token: READER });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
    await client.close();
  });

  afterAll(async () => {
    permission.close();
    await server.shutdown(1000);
    await store.close();
  });

  const ref = (text: string) => {
    const [objectType, objectId] = text.split(":");
    return { objectType, objectId };
  };
  const check = (token: string, requestId?: string) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    if (requestId !== undefined) metadata.set("x-request-id", requestId);
    return unary(
      permission,
      "checkPermission",
      CheckPermissionRequestSchema,
      { resource: ref("document:q3"), permission: "view", subject: { object: ref("user:bob") } },
      metadata,
    );
  };

  it("records the token's name and the request id the caller sent, never the secret", async () => {
    await check(READER, "req-42");
    await check(BARE, "req-43");
    const records = (await store.decisions.read()).map((d) => d.record).slice(-2);
    expect(records.map((r) => [r.caller, r.requestId, r.subject])).toEqual([
      ["reader", "req-42", "user:bob"],
      ["token-2", "req-43", "user:bob"],
    ]);
    const text = JSON.stringify(await store.decisions.read());
    expect(text).not.toContain(READER);
    expect(text).not.toContain(BARE);
  });

  it("records the id the server made when the caller sent none (the one an error would carry)", async () => {
    await check(READER);
    const last = (await store.decisions.read()).at(-1)!.record;
    expect(last.caller).toBe("reader");
    expect(last.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
