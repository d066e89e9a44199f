/** Conformance: schema writes, CREATE/TOUCH/DELETE, preconditions, limits, atomicity, orphan refusal. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import {
  create,
  exportAll,
  readAll,
  readerAt,
  rejection,
  rel,
  remove,
  SCHEMA,
  type StoreFactory,
  touch,
} from "./helpers.js";

export function writeCases(factory: StoreFactory): void {
  let store: Store;
  beforeEach(async () => {
    store = await factory();
  });
  afterEach(async () => {
    await store.close();
  });

  describe("schema", () => {
    it("refuses relationship writes before any schema exists", async () => {
      expect(await (await readerAt(store)).readSchema()).toBeUndefined();
      const before = await store.currentRevision();
      const error = await rejection(store.write([create("document:a#viewer@user:alice")]));
      expect(error.code).toBe("schema/missing");
      expect(error.kind).toBe("failed-precondition");
      expect((await rejection(store.importRelationships([rel("document:a#viewer@user:alice")]))).code).toBe(
        "schema/missing",
      );
      expect(await store.currentRevision()).toBe(before);
    });

    it("stores the schema with its revision and keeps history", async () => {
      const first = await store.writeSchema(SCHEMA);
      const second = await store.writeSchema(`${SCHEMA}\ndefinition team {}\n`);
      expect(second).toBeGreaterThan(first);
      expect(await (await readerAt(store)).readSchema()).toEqual({
        text: `${SCHEMA}\ndefinition team {}\n`,
        revision: second,
      });
      expect(await store.at(first).readSchema()).toEqual({ text: SCHEMA, revision: first });
      expect(await store.currentRevision()).toBe(second);
    });

    it("rejects a schema that does not compile and keeps the old one", async () => {
      const revision = await store.writeSchema(SCHEMA);
      const error = await rejection(store.writeSchema("definition document { relation viewer: nobody }"));
      expect(error.code).toMatch(/^schema\//);
      expect(error.kind).toBe("invalid-argument");
      expect((await (await readerAt(store)).readSchema())?.revision).toBe(revision);
    });

    it("refuses a schema that would orphan relationships, naming relations and counts", async () => {
      await store.writeSchema(SCHEMA);
      await store.write([
        create("document:a#viewer@group:eng#member"),
        create("document:b#viewer@group:eng#member"),
        create("document:a#viewer@user:alice"),
        create("document:a#parent@folder:f"),
      ]);
      const narrowed = SCHEMA.replace("user | group#member | user:* | user with only_on", "user").replace(
        "relation parent: folder\n",
        "",
      );
      const before = await (await readerAt(store)).readSchema();
      const error = (await rejection(store.writeSchema(narrowed))) as unknown as {
        code: string;
        kind: string;
        message: string;
        details: { orphans: { relation: string; count: number }[] };
      };
      expect(error.code).toBe("schema/would-orphan");
      expect(error.kind).toBe("failed-precondition");
      expect(error.details.orphans.map((o) => [o.relation, o.count])).toEqual([
        ["document#parent", 1],
        ["document#viewer", 2],
      ]);
      expect(error.message).toContain("document#viewer");
      expect(await (await readerAt(store)).readSchema()).toEqual(before);

      await store.deleteRelationships({ resourceType: "document", subject: { type: "group" } });
      await store.deleteRelationships({ resourceType: "document", relation: "parent" });
      const revision = await store.writeSchema(narrowed);
      expect((await (await readerAt(store)).readSchema())?.revision).toBe(revision);
    });

    it("refuses a schema that removes a caveat stored relationships use", async () => {
      await store.writeSchema(SCHEMA);
      await store.write([create('document:a#viewer@user:bob[only_on:{"day":"monday"}]')]);
      const error = await rejection(store.writeSchema(SCHEMA.replace(" | user with only_on", "")));
      expect(error.code).toBe("schema/would-orphan");
    });
  });

  describe("CREATE, TOUCH and DELETE", () => {
    beforeEach(async () => {
      await store.writeSchema(SCHEMA);
    });

    it("CREATE fails when the relationship exists, whatever its caveat, and writes nothing", async () => {
      await store.write([create("document:a#viewer@user:alice")]);
      const before = await store.currentRevision();
      const error = await rejection(
        store.write([create("document:b#viewer@user:bob"), create("document:a#viewer@user:alice[only_on]")]),
      );
      expect(error.code).toBe("relationship/already-exists");
      expect(error.kind).toBe("already-exists");
      expect(error.message).toContain("document:a#viewer@user:alice");
      expect(await store.currentRevision()).toBe(before);
      expect(await exportAll(store)).toEqual(["document:a#viewer@user:alice"]);
    });

    it("TOUCH inserts, then replaces caveat and expiration", async () => {
      await store.write([touch('document:a#viewer@user:alice[only_on:{"day":"tuesday"}]')]);
      expect(await readAll(store, { resourceType: "document" })).toEqual([
        'document:a#viewer@user:alice[only_on:{"day":"tuesday"}]',
      ]);
      await store.write([touch("document:a#viewer@user:alice")]);
      expect(await readAll(store, { resourceType: "document" })).toEqual(["document:a#viewer@user:alice"]);
      await store.write([touch("document:a#temp@user:alice[expiration:2300-01-01T00:00:00Z]")]);
      await store.write([
        touch('document:a#temp@user:alice[over:{"limit":3}][expiration:2301-01-01T00:00:00Z]'),
      ]);
      expect(await readAll(store, { resourceType: "document", relation: "temp" })).toEqual([
        'document:a#temp@user:alice[over:{"limit":3}][expiration:2301-01-01T00:00:00Z]',
      ]);
    });

    it("DELETE removes, and deleting an absent relationship is not an error", async () => {
      await store.write([create("document:a#viewer@user:alice"), create("document:a#viewer@user:bob")]);
      const revision = await store.write([
        remove("document:a#viewer@user:alice"),
        remove("document:z#viewer@user:x"),
      ]);
      expect(typeof revision).toBe("bigint");
      expect(await exportAll(store)).toEqual(["document:a#viewer@user:bob"]);
      // After a delete, CREATE works again.
      await store.write([create("document:a#viewer@user:alice")]);
      expect(await exportAll(store)).toHaveLength(2);
    });

    it("refuses the same relationship twice in one write", async () => {
      const error = await rejection(
        store.write([create("document:a#viewer@user:alice"), remove("document:a#viewer@user:alice")]),
      );
      expect(error.code).toBe("write/duplicate-update");
      expect(await exportAll(store)).toEqual([]);
    });

    it("refuses a write over the update limit", async () => {
      const updates = Array.from({ length: 1_001 }, (_, i) => create(`document:d${i}#viewer@user:u${i}`));
      const error = await rejection(store.write(updates));
      expect(error.code).toBe("write/too-many-updates");
      expect(error.kind).toBe("resource-exhausted");
      expect(await exportAll(store)).toEqual([]);
    });

    it("gives each write a new, larger revision", async () => {
      const a = await store.write([create("document:a#viewer@user:alice")]);
      const b = await store.write([create("document:b#viewer@user:alice")]);
      expect(b).toBeGreaterThan(a);
      expect(await store.currentRevision()).toBe(b);
    });

    it("rejects a batch with one invalid relationship and writes nothing", async () => {
      await store.write([create("document:seed#viewer@user:alice")]);
      const before = await store.currentRevision();
      const beforeAll = await exportAll(store);
      const bad = [
        ["document:a#view@user:alice", "relationship/not-a-relation"],
        ["document:a#viewer@folder:f", "relationship/subject-not-allowed"],
        ["nothing:a#viewer@user:alice", "relationship/unknown-type"],
        ["document:a#nope@user:alice", "relationship/unknown-relation"],
        ["document:a#temp@user:alice[only_on]", "relationship/caveat-not-allowed"],
        [
          "document:a#viewer@user:alice[expiration:2300-01-01T00:00:00Z]",
          "relationship/expiration-not-allowed",
        ],
        ['document:a#viewer@user:alice[only_on:{"day":7}]', "relationship/bad-caveat-context"],
        // Text PostgreSQL's jsonb refuses: both datastores refuse it up front.
        ['document:a#viewer@user:alice[only_on:{"day":"tues\\u0000day"}]', "relationship/bad-caveat-context"],
        ['document:a#viewer@user:alice[only_on:{"day":"\\ud800"}]', "relationship/bad-caveat-context"],
      ] as const;
      for (const [text, code] of bad) {
        const error = await rejection(
          store.write([
            create("document:ok#viewer@user:bob"),
            create(text),
            create("document:ok2#owner@user:bob"),
          ]),
        );
        expect(error.code).toBe(code);
        expect(error.kind).toBe("invalid-argument");
        expect(error.message).toContain(text.split("[")[0]);
      }
      expect(await store.currentRevision()).toBe(before);
      expect(await exportAll(store)).toEqual(beforeAll);
    });
  });

  describe("preconditions", () => {
    beforeEach(async () => {
      await store.writeSchema(SCHEMA);
      await store.write([create("document:a#owner@user:alice")]);
    });

    it("applies the write when must-match and must-not-match hold", async () => {
      await store.write(
        [create("document:a#viewer@user:bob")],
        [
          {
            operation: "must-match",
            filter: { resourceType: "document", resourceId: "a", relation: "owner" },
          },
          {
            operation: "must-not-match",
            filter: { resourceType: "document", subject: { type: "user", id: "bob" } },
          },
        ],
      );
      expect(await exportAll(store)).toContain("document:a#viewer@user:bob");
    });

    it("refuses the whole write when a precondition fails", async () => {
      const before = await store.currentRevision();
      for (const pre of [
        { operation: "must-match", filter: { resourceType: "document", resourceId: "b" } },
        { operation: "must-not-match", filter: { resourceType: "document", relation: "owner" } },
      ] as const) {
        const error = await rejection(store.write([create("document:a#viewer@user:bob")], [pre]));
        expect(error.code).toBe("write/precondition-failed");
        expect(error.kind).toBe("failed-precondition");
        expect(error.details).toMatchObject({ index: 0, operation: pre.operation, filter: pre.filter });
        const del = await rejection(
          store.deleteRelationships({ resourceType: "document" }, { preconditions: [pre] }),
        );
        expect(del.code).toBe("write/precondition-failed");
      }
      expect(await store.currentRevision()).toBe(before);
      expect(await exportAll(store)).toEqual(["document:a#owner@user:alice"]);
    });

    it("does not count an expired relationship as a match", async () => {
      await store.write([
        {
          operation: "create",
          relationship: { ...rel("document:x#temp@user:z"), expiration: new Date(Date.now() - 1000) },
        },
      ]);
      const error = await rejection(
        store.write(
          [create("document:a#viewer@user:bob")],
          [{ operation: "must-match", filter: { resourceType: "document", resourceId: "x" } }],
        ),
      );
      expect(error.code).toBe("write/precondition-failed");
    });
  });

  describe("delete by filter", () => {
    beforeEach(async () => {
      await store.writeSchema(SCHEMA);
    });

    it("deletes what matches, up to a limit, and reports the count", async () => {
      await store.write([
        create("document:a#viewer@user:u1"),
        create("document:a#viewer@user:u2"),
        create("document:a#viewer@user:u3"),
        create("document:a#owner@user:u1"),
      ]);
      const first = await store.deleteRelationships(
        { resourceType: "document", relation: "viewer" },
        { limit: 2 },
      );
      expect(first.deleted).toBe(2);
      expect(await readAll(store, { resourceType: "document", relation: "viewer" })).toHaveLength(1);
      const rest = await store.deleteRelationships({ resourceType: "document", relation: "viewer" });
      expect(rest.deleted).toBe(1);
      expect(rest.revision).toBeGreaterThan(first.revision);
      expect(await exportAll(store)).toEqual(["document:a#owner@user:u1"]);
    });

    it("with failOverLimit, deletes all when the limit covers the matches, else nothing", async () => {
      await store.write([
        create("document:a#viewer@user:u1"),
        create("document:a#viewer@user:u2"),
        create("folder:f#viewer@user:u1"),
      ]);
      const before = await store.currentRevision();
      // No resource type: matches across types.
      const filter = { subject: { type: "user", id: "u1" } };
      const error = await rejection(store.deleteRelationships(filter, { limit: 1, failOverLimit: true }));
      expect(error.code).toBe("delete/over-limit");
      expect(error.kind).toBe("invalid-argument");
      expect(await store.currentRevision()).toBe(before);
      expect(await exportAll(store)).toHaveLength(3);
      const done = await store.deleteRelationships(filter, { limit: 2, failOverLimit: true });
      expect(done.deleted).toBe(2);
      expect(await exportAll(store)).toEqual(["document:a#viewer@user:u2"]);
    });
  });

  describe("transaction metadata", () => {
    beforeEach(async () => {
      await store.writeSchema(SCHEMA);
    });

    it("keeps a write's or delete's metadata with its revision; the changes feed returns it", async () => {
      const start = await store.currentRevision();
      const tagged = { reason: "onboarding", ticket: 42, nested: { ok: true } };
      const r1 = await store.write([create("document:a#viewer@user:u1")], [], { metadata: tagged });
      await store.write([create("document:b#viewer@user:u1")]);
      const r3 = (
        await store.deleteRelationships({ resourceType: "document" }, { metadata: { reason: "cleanup" } })
      ).revision;
      const page = await store.changesSince(start);
      expect(page.metadata).toEqual([
        { revision: r1, metadata: tagged },
        { revision: r3, metadata: { reason: "cleanup" } },
      ]);
      // A failed write keeps nothing.
      await rejection(
        store.write([create("document:c#nothing@user:u1")], [], { metadata: { reason: "bad" } }),
      );
      expect((await store.changesSince(r3)).metadata ?? []).toEqual([]);
    });

    it("refuses metadata holding U+0000 or a lone surrogate, writing nothing", async () => {
      const before = await store.currentRevision();
      const nul = await rejection(
        store.write([create("document:a#viewer@user:u1")], [], { metadata: { note: ["ok", "a\u0000b"] } }),
      );
      expect(nul).toMatchObject({ code: "write/bad-metadata", kind: "invalid-argument" });
      expect(nul.message).toContain("`note[1]`");
      const lone = await rejection(
        store.deleteRelationships({ resourceType: "document" }, { metadata: { "x\udc00": 1 } }),
      );
      expect(lone).toMatchObject({ code: "write/bad-metadata", kind: "invalid-argument" });
      expect(await store.currentRevision()).toBe(before);
      expect(await exportAll(store)).toEqual([]);
      // A surrogate pair is well-formed text, kept as given.
      const r = await store.write([create("document:a#viewer@user:u1")], [], { metadata: { note: "😀" } });
      expect((await store.changesSince(before)).metadata).toEqual([
        { revision: r, metadata: { note: "😀" } },
      ]);
    });
  });

  describe("import with createOnly", () => {
    beforeEach(async () => {
      await store.writeSchema(SCHEMA);
    });

    it("loads everything at one revision, from a sync or an async source", async () => {
      const before = await store.currentRevision();
      const first = await store.importRelationships(
        [rel("document:a#viewer@user:u1"), rel("document:b#viewer@user:u2")],
        { createOnly: true, batchSize: 1 },
      );
      expect(first).toEqual({ revision: before + 1n, count: 2 });
      async function* source() {
        yield rel("document:c#viewer@user:u3");
      }
      const second = await store.importRelationships(source(), { createOnly: true });
      expect(second).toEqual({ revision: before + 2n, count: 1 });
      expect(await exportAll(store)).toHaveLength(3);
    });

    it("refuses an existing or repeated relationship, or an invalid one, writing nothing", async () => {
      await store.write([create("document:a#viewer@user:u1")]);
      const before = await store.currentRevision();
      const loads = [
        [rel("document:b#viewer@user:u2"), rel('document:a#viewer@user:u1[only_on:{"day":"monday"}]')],
        [rel("document:b#viewer@user:u2"), rel("document:b#viewer@user:u2")],
        [rel("document:b#viewer@user:u2"), rel("document:b#nothing@user:u2")],
      ];
      const codes = [];
      for (const load of loads)
        codes.push((await rejection(store.importRelationships(load, { createOnly: true }))).code);
      expect(codes).toEqual([
        "relationship/already-exists",
        "relationship/already-exists",
        "relationship/unknown-relation",
      ]);
      expect(await store.currentRevision()).toBe(before);
      expect(await exportAll(store)).toEqual(["document:a#viewer@user:u1"]);
    });

    // PostgreSQL writes a CREATE load in statements of `batchSize` (50,000 by default): an
    // existing relationship met in a later one still refuses the whole load.
    it("refuses an existing relationship met in a later batch of a load, writing nothing; takes it whole without", async () => {
      const load = (n: number) =>
        Array.from({ length: n }, (_, i) => rel(`document:d${i}#viewer@user:u${i % 100}`));
      await store.write([create("document:d2000#viewer@user:u0")]);
      const before = await store.currentRevision();
      const refused = await rejection(
        store.importRelationships(load(2_001), { createOnly: true, batchSize: 1_000 }),
      );
      expect(refused.code).toBe("relationship/already-exists");
      expect(refused.message).toContain("document:d2000#viewer@user:u0");
      expect(await store.currentRevision()).toBe(before);
      expect(await exportAll(store)).toEqual(["document:d2000#viewer@user:u0"]);
      const taken = await store.importRelationships(load(2_000), { createOnly: true, batchSize: 1_000 });
      expect(taken).toEqual({ revision: before + 1n, count: 2_000 });
      expect(await exportAll(store)).toHaveLength(2_001);
    });
  });
}
