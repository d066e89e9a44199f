/**
 * A kept set moved whole to a revision (Group.replace) over a scripted lookup: its events are the
 * exact difference from the set before (ADDED, CONDITIONAL, REMOVED, nothing for an unchanged
 * entry), its SYNCED reaches a subscriber before the replace is over (the map is filled after),
 * and the set asked for in between (a new subscriber's copy, the next step) is already the new
 * one, whole.
 */
import { describe, expect, it } from "vitest";
import { type LookupResourceResult, withLookupBatches } from "../../../src/engine/index.js";
import type { PermissionEvent } from "../../../src/service/index.js";
import { Group, groupKey, type SetDecider } from "../../../src/service/permission-watch/group.js";
import { END, Listener } from "../../../src/service/permission-watch/listener.js";

const REQUEST = { resourceType: "document", permission: "read", subject: { type: "user", id: "u1" } };

function result(id: string, missing: readonly string[] = []): LookupResourceResult {
  const state = missing.length === 0 ? "ALLOWED" : "CONDITIONAL";
  return { resourceId: id, state, missing, cursor: "", revision: 0n, token: "" };
}

/** A decider whose lookup gives the results set before each replace, in chunks of 1,000. */
function scripted() {
  let results: LookupResourceResult[] = [];
  const decider: SetDecider = {
    checkBulk: () => Promise.reject(new Error("the scripted decider only looks up")),
    lookupResources: withLookupBatches(
      () => {
        throw new Error("the scripted decider gives chunks only");
      },
      async function* () {
        for (let i = 0; i < results.length; i += 1000) yield results.slice(i, i + 1000);
      },
    ),
  };
  return { decider, set: (next: LookupResourceResult[]) => (results = next) };
}

/** Reads the listener up to its next SYNCED. */
async function toSynced(listener: Listener): Promise<PermissionEvent[]> {
  const out: PermissionEvent[] = [];
  for (;;) {
    const e = listener.take();
    if (e === END) throw new Error("the listener ended");
    if (e === undefined) {
      await listener.wait();
      continue;
    }
    out.push(e);
    if (e.kind === "SYNCED") return out;
  }
}

const shown = (e: PermissionEvent) =>
  `${e.kind}:${e.resourceId}${e.missing.length === 0 ? "" : `[${e.missing.join(",")}]`}`;
const entriesOf = (group: Group) =>
  [...group.state]
    .map(([id, s]) => `${id}=${s.state}${s.missing.length === 0 ? "" : `[${s.missing.join(",")}]`}`)
    .sort();

describe("Group.replace", () => {
  it("sends the exact difference, its SYNCED before the new map is filled, and answers for the new set meanwhile", async () => {
    const lookup = scripted();
    const group = new Group(groupKey(REQUEST), REQUEST, lookup.decider, () => "delegate", 1000);
    const listener = new Listener(100, () => group.snapshot());
    group.subscribers.add({ listener, checkpoints: false });
    expect((await toSynced(listener)).map(shown)).toEqual(["SYNCED:"]);

    const ids = Array.from({ length: 10_000 }, (_, i) => `d${String(i).padStart(5, "0")}`);
    lookup.set(ids.map((id, i) => result(id, i % 1000 === 0 ? ["level"] : [])));
    const first = group.replace(1n, "t1");
    let done = false;
    void first.then(() => (done = true));
    const joined = await toSynced(listener);
    // The subscriber has the whole step while the replace is still filling the map.
    expect(done).toBe(false);
    expect(joined.at(-1)).toMatchObject({ kind: "SYNCED", revision: 1n, token: "t1" });
    expect(joined.slice(0, -1).map(shown)).toEqual(
      ids.map((id, i) => (i % 1000 === 0 ? `CONDITIONAL:${id}[level]` : `ADDED:${id}`)),
    );
    expect(group.size).toBe(10_000);
    // A subscriber arriving now copies the new set, whole.
    const late = new Listener(100, () => group.snapshot());
    const copy = await toSynced(late);
    expect(copy.at(-1)).toMatchObject({ kind: "SYNCED", revision: 1n });
    expect(copy.slice(0, -1).map(shown)).toEqual(joined.slice(0, -1).map(shown));
    expect(await first).toBe(10_000);

    // The next step: half the set leaves, the conditional entries kept turn ALLOWED (d00000,
    // d01000 ... d04000), d00001 turns CONDITIONAL, two are new; the rest is unchanged.
    const kept = ids.slice(0, 5_000);
    lookup.set([
      ...kept.map((id) => result(id, id === "d00001" ? ["level"] : [])),
      result("new-a"),
      result("new-b", ["other"]),
    ]);
    expect(await group.replace(2n, "t2")).toBe(5 + 1 + 5_000 + 2);
    const moved = await toSynced(listener);
    expect(moved.slice(0, -1).map(shown).sort()).toEqual(
      [
        ...["d00000", "d01000", "d02000", "d03000", "d04000"].map((id) => `ADDED:${id}`),
        "CONDITIONAL:d00001[level]",
        ...ids.slice(5_000).map((id) => `REMOVED:${id}`),
        "ADDED:new-a",
        "CONDITIONAL:new-b[other]",
      ].sort(),
    );
    expect(moved.every((e) => e.revision === 2n)).toBe(true);
    expect(entriesOf(group)).toEqual(
      [
        ...kept.map((id) => (id === "d00001" ? `${id}=CONDITIONAL[level]` : `${id}=ALLOWED`)),
        "new-a=ALLOWED",
        "new-b=CONDITIONAL[other]",
      ].sort(),
    );
  });
});
