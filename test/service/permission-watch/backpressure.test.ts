/**
 * The bounds of WatchPermissions: a subscriber that stops reading is resynced (RESYNC, then the
 * whole set) instead of buffering without end; the signals hook (`subjectChanged`) recomputes
 * the sets of a subject whose own state changed; a bad subscription fails with the engine's code.
 */
import { describe, expect, it } from "vitest";
import { isLatchError, parseRelationship } from "../../../src/core/index.js";
import { openLatch } from "../../../src/open/index.js";
import type { Decorator } from "../../../src/service/index.js";
import { toSynced } from "./stream.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission read = viewer
}`;

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });
const U1 = { resourceType: "document", permission: "read", subject: { type: "user", id: "u1" } };

async function until(what: string, predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("WatchPermissions bounds", () => {
  it("resyncs a subscriber that fell behind instead of queueing every change", async () => {
    const latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      approvals: false,
      watchPermissions: { maxQueued: 8, pollMs: 5 },
    });
    try {
      await latch.store.write([touch("document:d0#viewer@user:u1")]);
      const controller = new AbortController();
      const events = latch.permissions.watch(U1, { signal: controller.signal })[Symbol.asyncIterator]();
      expect((await toSynced(events)).map((e) => `${e.kind}:${e.resourceId}`)).toEqual([
        "ADDED:d0",
        "SYNCED:",
      ]);
      // The subscriber reads nothing while 30 revisions each add a document.
      let last = 0n;
      for (let i = 1; i <= 30; i++) last = await latch.store.write([touch(`document:d${i}#viewer@user:u1`)]);
      await until(
        "the sets to reach the last write",
        () => (latch.permissions.stats().revision ?? 0n) >= last,
      );
      expect(latch.permissions.stats().resyncs).toBeGreaterThanOrEqual(1);
      const resync = await toSynced(events);
      expect(resync[0]!.kind).toBe("RESYNC");
      const ids = resync.filter((e) => e.kind === "ADDED").map((e) => e.resourceId);
      expect(ids.sort()).toEqual(Array.from({ length: 31 }, (_, i) => `d${i}`).sort());
      expect(resync.at(-1)!.revision).toBe(last);
      // After the resync the stream goes on with single changes.
      const more = await latch.store.write([touch("document:d99#viewer@user:u1")]);
      const next = await toSynced(events);
      expect(next.map((e) => `${e.kind}:${e.resourceId}`)).toEqual(["ADDED:d99", "SYNCED:"]);
      expect(next[0]!.revision).toBe(more);
      controller.abort();
      expect((await events.next()).done).toBe(true);
      expect(latch.permissions.stats().subscriptions).toBe(0);
    } finally {
      await latch.close();
    }
  });

  it("recomputes a subject's sets when told its own state changed (the signals hook)", async () => {
    const suspended = new Set<string>();
    // A stand-in for the suspension decorator of signals: a suspended subject is DENIED everything.
    const suspension: Decorator = (next) => ({
      check: (request, options) => next.check(request, options),
      async checkBulk(request, options) {
        const result = await next.checkBulk(request, options);
        return {
          ...result,
          results: result.results.map((r, i) =>
            r.ok && suspended.has(request.items[i]!.subject.id) ? { ...r, state: "DENIED" as const } : r,
          ),
        };
      },
      async *lookupResources(request, options) {
        if (suspended.has(request.subject.id)) return;
        yield* next.lookupResources(request, options);
      },
    });
    const latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      approvals: false,
      watchPermissions: { decorators: [suspension], pollMs: 5 },
    });
    try {
      const revision = await latch.store.write([touch("document:d1#viewer@user:u1")]);
      const controller = new AbortController();
      const events = latch.permissions.watch(U1, { signal: controller.signal })[Symbol.asyncIterator]();
      expect((await toSynced(events)).map((e) => e.kind)).toEqual(["ADDED", "SYNCED"]);
      suspended.add("u1");
      latch.permissions.subjectChanged({ subject: { type: "user", id: "u1" }, revision });
      expect((await toSynced(events)).map((e) => `${e.kind}:${e.resourceId}`)).toEqual([
        "REMOVED:d1",
        "SYNCED:",
      ]);
      suspended.delete("u1");
      latch.permissions.subjectChanged({ subject: { type: "user", id: "u1" }, revision });
      expect((await toSynced(events)).map((e) => `${e.kind}:${e.resourceId}`)).toEqual([
        "ADDED:d1",
        "SYNCED:",
      ]);
      controller.abort();
    } finally {
      await latch.close();
    }
  });

  it("fails a subscription the engine refuses, with its code, and keeps serving the others", async () => {
    const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
    try {
      const bad = latch.permissions.watch({ ...U1, resourceType: "nothing" })[Symbol.asyncIterator]();
      const error = await bad.next().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isLatchError(error) && error.code).toBe("check/unknown-type");
      const controller = new AbortController();
      const good = latch.permissions.watch(U1, { signal: controller.signal })[Symbol.asyncIterator]();
      expect((await toSynced(good)).map((e) => e.kind)).toEqual(["SYNCED"]);
      controller.abort();
    } finally {
      await latch.close();
    }
  });
});
