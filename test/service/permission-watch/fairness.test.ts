/**
 * WatchPermissions under one expensive change: a user joining a group that reaches many documents
 * is walked by that user's set alone, on its own queue, so it holds back neither the planning of
 * later steps nor other sets' updates; it is bounded by what the set holds (past that, the set is
 * looked up whole); its many changes reach a reader that keeps up without a resync; and cheap
 * work goes ahead of costly work waiting for a slot. Order and revisions are asserted, never
 * timings.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import type { WatchPermissionsRequest } from "../../../src/service/index.js";
import { Slots } from "../../../src/service/permission-watch/schedule.js";
import type { ReverseQuery, Store } from "../../../src/store/index.js";
import { Stream } from "./stream.js";

const SCHEMA = `definition user {}
definition group { relation member: user | group#member }
definition document {
  relation viewer: user | group#member
  permission read = viewer
}`;

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });
const reads = (id: string): WatchPermissionsRequest => ({
  resourceType: "document",
  permission: "read",
  subject: { type: "user", id },
});
const BIG = Array.from({ length: 40 }, (_, i) => `b${String(i).padStart(2, "0")}`);

/** Reverse reads from `group:big` wait at a gate while it is closed: a walk that takes as long as we like. */
function gatedStore() {
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  let held = 0;
  const gated = (q: ReverseQuery) =>
    q.subjectType === "group" && q.subjectIds.includes("big") && gate !== undefined;
  const wrap = (store: Store): Store => ({
    ...store,
    at(revision) {
      const reader = store.at(revision);
      return {
        ...reader,
        async lookupReverse(query) {
          if (gated(query)) {
            held++;
            await gate;
          }
          return reader.lookupReverse(query);
        },
      };
    },
  });
  return {
    wrap,
    close() {
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
    },
    open() {
      gate = undefined;
      open();
    },
    held: () => held,
  };
}

async function withLatch(
  extra: Parameters<typeof openLatch>[0],
  body: (latch: OpenedLatch, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const latch = await openLatch({
    database: ":memory:",
    schema: SCHEMA,
    approvals: false,
    ...extra,
    watchPermissions: { pollMs: 5, ...extra.watchPermissions },
  });
  const controller = new AbortController();
  try {
    await body(latch, controller.signal);
  } finally {
    controller.abort();
    await latch.close();
  }
}

describe("WatchPermissions, one expensive change among cheap ones", () => {
  it("delivers a later cheap change to another set while a personal fan-out is still being walked", async () => {
    const gate = gatedStore();
    await withLatch({ wrapStore: gate.wrap, watchPermissions: { concurrency: 2 } }, async (latch, signal) => {
      await latch.store.write(BIG.map((d) => touch(`document:${d}#viewer@group:big#member`)));
      const joiner = new Stream(reads("joiner"), latch, signal);
      const small = new Stream(reads("small"), latch, signal);
      expect((await joiner.exact(latch)).changes).toEqual([]);
      expect((await small.exact(latch)).changes).toEqual([]);
      gate.close();
      const joined = await latch.store.write([touch("group:big#member@user:joiner")]);
      const granted = await latch.store.write([touch("document:s1#viewer@user:small")]);
      // The joiner's walk is held at the gate; the small set's change, written after it, arrives.
      expect(await small.exact(latch)).toEqual({ changes: ["ADDED:s1"], revision: granted });
      expect(gate.held()).toBeGreaterThan(0);
      expect(latch.permissions.stats().revision).toBeLessThan(joined);
      // Planning walked nothing: the join concerns the joiner's set alone.
      expect(latch.permissions.stats().walkedInPlanning).toBe(0);
      gate.open();
      const caught: string[] = [];
      let revision = 0n;
      while (revision < joined) {
        const step = await joiner.exact(latch);
        caught.push(...step.changes);
        revision = step.revision;
      }
      expect(caught.sort()).toEqual(BIG.map((d) => `ADDED:${d}`));
      expect(latch.permissions.stats().walkedBySets).toBeGreaterThan(0);
    });
  });

  it("stops a set's own walk once it reaches more than the set holds, and looks the set up whole", async () => {
    await withLatch({ watchPermissions: { recheckFloor: 4 } }, async (latch, signal) => {
      await latch.store.write([
        ...BIG.map((d) => touch(`document:${d}#viewer@group:big#member`)),
        touch("document:mine#viewer@user:carol"),
      ]);
      const carol = new Stream(reads("carol"), latch, signal);
      expect((await carol.exact(latch)).changes).toEqual(["ADDED:mine"]);
      const before = latch.permissions.stats();
      const joined = await latch.store.write([touch("group:big#member@user:carol")]);
      expect(await carol.exact(latch)).toEqual({ changes: BIG.map((d) => `ADDED:${d}`), revision: joined });
      const after = latch.permissions.stats();
      expect(after.lookedUp).toBe(before.lookedUp + 1);
      expect(after.recomputed).toBe(before.recomputed);
      // The walk stopped past the bound (the group, then five documents), not at all 40.
      expect(after.walkedBySets - before.walkedBySets).toBeLessThan(10);
      // A small personal change is walked and re-checked, not looked up.
      const left = await latch.store.write([
        { operation: "delete", relationship: parseRelationship("document:mine#viewer@user:carol") },
      ]);
      expect(await carol.exact(latch)).toEqual({ changes: ["REMOVED:mine"], revision: left });
      expect(latch.permissions.stats().lookedUp).toBe(after.lookedUp);
    });
  });

  it("gives a reader that keeps up one step's many changes without a resync", async () => {
    await withLatch({ watchPermissions: { maxQueued: 8 } }, async (latch, signal) => {
      await latch.store.write(BIG.map((d) => touch(`document:${d}#viewer@group:big#member`)));
      const joiner = new Stream(reads("joiner"), latch, signal);
      expect((await joiner.exact(latch)).changes).toEqual([]);
      const joined = await latch.store.write([touch("group:big#member@user:joiner")]);
      const step = await joiner.exact(latch);
      expect(step).toEqual({ changes: BIG.map((d) => `ADDED:${d}`), revision: joined });
      expect(latch.permissions.stats().resyncs).toBe(0);
    });
  });
});

describe("Slots", () => {
  it("runs cheap work waiting for a slot before costly work that came first, and never starves the costly", async () => {
    const slots = new Slots(1);
    const order: string[] = [];
    let release: () => void = () => {};
    const first = slots.run(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      false,
    );
    const queued = [
      slots.run(async () => void order.push("costly-1"), false),
      ...["cheap-1", "cheap-2", "cheap-3", "cheap-4", "cheap-5"].map((name) =>
        slots.run(async () => void order.push(name), true),
      ),
      slots.run(async () => void order.push("costly-2"), false),
    ];
    release();
    await first;
    await Promise.all(queued);
    // Every fourth slot goes to the costly queue: the costly work waits behind at most three cheap items.
    expect(order).toEqual(["cheap-1", "cheap-2", "cheap-3", "costly-1", "cheap-4", "cheap-5", "costly-2"]);
  });
});
