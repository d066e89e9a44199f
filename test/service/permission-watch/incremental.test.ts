/**
 * The incremental paths of WatchPermissions, one by one: a change that concerns many sets (a
 * grant to a group), a nested group joined and left, a set looked up whole because the step
 * reached more than it holds, and a slow set that must not hold the others back. Each streamed
 * set is compared with LookupResources at the revision its SYNCED reports.
 */
import { setMaxListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import type { Decorator, WatchPermissionsRequest } from "../../../src/service/index.js";
import { Stream } from "./stream.js";

const SCHEMA = `definition user {}
definition group { relation member: user | group#member }
definition folder {
  relation parent: folder
  relation viewer: user | group#member
  permission view = viewer + parent->view
}
definition document {
  relation folder: folder
  relation viewer: user | user:* | group#member
  relation banned: user
  permission read = (viewer + folder->view) - banned
}`;

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });
const remove = (text: string) => ({ operation: "delete" as const, relationship: parseRelationship(text) });
const reads = (id: string): WatchPermissionsRequest => ({
  resourceType: "document",
  permission: "read",
  subject: { type: "user", id },
});

async function open(extra: Parameters<typeof openLatch>[0] = {}): Promise<OpenedLatch> {
  return openLatch({
    database: ":memory:",
    schema: SCHEMA,
    approvals: false,
    ...extra,
    watchPermissions: { pollMs: 5, ...extra.watchPermissions },
  });
}

describe("WatchPermissions, incremental paths", () => {
  it("a grant to a group reaches every member's set and no other", async () => {
    const latch = await open();
    const controller = new AbortController();
    // One abort listener per subscription.
    setMaxListeners(0, controller.signal);
    try {
      const members = Array.from({ length: 10 }, (_, i) => `m${i}`);
      const others = Array.from({ length: 10 }, (_, i) => `o${i}`);
      await latch.store.write(members.map((m) => touch(`group:g1#member@user:${m}`)));
      const streams = [...members, ...others].map((u) => new Stream(reads(u), latch, controller.signal));
      for (const s of streams) expect((await s.exact(latch)).changes).toEqual([]);
      const granted = await latch.store.write([touch("document:d1#viewer@group:g1#member")]);
      for (const s of streams.slice(0, 10)) {
        expect(await s.exact(latch)).toEqual({ changes: ["ADDED:d1"], revision: granted });
      }
      // Everyone's next change is d2: the others saw nothing of d1 before it.
      const open = await latch.store.write([touch("document:d2#viewer@user:*")]);
      for (const s of streams)
        expect(await s.exact(latch)).toEqual({ changes: ["ADDED:d2"], revision: open });
      const banned = await latch.store.write([touch("document:d1#banned@user:m3")]);
      expect(await streams[3]!.exact(latch)).toEqual({ changes: ["REMOVED:d1"], revision: banned });
    } finally {
      controller.abort();
      await latch.close();
    }
  });

  it("follows a nested group joined and left, through a folder", async () => {
    const latch = await open();
    const controller = new AbortController();
    try {
      await latch.store.write([
        touch("group:outer#member@user:alice"),
        touch("group:inner#member@user:bob"),
        touch("folder:f1#viewer@group:outer#member"),
        touch("folder:f2#parent@folder:f1"),
        touch("document:d1#folder@folder:f1"),
        touch("document:d2#folder@folder:f2"),
        touch("document:d3#viewer@group:inner#member"),
      ]);
      const alice = new Stream(reads("alice"), latch, controller.signal);
      const bob = new Stream(reads("bob"), latch, controller.signal);
      expect((await alice.exact(latch)).changes).toEqual(["ADDED:d1", "ADDED:d2"]);
      expect((await bob.exact(latch)).changes).toEqual(["ADDED:d3"]);
      const joined = await latch.store.write([touch("group:outer#member@group:inner#member")]);
      expect(await bob.exact(latch)).toEqual({ changes: ["ADDED:d1", "ADDED:d2"], revision: joined });
      const left = await latch.store.write([remove("group:outer#member@group:inner#member")]);
      expect(await bob.exact(latch)).toEqual({ changes: ["REMOVED:d1", "REMOVED:d2"], revision: left });
      // Alice's set never changed; her next SYNCED is for her own change.
      const own = await latch.store.write([touch("document:d3#viewer@user:alice")]);
      expect(await alice.exact(latch)).toEqual({ changes: ["ADDED:d3"], revision: own });
    } finally {
      controller.abort();
      await latch.close();
    }
  });

  it("looks a set up whole when a step reaches more resources than it holds", async () => {
    const latch = await open({ watchPermissions: { recheckFloor: 2 } });
    const controller = new AbortController();
    try {
      const docs = Array.from({ length: 6 }, (_, i) => `w${i}`);
      await latch.store.write([
        touch("document:mine#viewer@user:carol"),
        ...docs.map((d) => touch(`document:${d}#folder@folder:wide`)),
        touch("document:w5#banned@user:carol"),
      ]);
      const carol = new Stream(reads("carol"), latch, controller.signal);
      expect((await carol.exact(latch)).changes).toEqual(["ADDED:mine"]);
      const before = latch.permissions.stats();
      const granted = await latch.store.write([touch("folder:wide#viewer@user:carol")]);
      expect(await carol.exact(latch)).toEqual({
        changes: docs.slice(0, 5).map((d) => `ADDED:${d}`),
        revision: granted,
      });
      expect(latch.permissions.stats().lookedUp).toBe(before.lookedUp + 1);
      // One resource reached, fewer than the set holds: re-checked, not looked up.
      const revoked = await latch.store.write([remove("document:mine#viewer@user:carol")]);
      expect(await carol.exact(latch)).toEqual({ changes: ["REMOVED:mine"], revision: revoked });
      expect(latch.permissions.stats().lookedUp).toBe(before.lookedUp + 1);
      expect(latch.permissions.stats().rechecked).toBeGreaterThan(before.rechecked);
    } finally {
      controller.abort();
      await latch.close();
    }
  });

  it("a slow set holds back only its own subscribers, then catches up in one step", async () => {
    let release: () => void = () => {};
    let gate: Promise<void> | undefined;
    const slow = (subject: string) => subject === "slow" && gate !== undefined;
    // Stands in for a set whose re-checks are slow (a huge set, a slow replica).
    const slowDown: Decorator = (next) => ({
      check: (request, options) => next.check(request, options),
      async checkBulk(request, options) {
        if (request.items.some((i) => slow(i.subject.id))) await gate;
        return next.checkBulk(request, options);
      },
      async *lookupResources(request, options) {
        if (slow(request.subject.id)) await gate;
        yield* next.lookupResources(request, options);
      },
    });
    const latch = await open({ watchPermissions: { decorators: [slowDown] } });
    const controller = new AbortController();
    try {
      await latch.store.write([touch("group:team#member@user:slow"), touch("group:team#member@user:fast")]);
      const slowStream = new Stream(reads("slow"), latch, controller.signal);
      const fastStream = new Stream(reads("fast"), latch, controller.signal);
      expect((await slowStream.exact(latch)).changes).toEqual([]);
      expect((await fastStream.exact(latch)).changes).toEqual([]);
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const first = await latch.store.write([touch("document:d1#viewer@group:team#member")]);
      expect(await fastStream.exact(latch)).toEqual({ changes: ["ADDED:d1"], revision: first });
      const second = await latch.store.write([touch("document:d2#viewer@group:team#member")]);
      expect(await fastStream.exact(latch)).toEqual({ changes: ["ADDED:d2"], revision: second });
      // The slow set is still at its first revision while the fast one moved twice.
      expect(latch.permissions.stats().revision).toBeLessThan(first);
      gate = undefined;
      release();
      const caught: string[] = [];
      let revision = 0n;
      while (revision < second) {
        const step = await slowStream.exact(latch);
        caught.push(...step.changes);
        revision = step.revision;
      }
      expect(caught.sort()).toEqual(["ADDED:d1", "ADDED:d2"]);
      expect(revision).toBe(second);
    } finally {
      release();
      controller.abort();
      await latch.close();
    }
  });
});
