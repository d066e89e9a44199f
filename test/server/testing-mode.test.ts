/** `--testing`: a store per bearer token, through the real gRPC client. */
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createClient, type LatchClient } from "../../src/client/index.js";
import { isLatchError } from "../../src/core/index.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, type RunningServer, startServer, testingCallerName } from "../../src/server/index.js";
import { createTenantPool } from "../../src/server/tenant-pool.js";
import { spiceClient, failure as spiceFailure, v1 } from "./authzed/harness.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}`;

async function startTesting(maxStores?: number): Promise<RunningServer> {
  return startServer({
    testing: {
      open: () => openLatch({ database: ":memory:", mirror: false }),
      ...(maxStores === undefined ? {} : { maxStores }),
    },
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
    watchPollMs: 10,
  });
}

async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    if (isLatchError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

describe("latch serve --testing", () => {
  const clients: LatchClient[] = [];
  let server: RunningServer | undefined;
  const client = (token: string) => {
    const c = createClient({ address: server!.address, token });
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await server?.shutdown(1000);
    server = undefined;
  });

  it("gives each token its own empty store: two tokens never see each other's data", async () => {
    server = await startTesting();
    const alice = client("token-a");
    const bob = client("token-b");
    await alice.writeSchema(SCHEMA);
    const written = await alice.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:plan#viewer@user:alice" }],
    });
    const fresh = { kind: "at-least-as-fresh", token: written.token } as const;
    const check = { resource: "document:plan", permission: "view", subject: "user:alice" } as const;
    expect((await alice.check({ ...check, consistency: fresh })).state).toBe("ALLOWED");

    // The other token's store is empty: no schema, so nothing to check and nothing to read.
    expect((await failure(bob.readSchema())).code).toBe("schema/not-found");
    expect((await failure(bob.check(check))).code).toBe("check/no-schema");
    await bob.writeSchema(SCHEMA);
    const full = { kind: "fully-consistent" } as const;
    expect((await bob.check({ ...check, consistency: full })).state).toBe("DENIED");
    const read: string[] = [];
    for await (const item of bob.readRelationships({ filter: { resourceType: "document" } }))
      read.push(item.relationship.resource.id);
    expect(read).toEqual([]);

    // And the first token's data is still there, its own.
    expect((await alice.check({ ...check, consistency: full })).state).toBe("ALLOWED");
    expect((await alice.readSchema()).schema).toBe(SCHEMA);
  });

  it("closes the least recently used idle store past --testing-max-stores: that token starts empty", async () => {
    server = await startTesting(2);
    const first = client("token-1");
    await first.writeSchema(SCHEMA);
    await client("token-2").writeSchema(SCHEMA);
    // A third token makes room by closing the store of the least recently used one (token-1).
    await client("token-3").writeSchema(SCHEMA);
    expect((await failure(first.readSchema())).code).toBe("schema/not-found");
  });

  it("refuses a new token with RESOURCE_EXHAUSTED while every store is held by a call", async () => {
    server = await startTesting(1);
    const watcher = client("token-w");
    const { token } = await watcher.writeSchema(SCHEMA);
    const controller = new AbortController();
    // From the schema's revision, so the write below is seen however soon the stream starts.
    const events = watcher.watch({ after: token }, { signal: controller.signal })[Symbol.asyncIterator]();
    const next = events.next();
    await watcher.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:x#viewer@user:y" }],
    });
    // Once the first event is in, the Watch stream holds token-w's store.
    const first = await next;
    expect(first.done).toBe(false);
    const refused = await failure(client("token-other").readSchema());
    expect(refused.code).toBe("testing/too-many-stores");
    expect(refused.message).toContain("--testing-max-stores");
    controller.abort();
    await events.return?.();
  });

  it("serves SpiceDB's API per token too, to the real @authzed/authzed-node client", async () => {
    server = await startTesting();
    // The store of token-s gets a schema and a relationship through Latch's own client.
    const latch = client("spice-token-s");
    await latch.writeSchema(SCHEMA);
    await latch.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:plan#viewer@user:alice" }],
    });
    const request = v1.CheckPermissionRequest.create({
      consistency: v1.Consistency.create({
        requirement: { oneofKind: "fullyConsistent", fullyConsistent: true },
      }),
      resource: v1.ObjectReference.create({ objectType: "document", objectId: "plan" }),
      permission: "view",
      subject: v1.SubjectReference.create({
        object: v1.ObjectReference.create({ objectType: "user", objectId: "alice" }),
      }),
    });
    const same = spiceClient(server.address, { token: "spice-token-s" });
    const other = spiceClient(server.address, { token: "spice-token-t" });
    try {
      const answer = await same.promises.checkPermission(request);
      expect(answer.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
      // Another token's store has no schema: SpiceDB's answer for an unknown definition.
      const refused = await spiceFailure(other.promises.checkPermission(request));
      expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    } finally {
      same.close();
      other.close();
    }
  });

  it("names each token's caller by a hash, never by the token", () => {
    const name = testingCallerName("secret-token-value");
    expect(name).toMatch(/^testing-[0-9a-f]{12}$/);
    expect(name).not.toContain("secret");
    expect(testingCallerName("another")).not.toBe(name);
  });
});

describe("tenant pool", () => {
  it("opens one value per key, even for concurrent first calls, and reuses it", async () => {
    let opened = 0;
    const pool = createTenantPool({
      max: 4,
      open: async (key: string) => {
        opened++;
        return { key, close: async () => {} };
      },
    });
    const [a, b] = await Promise.all([pool.acquire("k"), pool.acquire("k")]);
    expect(a.value).toBe(b.value);
    expect(opened).toBe(1);
    a.release();
    b.release();
    await pool.close();
  });

  it("forgets a value that failed to open, so the next call tries again", async () => {
    let attempts = 0;
    const pool = createTenantPool({
      max: 1,
      open: async (key: string) => {
        attempts++;
        if (attempts === 1) throw new Error("disk full");
        return { key, close: async () => {} };
      },
    });
    await expect(pool.acquire("k")).rejects.toThrow("disk full");
    const lease = await pool.acquire("k");
    expect(lease.value.key).toBe("k");
    expect(pool.size).toBe(1);
    lease.release();
    await pool.close();
  });
});

describe("the testing mode's service shapes", () => {
  it("are the services, codecs and error shapes the normal mode serves, in its order", async () => {
    const { SERVED_SHAPES, servedServices } = await import("../../src/server/services.js");
    const { DEFAULT_LIMITS } = await import("../../src/server/limits.js");
    const latch = await openLatch({ database: ":memory:", mirror: false });
    const served = servedServices(latch, {
      limits: DEFAULT_LIMITS,
      watchPollMs: 10,
      shutdown: new AbortController().signal,
    });
    const describe = (
      list: readonly { service: { typeName: string }; codecs?: object; toWireError?: unknown }[],
    ) =>
      list.map((s) => ({
        service: s.service.typeName,
        codecs: Object.entries(s.codecs ?? {}),
        toWireError: s.toWireError,
      }));
    expect(describe(SERVED_SHAPES)).toEqual(describe(served));
    await latch.close();
  });
});
