/**
 * WatchPermissions when a set is looked up whole (a user joining a group that reaches many
 * documents): its ADDED events leave in chunks as the lookup finds them, before the lookup ends.
 * Each streamed change holds at the revision it carries; a subscriber arriving part way gets a
 * copy that, with what follows, is exact at every SYNCED; a later write to the same set comes after
 * the streamed step's SYNCED. Order and revisions are asserted, never timings.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import type { Decorator, PermissionEvent, WatchPermissionsRequest } from "../../../src/service/index.js";
import { lookupSet } from "./history.js";
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
const BIG = Array.from({ length: 100 }, (_, i) => `b${String(i).padStart(3, "0")}`);
/**
 * Slows the joiner's lookups, once armed: a pause before result `pauseAt` that outlasts the
 * watch's pacer slice (3 ms), so the result at which the pacer next reads the clock (every 32nd)
 * ends a chunk; then, with `holdAt`, a stop after that result until `open`. The pause is a lower
 * bound on elapsed time, not a measurement.
 */
function gatedLookups(pauseAt: number, holdAt?: number) {
  let armed = false;
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let reachedGate: () => void = () => {};
  const atGate = new Promise<void>((resolve) => {
    reachedGate = resolve;
  });
  const decorator: Decorator = (next) => ({
    ...next,
    lookupResources: (request, options) => {
      const results = next.lookupResources(request, options);
      if (!armed || request.subject.id !== "joiner") return results;
      return (async function* () {
        let n = 0;
        for await (const r of results) {
          if (++n === pauseAt) await new Promise((resolve) => setTimeout(resolve, 10));
          yield r;
          if (n === holdAt) {
            reachedGate();
            await gate;
          }
        }
      })();
    },
  });
  return { decorator, arm: () => (armed = true), open: () => open(), atGate };
}

/** Reads events until `count` changes have come, failing on a SYNCED: they are the streamed part of a step. */
async function changesBeforeSynced(events: AsyncIterator<PermissionEvent>, count: number) {
  const out: PermissionEvent[] = [];
  while (out.length < count) {
    const e = (await events.next()).value as PermissionEvent;
    expect(e.kind).not.toBe("SYNCED");
    out.push(e);
  }
  return out;
}

describe("WatchPermissions, a set looked up whole", () => {
  it("streams the lookup's changes before its SYNCED, each holding at its revision, and stays exact for a subscriber arriving part way", async () => {
    // A pause before the 10th result, so the 32nd ends a chunk; held after the 40th.
    const gated = gatedLookups(10, 40);
    const latch: OpenedLatch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      approvals: false,
      watchPermissions: { pollMs: 5, recheckFloor: 4, decorators: [gated.decorator] },
    });
    const controller = new AbortController();
    try {
      await latch.store.write([
        ...BIG.map((d) => touch(`document:${d}#viewer@group:big#member`)),
        touch("document:mine#viewer@user:joiner"),
      ]);
      const raw = latch.permissions
        .watch(reads("joiner"), { signal: controller.signal })
        [Symbol.asyncIterator]();
      const first = await changesBeforeSynced(raw, 1);
      expect(first.map((e) => `${e.kind}:${e.resourceId}`)).toEqual(["ADDED:mine"]);
      expect((await raw.next()).value?.kind).toBe("SYNCED");
      gated.arm();
      const joined = await latch.store.write([touch("group:big#member@user:joiner")]);
      await gated.atGate;
      // Written while the join's lookup is held (so never coalesced with it): its change must
      // come after the join's SYNCED.
      const granted = await latch.store.write([touch("document:late#viewer@user:joiner")]);

      // The first chunk has left while the lookup is held: the first 32 results (`mine`, unchanged,
      // found first as a direct grant, then b000-b030). Every change in it holds at its revision.
      const streamed = await changesBeforeSynced(raw, 31);
      const atJoin = await lookupSet(latch, reads("joiner"), streamed[0]!.token);
      for (const e of streamed) {
        expect(e.revision).toBe(joined);
        expect(atJoin).toContain(`${e.resourceId}=ALLOWED`);
      }

      // A subscriber arriving now gets the set before the join, then the events sent so far.
      const late = new Stream(reads("joiner"), latch, controller.signal);
      const copy = await late.next();
      expect(copy.at(-1)!.revision).toBeLessThan(joined);
      expect([...late.set.keys()]).toEqual(["mine"]);

      gated.open();
      const rest: PermissionEvent[] = [];
      for (;;) {
        const e = (await raw.next()).value as PermissionEvent;
        rest.push(e);
        if (e.kind === "SYNCED") break;
      }
      expect(rest.at(-1)!.revision).toBe(joined);
      const added = [...streamed, ...rest.slice(0, -1)].map((e) => e.resourceId).sort();
      expect(added).toEqual(BIG);
      // The late subscriber's set (copy, the streamed tail, the rest) is exact at the join.
      expect(await late.exact(latch)).toMatchObject({ revision: joined });
      // The later write, ordered after the streamed step.
      const after = await changesBeforeSynced(raw, 1);
      expect(after.map((e) => `${e.kind}:${e.resourceId}@${e.revision}`)).toEqual([`ADDED:late@${granted}`]);
      expect(await late.exact(latch)).toEqual({ changes: ["ADDED:late"], revision: granted });
      expect(latch.permissions.stats().resyncs).toBe(0);
    } finally {
      controller.abort();
      await latch.close();
    }
  });

  it("sends the SYNCED of a streamed step whose last chunk holds no change", async () => {
    // The joiner sees z00-z40 through `old`; joining `big` finds b000-b099 then those 41, in id
    // order at one level. A pause before result 97 makes the 128th end a chunk (b096-b099 and
    // z00-z27); the last 13 results change nothing, and no clock read comes before the end.
    const gated = gatedLookups(97);
    const latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      approvals: false,
      watchPermissions: { pollMs: 5, recheckFloor: 4, decorators: [gated.decorator] },
    });
    const controller = new AbortController();
    const OLD = Array.from({ length: 41 }, (_, i) => `z${String(i).padStart(2, "0")}`);
    try {
      await latch.store.write([
        ...BIG.map((d) => touch(`document:${d}#viewer@group:big#member`)),
        ...OLD.map((d) => touch(`document:${d}#viewer@group:old#member`)),
        touch("group:old#member@user:joiner"),
      ]);
      const joiner = new Stream(reads("joiner"), latch, controller.signal);
      expect((await joiner.exact(latch)).changes.length).toBe(OLD.length);
      gated.arm();
      const joined = await latch.store.write([touch("group:big#member@user:joiner")]);
      const step = await joiner.exact(latch);
      expect(step.revision).toBe(joined);
      expect(step.changes.sort()).toEqual(BIG.map((d) => `ADDED:${d}`));
      expect(latch.permissions.stats().lookedUp).toBe(1);
    } finally {
      controller.abort();
      await latch.close();
    }
  });
});
