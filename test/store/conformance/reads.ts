/** Conformance: filters, pagination, batched lookups, revision pinning, expiration and sweep. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Relationship } from "../../../src/core/index.js";
import type { RelationshipFilter, Store, StoreReader } from "../../../src/store/index.js";
import {
  create,
  expiringIn,
  exportAll,
  fmt,
  matches,
  readAll,
  readerAt,
  rejection,
  rel,
  remove,
  SCHEMA,
  type StoreFactory,
  sleep,
  storeOrder,
  touch,
} from "./helpers.js";

const SEED = [
  "document:d1#viewer@user:alice",
  "document:d1#viewer@user:bob",
  "document:d1#viewer@group:eng#member",
  "document:d1#owner@user:alice",
  "document:d1#parent@folder:f1",
  "document:d10#viewer@user:*",
  'document:d10#viewer@user:carol[only_on:{"day":"tuesday"}]',
  "document:d2#viewer@group:eng#member",
  "document:d2#viewer@group:ops#member",
  "document:d2#owner@user:bob",
  "document:e1#viewer@user:alice",
  "folder:f1#viewer@user:alice",
  "group:eng#member@user:bob",
  "group:eng#member@group:ops#member",
];

export function readCases(factory: StoreFactory): void {
  let store: Store;
  beforeEach(async () => {
    store = await factory();
    await store.writeSchema(SCHEMA);
  });
  afterEach(async () => {
    await store.close();
  });

  describe("filters", () => {
    beforeEach(async () => {
      await store.write(SEED.map(create));
    });

    const filters: RelationshipFilter[] = [
      { resourceType: "document" },
      { resourceType: "folder" },
      { resourceType: "document", resourceId: "d1" },
      { resourceType: "document", resourceIdPrefix: "d1" },
      { resourceType: "document", resourceIdPrefix: "e" },
      { resourceType: "document", relation: "owner" },
      { resourceType: "document", subject: { type: "group" } },
      { resourceType: "document", subject: { type: "user", id: "alice" } },
      { resourceType: "document", subject: { type: "user", id: "*" } },
      { resourceType: "document", subject: { type: "group", relation: "member" } },
      { resourceType: "document", subject: { type: "user", relation: "" } },
      { resourceType: "group", subject: { type: "group", id: "ops", relation: "member" } },
      { resourceType: "document", caveatName: "only_on" },
      {
        resourceType: "document",
        resourceId: "d1",
        relation: "viewer",
        subject: { type: "user", id: "bob" },
      },
      { resourceType: "nothing" },
      // Without a resource type: across every type, in the same key order.
      { subject: { type: "user", id: "alice" } },
      { subject: { type: "group", relation: "member" } },
      { resourceId: "f1" },
      { resourceIdPrefix: "d1" },
      { relation: "viewer" },
      { caveatName: "only_on" },
    ];
    for (const filter of filters) {
      it(`matches exactly ${JSON.stringify(filter)}`, async () => {
        const expected = SEED.map(rel)
          .filter((r) => matches(r, filter))
          .sort(storeOrder)
          .map(fmt);
        expect(await readAll(store, filter)).toEqual(expected);
      });
    }

    it("refuses an empty filter and an empty resource type", async () => {
      const reader = await readerAt(store);
      for (const filter of [{}, { resourceType: "" }, { resourceIdPrefix: "" }]) {
        const error = await rejection(reader.readRelationships(filter));
        expect(error.code).toBe("store/invalid-filter");
        expect(error.kind).toBe("invalid-argument");
      }
    });

    it("pages a read without a resource type across types, one relationship at a time", async () => {
      const filter = { subject: { type: "user", id: "alice" } };
      const expected = SEED.map(rel)
        .filter((r) => matches(r, filter))
        .sort(storeOrder)
        .map(fmt);
      expect(new Set(expected.map((r) => r.split(":", 1)[0])).size).toBeGreaterThan(1);
      const reader = await readerAt(store);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await reader.readRelationships(
          filter,
          cursor === undefined ? { limit: 1 } : { limit: 1, cursor },
        );
        seen.push(...page.relationships.map(fmt));
        cursor = page.cursor;
      } while (cursor !== undefined);
      expect(seen).toEqual(expected);
    });
  });

  describe("pagination", () => {
    const all = Array.from(
      { length: 61 },
      (_, i) => `document:p${String(i).padStart(2, "0")}#viewer@user:u${i % 7}`,
    );

    beforeEach(async () => {
      for (let i = 0; i < all.length; i += 20) await store.write(all.slice(i, i + 20).map(create));
    });

    it("pages through a pinned snapshot with no duplicates and no gaps while writes happen", async () => {
      const filter = { resourceType: "document" };
      const snapshot = await store.currentRevision();
      const expected = await readAll(store, filter, snapshot);
      expect(expected).toHaveLength(all.length);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<StoreReader["readRelationships"]>> = await store
          .at(snapshot)
          .readRelationships(filter, cursor === undefined ? { limit: 8 } : { limit: 8, cursor });
        expect(page.revision).toBe(snapshot);
        expect(page.relationships.length).toBeLessThanOrEqual(8);
        seen.push(...page.relationships.map(fmt));
        cursor = page.cursor;
        pages++;
        // Writes between pages: before and after the cursor, deletes of rows not yet read, touches.
        await store.write([
          create(`document:p${String(pages).padStart(2, "0")}a#viewer@user:new`),
          create(`document:a${pages}#viewer@user:new`),
          remove(all[(pages * 8 + 3) % all.length]!),
          touch(`${all[(pages * 8 + 5) % all.length]!}[only_on]`),
        ]);
      } while (cursor !== undefined);
      expect(pages).toBe(Math.ceil(all.length / 8));
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expected);
      // The current state did change underneath.
      expect(await readAll(store, filter)).not.toEqual(expected);
    });

    it("pages a filtered read, continuing only with the same filter", async () => {
      const filter = { resourceType: "document", subject: { type: "user", id: "u3" } };
      const expected = all
        .map(rel)
        .filter((r) => matches(r, filter))
        .map(fmt);
      const reader = await readerAt(store);
      const first = await reader.readRelationships(filter, { limit: 3 });
      expect(first.cursor).toBeDefined();
      const rest = await store.at(first.revision).readRelationships(filter, { cursor: first.cursor! });
      expect([...first.relationships, ...rest.relationships].map(fmt)).toEqual(expected);
      expect(rest.cursor).toBeUndefined();
      const error = await rejection(
        reader.readRelationships({ resourceType: "document" }, { cursor: first.cursor! }),
      );
      expect(error.code).toBe("cursor/filter-mismatch");
      const garbage = await rejection(reader.readRelationships(filter, { cursor: "not-a-cursor" }));
      expect(garbage.kind).toBe("invalid-argument");
      // A cursor continues the snapshot it was made in, never another one.
      await store.write([create("document:zz#viewer@user:u3")]);
      const later = await readerAt(store);
      const moved = await rejection(later.readRelationships(filter, { cursor: first.cursor! }));
      expect(moved.code).toBe("cursor/revision-mismatch");
      expect(moved.kind).toBe("invalid-argument");
    });

    it("returns no cursor when the page is the last", async () => {
      const page = await (await readerAt(store)).readRelationships(
        { resourceType: "document" },
        { limit: all.length },
      );
      expect(page.relationships).toHaveLength(all.length);
      expect(page.cursor).toBeUndefined();
    });
  });

  describe("batched lookups", () => {
    let revision: bigint;
    beforeEach(async () => {
      revision = await store.write(SEED.map(create));
    });

    const sorted = (rs: readonly Relationship[]) => [...rs].sort(storeOrder).map(fmt);
    const expect_ = (pred: (r: Relationship) => boolean) =>
      SEED.map(rel).filter(pred).sort(storeOrder).map(fmt);

    it("forward: many ids and relations in one call", async () => {
      const got = await store.at(revision).lookupForward({
        resourceType: "document",
        resourceIds: ["d1", "d2", "missing"],
        relations: ["viewer", "owner"],
      });
      expect(sorted(got)).toEqual(
        expect_(
          (r) =>
            r.resource.type === "document" &&
            ["d1", "d2"].includes(r.resource.id) &&
            ["viewer", "owner"].includes(r.relation),
        ),
      );
    });

    it("forward: restricted by subject type, relation and ids", async () => {
      const sets = await store.at(revision).lookupForward({
        resourceType: "document",
        resourceIds: ["d1", "d2", "d10"],
        relations: ["viewer"],
        subjectType: "group",
        subjectRelation: "member",
      });
      expect(sorted(sets)).toEqual(
        expect_(
          (r) => r.resource.type === "document" && r.relation === "viewer" && r.subject.type === "group",
        ),
      );
      const direct = await store.at(revision).lookupForward({
        resourceType: "document",
        resourceIds: ["d1", "d10"],
        relations: ["viewer"],
        subjectType: "user",
        subjectRelation: "",
        subjectIds: ["bob", "*"],
      });
      expect(sorted(direct)).toEqual(["document:d1#viewer@user:bob", "document:d10#viewer@user:*"]);
    });

    it("reverse: relationships pointing at subjects, wildcard included on request", async () => {
      const users = await store.at(revision).lookupReverse({
        resourceType: "document",
        relations: ["viewer", "owner"],
        subjectType: "user",
        subjectIds: ["alice", "carol", "*"],
        subjectRelation: "",
      });
      expect(sorted(users)).toEqual(
        expect_(
          (r) =>
            r.resource.type === "document" &&
            r.subject.type === "user" &&
            ["alice", "carol", "*"].includes(r.subject.id),
        ),
      );
      const sets = await store.at(revision).lookupReverse({
        resourceType: "document",
        relations: ["viewer"],
        subjectType: "group",
        subjectIds: ["eng"],
        subjectRelation: "member",
      });
      expect(sorted(sets)).toEqual([
        "document:d1#viewer@group:eng#member",
        "document:d2#viewer@group:eng#member",
      ]);
    });

    it("handles id lists of any length", async () => {
      for (const n of [1, 3, 17, 1_500]) {
        const ids = Array.from({ length: n }, (_, i) => (i === n - 1 ? "d2" : `x${i}`));
        const got = await store
          .at(revision)
          .lookupForward({ resourceType: "document", resourceIds: ids, relations: ["owner"] });
        expect(sorted(got)).toEqual(["document:d2#owner@user:bob"]);
        const subjects = ids.map((id) => (id === "d2" ? "alice" : id));
        const back = await store.at(revision).lookupReverse({
          resourceType: "folder",
          relations: ["viewer"],
          subjectType: "user",
          subjectIds: subjects,
          subjectRelation: "",
        });
        expect(sorted(back)).toEqual(["folder:f1#viewer@user:alice"]);
      }
    });

    it("returns nothing for empty id lists", async () => {
      expect(
        await store
          .at(revision)
          .lookupForward({ resourceType: "document", resourceIds: [], relations: ["viewer"] }),
      ).toEqual([]);
      expect(
        await store.at(revision).lookupReverse({
          resourceType: "document",
          relations: ["viewer"],
          subjectType: "user",
          subjectIds: [],
          subjectRelation: "",
        }),
      ).toEqual([]);
    });
  });

  describe("revision pinning", () => {
    it("reads at an old revision see exactly the writes up to it", async () => {
      const r1 = await store.write([
        create("document:a#viewer@user:alice"),
        create("document:b#viewer@user:bob"),
      ]);
      const r2 = await store.write([
        touch("document:a#viewer@user:alice[only_on]"),
        create("document:c#viewer@user:carol"),
      ]);
      const r3 = await store.write([remove("document:a#viewer@user:alice")]);
      const filter = { resourceType: "document" };
      expect(await readAll(store, filter, r1)).toEqual([
        "document:a#viewer@user:alice",
        "document:b#viewer@user:bob",
      ]);
      expect(await readAll(store, filter, r2)).toEqual([
        "document:a#viewer@user:alice[only_on]",
        "document:b#viewer@user:bob",
        "document:c#viewer@user:carol",
      ]);
      expect(await readAll(store, filter, r3)).toEqual([
        "document:b#viewer@user:bob",
        "document:c#viewer@user:carol",
      ]);
      const forward = (at: bigint) =>
        store.at(at).lookupForward({ resourceType: "document", resourceIds: ["a"], relations: ["viewer"] });
      expect((await forward(r1)).map(fmt)).toEqual(["document:a#viewer@user:alice"]);
      expect((await forward(r2)).map(fmt)).toEqual(["document:a#viewer@user:alice[only_on]"]);
      expect(await forward(r3)).toEqual([]);
      const reverse = (at: bigint) =>
        store.at(at).lookupReverse({
          resourceType: "document",
          relations: ["viewer"],
          subjectType: "user",
          subjectIds: ["alice"],
          subjectRelation: "",
        });
      expect(await reverse(r1)).toHaveLength(1);
      expect(await reverse(r3)).toHaveLength(0);
      expect(await exportAll(store, r1)).toEqual([
        "document:a#viewer@user:alice",
        "document:b#viewer@user:bob",
      ]);
      expect(await exportAll(store, r1 - 1n)).toEqual([]);
    });
  });

  describe("expiration", () => {
    it("hides expired relationships from every read", async () => {
      const past = expiringIn("document:a#temp@user:old", -5_000);
      const future = expiringIn("document:a#temp@user:new", 3_600_000);
      const revision = await store.write([
        { operation: "create", relationship: past },
        { operation: "create", relationship: future },
      ]);
      expect(await readAll(store, { resourceType: "document" })).toEqual([fmt(future)]);
      expect(
        (
          await store
            .at(revision)
            .lookupForward({ resourceType: "document", resourceIds: ["a"], relations: ["temp"] })
        ).map(fmt),
      ).toEqual([fmt(future)]);
      expect(
        await store.at(revision).lookupReverse({
          resourceType: "document",
          relations: ["temp"],
          subjectType: "user",
          subjectIds: ["old"],
          subjectRelation: "",
        }),
      ).toEqual([]);
      expect(await exportAll(store)).toEqual([fmt(future)]);
      // An expired relationship does not block CREATE of the same one.
      await store.write([
        { operation: "create", relationship: expiringIn("document:a#temp@user:old", 3_600_000) },
      ]);
      expect(await readAll(store, { resourceType: "document" })).toHaveLength(2);
    });

    it("hides a relationship from the moment it expires", async () => {
      const soon = expiringIn("document:a#temp@user:soon", 400);
      const revision = await store.write([{ operation: "create", relationship: soon }]);
      expect(await readAll(store, { resourceType: "document" })).toEqual([fmt(soon)]);
      await sleep(Math.max(0, soon.expiration!.getTime() - Date.now()) + 50);
      expect(await readAll(store, { resourceType: "document" })).toEqual([]);
      expect(await readAll(store, { resourceType: "document" }, revision)).toEqual([]);
    });

    it("sweeps expired relationships in bounded batches", async () => {
      await store.write(
        Array.from({ length: 5 }, (_, i) => ({
          operation: "create" as const,
          relationship: expiringIn(`document:x${i}#temp@user:u`, -1_000),
        })),
      );
      await store.write([
        { operation: "create", relationship: expiringIn("document:keep#temp@user:u", 3_600_000) },
      ]);
      expect(await store.sweepExpired(3)).toBe(3);
      expect(await store.sweepExpired(10)).toBe(2);
      expect(await store.sweepExpired(10)).toBe(0);
      expect(await exportAll(store)).toHaveLength(1);
    });
  });
}
