/**
 * WatchPermissions through every way in: the remote client over gRPC, a Connect client on the
 * HTTP side, and the embedded client; watchAuthorizedSet over them, and filterAuthorized using
 * the live set instead of a call.
 */
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmbedded,
  filterAuthorized,
  type LatchClient,
  RemoteError,
  watchAuthorizedSet,
} from "../../../src/client/index.js";
import {
  PermissionService,
  WatchPermissionsResponse_Kind,
} from "../../../src/gen/latch/v1/permission_service_pb.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import type { RunningServer } from "../../../src/server/index.js";
import { serveOverTheWire } from "./stream.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  relation banned: user
  permission read = viewer - banned
}`;
const TOKEN = "watch-permissions-token-0123456789";

async function until(what: string, predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Keeps a live set over `client` through a grant, a ban and a lifted ban written through `writer`. */
async function followsWrites(client: LatchClient, writer: LatchClient): Promise<void> {
  const controller = new AbortController();
  const set = watchAuthorizedSet(client, {
    resourceType: "document",
    permission: "read",
    subject: "user:alice",
    signal: controller.signal,
  });
  await set.ready;
  expect([...set.ids()]).toEqual(["d1"]);
  await writer.writeRelationships({
    updates: [{ operation: "touch", relationship: "document:d2#viewer@user:alice" }],
  });
  await until("d2 to be added", () => set.has("d2"));
  await writer.writeRelationships({
    updates: [{ operation: "touch", relationship: "document:d1#banned@user:alice" }],
  });
  await until("d1 to be removed", () => !set.has("d1"));
  expect([...set.ids()].sort()).toEqual(["d2"]);
  await writer.writeRelationships({
    updates: [{ operation: "delete", relationship: "document:d1#banned@user:alice" }],
  });
  await until("d1 to come back", () => set.has("d1"));
  set.close();
  controller.abort();
}

describe("WatchPermissions transports", () => {
  let latch: OpenedLatch;
  let server: RunningServer;
  let remote: LatchClient;

  beforeAll(async () => {
    latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
    await latch.store.write([
      {
        operation: "touch",
        relationship: {
          resource: { type: "document", id: "d1" },
          relation: "viewer",
          subject: { type: "user", id: "alice" },
        },
      },
    ]);
    ({ server, remote } = await serveOverTheWire(latch, TOKEN));
  });

  afterAll(async () => {
    await remote.close();
    await server.shutdown(1000);
    await latch.close();
  });

  it("keeps a live set over gRPC (remote client)", async () => {
    await followsWrites(remote, remote);
  });

  it("streams the set and its changes over Connect", async () => {
    const transport = createConnectTransport({
      baseUrl: `http://${server.httpAddress}`,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${TOKEN}`);
          return next(req);
        },
      ],
    });
    const client = createConnectClient(PermissionService, transport);
    const controller = new AbortController();
    const kinds: string[] = [];
    for await (const r of client.watchPermissions(
      {
        resourceObjectType: "document",
        permission: "read",
        subject: { object: { objectType: "user", objectId: "alice" } },
      },
      { signal: controller.signal },
    )) {
      kinds.push(`${WatchPermissionsResponse_Kind[r.kind]}:${r.resourceObjectId}`);
      expect(r.changedAt?.token).not.toBe("");
      if (r.kind === WatchPermissionsResponse_Kind.SYNCED) break;
    }
    controller.abort();
    expect(kinds.at(-1)).toBe("SYNCED:");
    expect(kinds).toContain("ADDED:d1");
  });

  it("refuses a bad subscription with INVALID_ARGUMENT and the engine's code", async () => {
    const stream = remote.watchPermissions({
      resourceType: "folder",
      permission: "read",
      subject: "user:alice",
    });
    const error = await (async () => {
      try {
        for await (const _ of stream) return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).code).toBe("check/unknown-type");
  });

  it("lets filterAuthorized decide from a live set, asking the server only about other types", async () => {
    const set = watchAuthorizedSet(remote, {
      resourceType: "document",
      permission: "read",
      subject: "user:bob",
    });
    await remote.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:b1#viewer@user:bob" }],
    });
    await set.ready;
    await until("b1 in bob's set", () => set.has("b1"));
    let bulkItems = 0;
    const counting: Pick<LatchClient, "checkBulk"> = {
      checkBulk: (params, options) => {
        bulkItems += params.items.length;
        return remote.checkBulk(params, options);
      },
    };
    const chunks = [
      { id: "c1", doc: "document:b1" },
      { id: "c2", doc: "document:b2" },
      { id: "c3", doc: "user:bob" },
    ];
    const kept = await filterAuthorized(counting, chunks, {
      subject: "user:bob",
      permission: "read",
      resourceOf: (c) => c.doc,
      authorizedSet: set,
    });
    expect(kept.map((c) => c.id)).toEqual(["c1"]);
    // Only the item of another type went to the server.
    expect(bulkItems).toBe(1);
    // A set for another subject is not used: every item is checked.
    bulkItems = 0;
    await filterAuthorized(counting, chunks.slice(0, 2), {
      subject: "user:alice",
      permission: "read",
      resourceOf: (c) => c.doc,
      authorizedSet: set,
    });
    expect(bulkItems).toBe(2);
    set.close();
  });
});

describe("WatchPermissions in the embedded client", () => {
  it("keeps a live set in process", async () => {
    const client = await createEmbedded({ database: ":memory:", schema: SCHEMA, watchPollMs: 5 });
    try {
      await client.writeRelationships({
        updates: [{ operation: "touch", relationship: "document:d1#viewer@user:alice" }],
      });
      await followsWrites(client, client);
    } finally {
      await client.close();
    }
  });
});
