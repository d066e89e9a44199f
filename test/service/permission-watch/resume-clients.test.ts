/**
 * Resuming WatchPermissions from the clients: `after` over gRPC (remote client) and Connect, the
 * refusals as gRPC statuses, and watchAuthorizedSet resuming by itself after a dropped stream
 * (back to the last SYNCED set first, so a half-applied revision cannot stay in it).
 */
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmbedded,
  type EmbeddedClient,
  type LatchClient,
  type PermissionChange,
  RemoteError,
  type WatchPermissionsParams,
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
  permission read = viewer
}`;
const TOKEN = "watch-permissions-resume-token-0123456789";
const ALICE = { resourceType: "document", permission: "read", subject: "user:alice" } as const;

async function grant(client: LatchClient, op: "touch" | "delete", ...docs: string[]): Promise<string> {
  const written = await client.writeRelationships({
    updates: docs.map((d) => ({ operation: op, relationship: `document:${d}#viewer@user:alice` })),
  });
  return written.token;
}

/** A stream's events up to its first SYNCED, as `KIND:id`. */
async function opening(client: LatchClient, params: WatchPermissionsParams): Promise<string[]> {
  const controller = new AbortController();
  const out: string[] = [];
  try {
    for await (const e of client.watchPermissions(params, { signal: controller.signal })) {
      out.push(`${e.kind}:${e.resourceId}`);
      if (e.kind === "SYNCED") break;
    }
  } finally {
    controller.abort();
  }
  return out;
}

async function refusal(client: LatchClient, params: WatchPermissionsParams): Promise<RemoteError> {
  try {
    await opening(client, params);
  } catch (e) {
    if (e instanceof RemoteError) return e;
    throw e;
  }
  throw new Error("the stream was not refused");
}

describe("WatchPermissions resumed over the wire", () => {
  let latch: OpenedLatch;
  let server: RunningServer;
  let remote: LatchClient;

  beforeAll(async () => {
    latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
    ({ server, remote } = await serveOverTheWire(latch, TOKEN));
  });

  afterAll(async () => {
    await remote.close();
    await server.shutdown(1000);
    await latch.close();
  });

  it("sends only the changes since the token over gRPC (remote client)", async () => {
    const after = await grant(remote, "touch", "d1", "d2", "d3");
    await grant(remote, "delete", "d2");
    await grant(remote, "touch", "d4");
    expect(await opening(remote, { ...ALICE, after })).toEqual(["REMOVED:d2", "ADDED:d4", "SYNCED:"]);
  });

  it("sends only the changes since optional_start_cursor over Connect", async () => {
    const after = await grant(remote, "touch", "c1");
    await grant(remote, "delete", "c1");
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
        optionalStartCursor: { token: after },
      },
      { signal: controller.signal },
    )) {
      kinds.push(`${WatchPermissionsResponse_Kind[r.kind]}:${r.resourceObjectId}`);
      if (r.kind === WatchPermissionsResponse_Kind.SYNCED) break;
    }
    controller.abort();
    expect(kinds).toEqual(["REMOVED:c1", "SYNCED:"]);
  });

  it("refuses a malformed token with INVALID_ARGUMENT", async () => {
    const error = await refusal(remote, { ...ALICE, after: "not-a-token" });
    expect([error.status, error.code]).toEqual([status.INVALID_ARGUMENT, "revision/malformed-token"]);
  });

  // Last: it compacts the history every other test here reads.
  it("refuses a token older than the GC window with FAILED_PRECONDITION naming the window", async () => {
    const old = await grant(remote, "touch", "g1");
    await grant(remote, "touch", "g2");
    await latch.store.compactHistory!({ windowMs: 60_000, now: Date.now() + 3_600_000, graceMs: 0 });
    const error = await refusal(remote, { ...ALICE, after: old });
    expect([error.status, error.code]).toEqual([status.FAILED_PRECONDITION, "revision/compacted"]);
    expect(error.message).toMatch(/GC window \(1m\)/);
  });
});

/**
 * The embedded client, except that its first stream fails after the first whole set and one event
 * more: `beforeDrop` runs (writes, compaction) before that event is passed on.
 */
function droppingOnce(
  client: EmbeddedClient,
  beforeDrop: () => Promise<void>,
): { client: Pick<LatchClient, "watchPermissions">; calls: (string | undefined)[]; events: string[][] } {
  const calls: (string | undefined)[] = [];
  const events: string[][] = [];
  return {
    calls,
    events,
    client: {
      async *watchPermissions(params, options) {
        calls.push(params.after);
        const seen: string[] = [];
        events.push(seen);
        let synced = false;
        for await (const e of client.watchPermissions(params, options)) {
          seen.push(`${e.kind}:${e.resourceId}`);
          if (calls.length === 1 && synced) {
            await beforeDrop();
            yield e;
            throw new Error("the connection dropped");
          }
          if (e.kind === "SYNCED") synced = true;
          yield e;
        }
      },
    },
  };
}

async function until(what: string, predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("watchAuthorizedSet resumes after a dropped stream", () => {
  let embedded: EmbeddedClient;
  beforeAll(async () => {
    embedded = await createEmbedded({ database: ":memory:", schema: SCHEMA, approvals: false, audit: false });
  });
  afterAll(async () => {
    await embedded.close();
  });

  it("after the last SYNCED token, undoing the changes of the revision it did not finish", async () => {
    await grant(embedded, "touch", "d1", "d5", "d6");
    let last = "";
    const dropping = droppingOnce(embedded, async () => {
      // d2 arrives (and is applied) but its SYNCED never does; by the resumption it is gone again.
      await grant(embedded, "delete", "d2");
      last = await grant(embedded, "delete", "d1");
    });
    const changes: PermissionChange[] = [];
    const set = watchAuthorizedSet(dropping.client, {
      ...ALICE,
      retryMs: 0,
      onChange: (c) => changes.push(c),
    });
    await set.ready;
    expect([...set.ids()].sort()).toEqual(["d1", "d5", "d6"]);
    const synced = set.token;
    await grant(embedded, "touch", "d2");
    await until("the resumed set to be live at the newest write", () => set.live && set.token === last);
    expect([...set.ids()].sort()).toEqual(["d5", "d6"]);
    expect(dropping.calls).toEqual([undefined, synced]);
    // The resumed stream sent the difference, not the whole set again.
    expect(dropping.events[1]).toEqual(["REMOVED:d1", "SYNCED:"]);
    set.close();
  });

  it("asks for the whole set again when the server refuses the token", async () => {
    await grant(embedded, "touch", "e1", "e2");
    let last = "";
    const dropping = droppingOnce(embedded, async () => {
      last = await grant(embedded, "delete", "e2");
      await embedded.store.compactHistory!({ windowMs: 60_000, now: Date.now() + 3_600_000, graceMs: 0 });
    });
    const set = watchAuthorizedSet(dropping.client, { ...ALICE, retryMs: 0 });
    await set.ready;
    const synced = set.token;
    await grant(embedded, "touch", "e3");
    await until("the set to be live again", () => set.live && set.token === last);
    expect([...set.ids()].sort()).toEqual(["d5", "d6", "e1", "e3"]);
    expect(dropping.calls).toEqual([undefined, synced, undefined]);
    set.close();
  });
});
