/**
 * The in-memory copy must answer every hot read exactly as the store it wraps: the shared store
 * suite runs on it, and a seeded random history compares both at every revision, before and after
 * old versions are compacted, with writes arriving through another connection to the same file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { createRandom } from "../../bench/corpus.js";
import type { Relationship } from "../../src/core/index.js";
import { delegateStore, type RelationshipUpdate, type Store } from "../../src/store/index.js";
import { createMirroredStore, type MirrorEvent } from "../../src/store/mirror/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { fmt, rel, SCHEMA } from "./conformance/helpers.js";
import { storeConformance } from "./store.case.js";

const dir = mkdtempSync(join(tmpdir(), "latch-mirror-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nextPath = () => join(dir, `mirror-${files++}.db`);

storeConformance("sqlite file behind the in-memory copy", async () => {
  const store = createMirroredStore(await createSqliteStore({ path: nextPath() }));
  expect(await store.ready()).toBe(true);
  return store;
});

const DOCS = ["d1", "d2", "d3", "d4"];
const USERS = ["u1", "u2", "u3", "*"];
const GROUPS = ["g1", "g2", "g3"];

/** A random update on the conformance schema: plain, wildcard, subject-set and caveated viewers. */
function randomUpdate(next: () => number): RelationshipUpdate {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const roll = next();
  let text: string;
  if (roll < 0.3) text = `document:${pick(DOCS)}#viewer@user:${pick(USERS)}`;
  else if (roll < 0.5) text = `document:${pick(DOCS)}#viewer@group:${pick(GROUPS)}#member`;
  else if (roll < 0.65) text = `group:${pick(GROUPS)}#member@user:${pick(USERS.slice(0, 3))}`;
  else if (roll < 0.8) text = `group:${pick(GROUPS)}#member@group:${pick(GROUPS)}#member`;
  else if (roll < 0.9) text = `document:${pick(DOCS)}#owner@user:${pick(USERS.slice(0, 3))}`;
  else
    text = `document:${pick(DOCS)}#viewer@user:${pick(USERS.slice(0, 3))}[only_on:{"day":"${pick(["monday", "tuesday"])}"}]`;
  return { operation: next() < 0.3 ? "delete" : "touch", relationship: rel(text) };
}

const sorted = (list: readonly Relationship[]) => list.map(fmt).sort();

/** Every hot read of the schema's shapes, from both stores, at one revision. */
async function expectSameReads(copy: Store, truth: Store, revision: bigint): Promise<void> {
  const forward = [
    { resourceType: "document", resourceIds: DOCS, relations: ["viewer"] },
    { resourceType: "document", resourceIds: [...DOCS, "d1"], relations: ["viewer", "owner", "parent"] },
    {
      resourceType: "document",
      resourceIds: ["d2"],
      relations: ["viewer"],
      subjectType: "group",
      subjectRelation: "member",
    },
    {
      resourceType: "document",
      resourceIds: DOCS,
      relations: ["viewer"],
      subjectType: "user",
      subjectIds: ["u1", "*"],
    },
    { resourceType: "group", resourceIds: GROUPS, relations: ["member"] },
    { resourceType: "folder", resourceIds: ["nothing"], relations: ["viewer"] },
  ];
  for (const query of forward) {
    expect(sorted(await copy.at(revision).lookupForward(query)), JSON.stringify(query)).toEqual(
      sorted(await truth.at(revision).lookupForward(query)),
    );
  }
  const reverse = [
    {
      resourceType: "document",
      relations: ["viewer"],
      subjectType: "user",
      subjectIds: ["u1", "*"],
      subjectRelation: "",
    },
    {
      resourceType: "document",
      relations: ["viewer", "owner"],
      subjectType: "user",
      subjectIds: USERS,
      subjectRelation: "",
    },
    {
      resourceType: "document",
      relations: ["viewer"],
      subjectType: "group",
      subjectIds: GROUPS,
      subjectRelation: "member",
    },
    {
      resourceType: "group",
      relations: ["member"],
      subjectType: "group",
      subjectIds: GROUPS,
      subjectRelation: "member",
    },
    {
      resourceType: "group",
      relations: ["member"],
      subjectType: "user",
      subjectIds: ["u2", "u2"],
      subjectRelation: "",
    },
  ];
  for (const query of reverse) {
    expect(sorted(await copy.at(revision).lookupReverse(query)), JSON.stringify(query)).toEqual(
      sorted(await truth.at(revision).lookupReverse(query)),
    );
  }
  // The synchronous snapshot, where the copy offers one at this revision, reads the same.
  const snapshot = copy.at(revision).snapshot?.();
  if (snapshot === undefined) return;
  const objects = [
    ["document", [...DOCS, "nothing"], ["parent", "owner", "viewer", "temp"]],
    ["group", GROUPS, ["member"]],
  ] as const;
  // A partial snapshot holds some relations whole and says which: those it holds read the same.
  const held = (type: string, relation: string) => snapshot.holds?.(type, relation) ?? true;
  for (const [resourceType, ids, all] of objects) {
    const relations = all.filter((relation) => held(resourceType, relation));
    for (const id of ids) {
      expect(sorted(snapshot.relationshipsOf(resourceType, id)), `${resourceType}:${id}`).toEqual(
        sorted(await truth.at(revision).lookupForward({ resourceType, resourceIds: [id], relations })),
      );
    }
  }
  for (const query of reverse) {
    const rows = snapshot.lookupReverse(query);
    if (rows === undefined) {
      expect(query.relations.every((r) => held(query.resourceType, r))).toBe(false);
      continue;
    }
    expect(sorted(rows), `snapshot ${JSON.stringify(query)}`).toEqual(
      sorted(await truth.at(revision).lookupReverse(query)),
    );
  }
}

describe("in-memory copy", () => {
  // Unlimited, then partial from the load on (over its limit at once), then partial only later.
  it.each([
    ["whole", undefined],
    ["partial from the start", 3],
    ["partial as writes come", 12],
  ] as const)(
    "answers like SQLite at every revision of a random history written by another connection (%s)",
    async (_name, maxRelationships) => {
      const path = nextPath();
      const truth = await createSqliteStore({ path });
      await truth.writeSchema(SCHEMA);
      const next = createRandom(7);
      // Some history before the copy loads, some after.
      for (let i = 0; i < 20; i++) await truth.write([randomUpdate(next)]);
      const copy = createMirroredStore(await createSqliteStore({ path }), {
        ...(maxRelationships === undefined ? {} : { maxRelationships }),
      });
      expect(await copy.ready()).toBe(true);
      const loadedAt = copy.stats().revision;
      // The last case is whole at its load, and lets go of sets only as later writes come.
      expect(copy.stats().partial).toBe(maxRelationships === 3);
      const revisions: bigint[] = [];
      for (let i = 0; i < 60; i++) {
        const batch = Array.from({ length: 1 + Math.floor(next() * 3) }, () => randomUpdate(next));
        // Now and then a delete by filter, which the changes feed reports row by row.
        const byFilter = next() < 0.1;
        const revision = byFilter
          ? (
              await truth.deleteRelationships({
                resourceType: "document",
                resourceId: DOCS[i % DOCS.length]!,
              })
            ).revision
          : // A batch may name one relationship twice; the store refuses that, which is fine here.
            await truth.write(batch).catch(() => undefined);
        if (revision === undefined) continue;
        revisions.push(revision);
        // Not applied yet: no snapshot (a read catches up first, and then there is one).
        if (copy.stats().revision < revision) expect(copy.at(revision).snapshot?.()).toBeUndefined();
        await expectSameReads(copy, truth, revision);
        expect(copy.at(revision).snapshot?.()).toBeDefined();
      }
      // Older revisions, read after newer changes were applied: the versions kept answer them.
      for (const revision of revisions) await expectSameReads(copy, truth, revision);
      // Before the load: the wrapped store answers, and there is no snapshot.
      await expectSameReads(copy, truth, loadedAt - 5n);
      expect(copy.at(loadedAt - 5n).snapshot?.()).toBeUndefined();
      expect(copy.stats()).toMatchObject({ state: "ready", floor: loadedAt });
      const { partial, relationships, sets } = copy.stats();
      expect(partial).toBe(maxRelationships !== undefined);
      if (maxRelationships !== undefined) expect(relationships).toBeLessThanOrEqual(maxRelationships);
      expect(sets.filter((set) => set.mirrored).reduce((n, set) => n + set.relationships, 0)).toBe(
        relationships,
      );
      await copy.close();
      await truth.close();
    },
  );

  it("catches up when asked, and then offers a snapshot; never below its floor", async () => {
    const path = nextPath();
    const writer = await createSqliteStore({ path });
    await writer.writeSchema(SCHEMA);
    const copy = createMirroredStore(await createSqliteStore({ path }));
    expect(await copy.ready()).toBe(true);
    const loadedAt = copy.stats().revision;
    const revision = await writer.write([
      { operation: "touch", relationship: rel("document:d1#viewer@user:u1") },
    ]);
    // Unless the push feed was quicker, the copy does not hold the write yet.
    if (copy.stats().revision < revision) expect(copy.at(revision).snapshot?.()).toBeUndefined();
    expect(await copy.catchUp(revision)).toBe(true);
    const snapshot = copy.at(revision).snapshot?.();
    expect(snapshot?.relationshipsOf("document", "d1").map(fmt)).toEqual(["document:d1#viewer@user:u1"]);
    expect(await copy.catchUp(loadedAt - 1n)).toBe(false);
    await copy.close();
    await writer.close();
  });

  it("answers readers between the slices of a revision too large to apply in one turn", async () => {
    const path = nextPath();
    const writer = await createSqliteStore({ path });
    await writer.writeSchema(SCHEMA);
    const ids = Array.from({ length: 12_000 }, (_, i) => `d${i}`);
    await writer.importRelationships(ids.map((id) => rel(`document:${id}#viewer@user:u1`)));
    const copy = createMirroredStore(await createSqliteStore({ path }));
    expect(await copy.ready()).toBe(true);
    const before = copy.stats().revision;
    const { revision } = await writer.deleteRelationships({ resourceType: "document", relation: "viewer" });
    const caught = copy.catchUp(revision);
    // One turn later the copy has applied part of the revision, and still answers at `before`
    // from memory as it was: the rows it has deleted already carry the revision of their delete.
    await new Promise((resolve) => setImmediate(resolve));
    expect(copy.stats().revision).toBe(before);
    const old = copy.at(before).snapshot?.();
    expect(old).toBeDefined();
    for (const id of [ids[0]!, ids[11_999]!]) {
      expect(old!.relationshipsOf("document", id).map(fmt)).toEqual([`document:${id}#viewer@user:u1`]);
    }
    // A reader at the new revision meanwhile does not wait for the rest: the store answers it.
    const fresh = await copy.at(revision).lookupForward({
      resourceType: "document",
      resourceIds: [ids[0]!, ids[11_999]!],
      relations: ["viewer"],
    });
    expect(fresh).toEqual([]);
    expect(copy.stats().revision).toBe(before);
    expect(await caught).toBe(true);
    const now = copy.at(revision).snapshot?.();
    expect(now?.relationshipsOf("document", ids[0]!)).toEqual([]);
    expect(now?.relationshipsOf("document", ids[11_999]!)).toEqual([]);
    expect(copy.stats().relationships).toBe(0);
    await copy.close();
    await writer.close();
  });

  it("settles a revision too large for one turn a slice at a time, exact for readers meanwhile", async () => {
    const path = nextPath();
    const writer = await createSqliteStore({ path });
    await writer.writeSchema(SCHEMA);
    // No time kept: each catch-up moves the floor up to the newest revision and compacts.
    const copy = createMirroredStore(await createSqliteStore({ path }), { retainMs: 0 });
    expect(await copy.ready()).toBe(true);
    const ids = Array.from({ length: 12_000 }, (_, i) => `d${i}`);
    const viewers = (at: bigint) => {
      const snapshot = copy.at(at).snapshot?.();
      expect(snapshot).toBeDefined();
      return [ids[0]!, ids[6_000]!, ids[11_999]!].flatMap((id) =>
        snapshot!.relationshipsOf("document", id).map(fmt),
      );
    };
    const settled = async () => {
      for (let turn = 0; turn < 100 && copy.stats().versioned > 0; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      return copy.stats().versioned;
    };
    const { revision: imported } = await writer.importRelationships(
      ids.map((id) => rel(`document:${id}#viewer@user:u1`)),
    );
    expect(await copy.catchUp(imported)).toBe(true);
    // Compacted in part: the rest waits for later turns, and readers see every row meanwhile.
    expect(copy.stats().versioned).toBeGreaterThan(0);
    expect(viewers(imported)).toEqual([
      "document:d0#viewer@user:u1",
      "document:d6000#viewer@user:u1",
      "document:d11999#viewer@user:u1",
    ]);
    expect(await settled()).toBe(0);
    expect(viewers(imported)).toHaveLength(3);

    // Deleted rows are dropped in slices too, unseen by readers from their delete on.
    const { revision: deleted } = await writer.deleteRelationships({
      resourceType: "document",
      relation: "viewer",
    });
    expect(await copy.catchUp(deleted)).toBe(true);
    expect(copy.stats().versioned).toBeGreaterThan(0);
    expect(viewers(deleted)).toEqual([]);
    expect(await settled()).toBe(0);
    expect(viewers(deleted)).toEqual([]);
    expect(copy.stats().relationships).toBe(0);
    await copy.close();
    await writer.close();
  });

  it("sends a reader to the store when the copy's read of the changes keeps it waiting", async () => {
    const sqlite = await createSqliteStore({ path: nextPath() });
    await sqlite.writeSchema(SCHEMA);
    // The changes feed held back until the test lets it go, as a slow datastore would.
    let letGo: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    let hold = false;
    const slow: Store = {
      ...delegateStore(sqlite),
      changesSince: async (after, limit, within) => {
        if (hold) await held;
        return sqlite.changesSince(after, limit, within);
      },
    };
    const copy = createMirroredStore(slow);
    expect(await copy.ready()).toBe(true);
    const before = copy.stats().revision;
    hold = true;
    const revision = await copy.write([
      { operation: "touch", relationship: rel("document:d1#viewer@user:u1") },
    ]);
    const read = await copy.at(revision).lookupForward({
      resourceType: "document",
      resourceIds: ["d1"],
      relations: ["viewer"],
    });
    expect(read.map(fmt)).toEqual(["document:d1#viewer@user:u1"]);
    expect(copy.stats().revision).toBe(before);
    letGo();
    expect(await copy.catchUp(revision)).toBe(true);
    expect(copy.at(revision).snapshot?.()?.relationshipsOf("document", "d1").map(fmt)).toEqual([
      "document:d1#viewer@user:u1",
    ]);
    await copy.close();
  });

  it("follows commits pushed by the store before anyone reads them", async () => {
    const path = nextPath();
    const writer = await createSqliteStore({ path });
    await writer.writeSchema(SCHEMA);
    const copy = createMirroredStore(await createSqliteStore({ path, subscribePollMs: 10 }));
    expect(await copy.ready()).toBe(true);
    const revision = await writer.write([
      { operation: "touch", relationship: rel("document:d1#viewer@user:u1") },
    ]);
    await vi.waitFor(() => expect(copy.stats().revision).toBe(revision), { timeout: 5_000, interval: 10 });
    expect(
      (
        await copy
          .at(revision)
          .lookupForward({ resourceType: "document", resourceIds: ["d1"], relations: ["viewer"] })
      ).map(fmt),
    ).toEqual(["document:d1#viewer@user:u1"]);
    await copy.close();
    await writer.close();
  });

  it("drops versions no reader can see and sends older reads to the store, still exact", async () => {
    const truth = await createSqliteStore({ path: nextPath() });
    await truth.writeSchema(SCHEMA);
    const copy = createMirroredStore(truth, { retainMs: 0 });
    expect(await copy.ready()).toBe(true);
    const next = createRandom(11);
    const revisions: bigint[] = [];
    for (let i = 0; i < 40; i++) {
      const revision = await copy.write([randomUpdate(next)]).catch(() => undefined);
      if (revision === undefined) continue;
      revisions.push(revision);
      // Two catch-ups apart, with no time kept: the floor moves up behind the newest revision.
      await copy
        .at(revision)
        .lookupForward({ resourceType: "document", resourceIds: ["d1"], relations: ["viewer"] });
    }
    const { floor, revision: applied } = copy.stats();
    expect(floor).toBeGreaterThan(revisions[0]!);
    expect(applied).toBe(revisions[revisions.length - 1]);
    for (const revision of revisions) await expectSameReads(copy, truth, revision);
    await copy.close();
  });

  it("keeps the smallest sets whole when the data is larger than its limit, the rest read from the store", async () => {
    const truth = await createSqliteStore({ path: nextPath() });
    await truth.writeSchema(SCHEMA);
    const revision = await truth.write(
      ["document:d1#viewer@user:u1", "document:d2#viewer@user:u1", "document:d3#owner@user:u2"].map((t) => ({
        operation: "touch" as const,
        relationship: rel(t),
      })),
    );
    const events: MirrorEvent[] = [];
    const copy = createMirroredStore(truth, { maxRelationships: 2, onEvent: (e) => events.push(e) });
    expect(await copy.ready()).toBe(true);
    expect(events.map((e) => e.kind)).toEqual(["ready", "partial"]);
    expect(events[1]).toEqual({
      kind: "partial",
      maxRelationships: 2,
      dropped: ["document#viewer"],
      relationships: 1,
    });
    expect(copy.stats()).toMatchObject({ state: "ready", relationships: 1, partial: true });
    await expectSameReads(copy, truth, revision);
    const { sets } = copy.stats();
    expect(sets.map(({ storeReads, ...set }) => set)).toEqual([
      { type: "document", relation: "owner", relationships: 1, mirrored: true },
      { type: "document", relation: "viewer", relationships: 2, mirrored: false },
    ]);
    // The reads expectSameReads asked of document#viewer went to the store, and were counted.
    expect(sets[1]!.storeReads).toBeGreaterThan(0);
    expect(sets[0]!.storeReads).toBe(0);
    await copy.close();
  });

  it("lets go of its largest set when writes take it over its limit, then reads that set from the store", async () => {
    const truth = await createSqliteStore({ path: nextPath() });
    await truth.writeSchema(SCHEMA);
    const events: MirrorEvent[] = [];
    const copy = createMirroredStore(truth, { maxRelationships: 3, onEvent: (e) => events.push(e) });
    expect(await copy.ready()).toBe(true);
    const revision = await copy.write(
      ["d1", "d2", "d3", "d4"].map((d) => ({
        operation: "touch" as const,
        relationship: rel(`document:${d}#viewer@user:u1`),
      })),
    );
    await expectSameReads(copy, truth, revision);
    expect(copy.stats()).toMatchObject({ state: "ready", partial: true, relationships: 0 });
    expect(events.map((e) => e.kind)).toEqual(["ready", "partial"]);
    // Later writes to the set let go of are not applied to the copy, and still read exactly.
    const later = await copy.write([
      { operation: "delete", relationship: rel("document:d1#viewer@user:u1") },
      { operation: "touch", relationship: rel("group:g1#member@user:u1") },
    ]);
    await expectSameReads(copy, truth, later);
    await expectSameReads(copy, truth, revision);
    expect(copy.stats().relationships).toBe(1);
    await copy.close();
  });

  it("hides an expired relationship from the instant it expires", async () => {
    const truth = await createSqliteStore({ path: nextPath() });
    await truth.writeSchema(SCHEMA);
    const copy = createMirroredStore(truth);
    expect(await copy.ready()).toBe(true);
    // Only the clock is faked, so the expiry does not race a slow machine.
    vi.useFakeTimers({ toFake: ["Date"] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const start = Date.parse("2030-01-01T00:00:00Z");
    vi.setSystemTime(start);
    const soon = new Date(start + 60_000).toISOString();
    const later = new Date(start + 3_600_000).toISOString();
    const revision = await copy.write([
      { operation: "touch", relationship: rel(`document:d1#temp@user:u1[expiration:${soon}]`) },
      { operation: "touch", relationship: rel(`document:d1#temp@user:u2[expiration:${later}]`) },
    ]);
    const query = { resourceType: "document", resourceIds: ["d1"], relations: ["temp"] };
    expect(sorted(await copy.at(revision).lookupForward(query))).toHaveLength(2);
    vi.setSystemTime(start + 60_000);
    expect(sorted(await copy.at(revision).lookupForward(query))).toEqual(
      [`document:d1#temp@user:u2[expiration:${later.replace(".000Z", "Z")}]`].map((t) => fmt(rel(t))),
    );
    await expectSameReads(copy, truth, revision);
    await copy.close();
  });
});
