/**
 * A WatchPermissions stream as an async iterator (subscribe.ts writes it out rather than using a
 * generator): calls of `next` made before the previous one settled get the events in order;
 * `return` ends a read waiting for events and leaves the set; a stream returned before its first
 * read never joins one, and one returned while joining lets the set go; and one step larger than the queue bound, read as it comes, arrives whole
 * (changes travel as runs of ids, runs.ts), with the REMOVED, CONDITIONAL and ADDED of one step.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
import { openLatch } from "../../../src/open/index.js";
import type { PermissionEvent } from "../../../src/service/index.js";
import { toSynced } from "./stream.js";

const SCHEMA = `definition user {}
definition group { relation member: user }
caveat tier(level int) { level > 2 }
definition document {
  relation viewer: user | group#member | user with tier
  permission read = viewer
}`;

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });
const remove = (text: string) => ({ operation: "delete" as const, relationship: parseRelationship(text) });
const U1 = { resourceType: "document", permission: "read", subject: { type: "user", id: "u1" } };
const shown = (e: PermissionEvent) =>
  `${e.kind}:${e.resourceId}${e.missing.length === 0 ? "" : `[${e.missing.join(",")}]`}`;

async function until(what: string, predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("WatchPermissions stream as an iterator", () => {
  it("gives calls of next made at once their events in order", async () => {
    const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
    try {
      await latch.store.write([touch("document:d0#viewer@user:u1"), touch("document:d1#viewer@user:u1")]);
      const events = latch.permissions.watch(U1)[Symbol.asyncIterator]();
      const reads = await Promise.all([events.next(), events.next(), events.next()]);
      expect(reads.map((r) => (r.done === true ? "done" : shown(r.value)))).toEqual([
        "ADDED:d0",
        "ADDED:d1",
        "SYNCED:",
      ]);
      await events.return?.();
      expect((await events.next()).done).toBe(true);
      expect(latch.permissions.stats().subscriptions).toBe(0);
    } finally {
      await latch.close();
    }
  });

  it("ends a read waiting for events when returned, and leaves the set", async () => {
    const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
    try {
      const events = latch.permissions.watch(U1)[Symbol.asyncIterator]();
      expect((await toSynced(events)).map(shown)).toEqual(["SYNCED:"]);
      expect(latch.permissions.stats().subscriptions).toBe(1);
      const waiting = events.next();
      expect(await events.return?.()).toEqual({ value: undefined, done: true });
      expect(await waiting).toEqual({ value: undefined, done: true });
      expect(latch.permissions.stats()).toMatchObject({ subscriptions: 0, groups: 0 });
    } finally {
      await latch.close();
    }
  });

  it("never joins a set when returned before its first read", async () => {
    const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
    try {
      const events = latch.permissions.watch(U1)[Symbol.asyncIterator]();
      await events.return?.();
      expect((await events.next()).done).toBe(true);
      expect(latch.permissions.stats()).toMatchObject({ subscriptions: 0, groups: 0 });
    } finally {
      await latch.close();
    }
  });

  it("lets the set go when returned while joining it", async () => {
    const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
    try {
      await latch.store.write([touch("document:d0#viewer@user:u1")]);
      const events = latch.permissions.watch(U1)[Symbol.asyncIterator]();
      const first = events.next();
      await events.return?.();
      expect(await first).toEqual({ value: undefined, done: true });
      expect(latch.permissions.stats()).toMatchObject({ subscriptions: 0, groups: 0 });
    } finally {
      await latch.close();
    }
  });

  it("delivers one step larger than the queue bound whole, each change with its kind", async () => {
    const latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      approvals: false,
      watchPermissions: { maxQueued: 4, pollMs: 5, recheckFloor: 2 },
    });
    const controller = new AbortController();
    try {
      const many = Array.from({ length: 30 }, (_, i) => `g${String(i).padStart(2, "0")}`);
      await latch.store.write([
        ...many.map((d) => touch(`document:${d}#viewer@group:big#member`)),
        touch("document:gone#viewer@user:u1"),
        touch("document:cond#viewer@user:u1"),
      ]);
      const events = latch.permissions.watch(U1, { signal: controller.signal })[Symbol.asyncIterator]();
      expect((await toSynced(events)).map(shown)).toEqual(["ADDED:cond", "ADDED:gone", "SYNCED:"]);
      const step = await latch.store.write([
        touch("group:big#member@user:u1"),
        remove("document:gone#viewer@user:u1"),
        // A touch replaces the relationship: now under a caveat the subscription has no context for.
        touch("document:cond#viewer@user:u1[tier]"),
      ]);
      await until("the set to reach the step", () => (latch.permissions.stats().revision ?? 0n) >= step);
      const changes = await toSynced(events);
      expect(changes.at(-1)!.revision).toBe(step);
      expect(changes.slice(0, -1).every((e) => e.revision === step)).toBe(true);
      expect(changes.slice(0, -1).map(shown).sort()).toEqual(
        ["CONDITIONAL:cond[level]", "REMOVED:gone", ...many.map((d) => `ADDED:${d}`)].sort(),
      );
      expect(latch.permissions.stats().resyncs).toBe(0);
    } finally {
      controller.abort();
      await latch.close();
    }
  });
});
