/** Conformance: the changes feed, revision tokens, bulk import and export. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Relationship } from "../../../src/core/index.js";
import type { Change, Store } from "../../../src/store/index.js";
import {
  create,
  exportAll,
  fmt,
  rejection,
  rel,
  remove,
  SCHEMA,
  type StoreFactory,
  storeOrder,
  touch,
} from "./helpers.js";

const describeChange = (c: Change) => `${c.revision}:${c.operation}:${fmt(c.relationship)}`;

export function historyCases(factory: StoreFactory): void {
  let store: Store;
  beforeEach(async () => {
    store = await factory();
  });
  afterEach(async () => {
    await store.close();
  });

  describe("changes feed", () => {
    it("lists every touch and delete after a revision, in order, with schema changes", async () => {
      const s1 = await store.writeSchema(SCHEMA);
      const r2 = await store.write([
        create("document:a#viewer@user:alice"),
        create("document:b#viewer@user:bob"),
      ]);
      const r3 = await store.write([
        touch("document:a#viewer@user:alice[only_on]"),
        remove("document:zz#viewer@user:x"),
      ]);
      const r4 = await store.write([remove("document:b#viewer@user:bob")]);
      const r5 = (await store.deleteRelationships({ resourceType: "document" })).revision;
      const s6 = await store.writeSchema(`${SCHEMA}\ndefinition team {}\n`);
      const expected = [
        `${r2}:touch:document:a#viewer@user:alice`,
        `${r2}:touch:document:b#viewer@user:bob`,
        `${r3}:touch:document:a#viewer@user:alice[only_on]`,
        `${r4}:delete:document:b#viewer@user:bob`,
        `${r5}:delete:document:a#viewer@user:alice[only_on]`,
      ];
      const page = await store.changesSince(0n);
      expect(page.changes.map(describeChange)).toEqual(expected);
      expect(page.schemaChanges.map((c) => c.revision)).toEqual([s1, s6]);
      expect(page.schemaChanges[0]!.schemaText).toBe(SCHEMA);
      expect(page.revision).toBe(s6);

      const later = await store.changesSince(r3);
      expect(later.changes.map(describeChange)).toEqual(expected.slice(3));
      expect(later.schemaChanges.map((c) => c.revision)).toEqual([s6]);

      const none = await store.changesSince(s6);
      expect(none.changes).toEqual([]);
      expect(none.schemaChanges).toEqual([]);
      expect(none.revision).toBe(s6);
    });

    it("pages on revision boundaries without losing or repeating changes", async () => {
      await store.writeSchema(SCHEMA);
      const expected: string[] = [];
      for (let w = 0; w < 12; w++) {
        const size = (w % 4) + 1;
        const texts = Array.from({ length: size }, (_, i) => `document:w${w}#viewer@user:u${i}`);
        const revision = await store.write(texts.map(create));
        expected.push(...texts.map((t) => `${revision}:touch:${t}`));
      }
      const seen: string[] = [];
      let after = 0n;
      const current = await store.currentRevision();
      for (let guard = 0; after < current && guard < 100; guard++) {
        const page = await store.changesSince(after, 3);
        expect(page.revision).toBeGreaterThan(after);
        for (const change of page.changes) expect(change.revision).toBeGreaterThan(after);
        for (const change of page.changes) expect(change.revision).toBeLessThanOrEqual(page.revision);
        seen.push(...page.changes.map(describeChange));
        after = page.revision;
      }
      expect(after).toBe(current);
      expect(seen).toEqual(expected);
    });

    it("with `within`, resumes a revision larger than a page where its slice ended", async () => {
      const first = await store.writeSchema(SCHEMA);
      const expected: string[] = [];
      const texts = Array.from({ length: 10 }, (_, i) => `document:d${i}#viewer@user:u${i}`);
      const created = await store.write(texts.map(create));
      expected.push(...texts.map((t) => `${created}:touch:${t}`));
      const small = await store.write([create("document:x#viewer@user:bob")]);
      expected.push(`${small}:touch:document:x#viewer@user:bob`);
      const schema = await store.writeSchema(`${SCHEMA}\ndefinition team {}\n`);
      const deleted = await store.deleteRelationships({ resourceType: "document", relation: "viewer" });
      // A delete by filter lists its changes in key order: d0..d9, then x.
      expected.push(
        ...[...texts, "document:x#viewer@user:bob"].map((t) => `${deleted.revision}:delete:${t}`),
      );
      const seen: string[] = [];
      const schemas: bigint[] = [];
      let after = 0n;
      let within = 0;
      const current = await store.currentRevision();
      for (let guard = 0; after < current && guard < 100; guard++) {
        const page = await store.changesSince(after, 3, within);
        seen.push(...page.changes.map(describeChange));
        schemas.push(...page.schemaChanges.map((c) => c.revision));
        if (page.within !== undefined) {
          // A slice: one revision's changes, at most a page of them, and no progress in revisions.
          expect(page.revision).toBe(after);
          expect(page.changes.length).toBeLessThanOrEqual(3);
          expect(new Set(page.changes.map((c) => c.revision)).size).toBe(1);
          expect(page.schemaChanges).toEqual([]);
          expect(page.within).toBeGreaterThan(within);
          within = page.within;
          continue;
        }
        expect(page.revision).toBeGreaterThan(after);
        after = page.revision;
        within = 0;
      }
      expect(after).toBe(current);
      expect(seen).toEqual(expected);
      expect(schemas).toEqual([first, schema]);
    });
  });

  describe("revision tokens", () => {
    it("round-trips a revision through an opaque token", async () => {
      await store.writeSchema(SCHEMA);
      const revision = await store.write([create("document:a#viewer@user:alice")]);
      const token = store.encodeRevision(revision);
      expect(token).not.toMatch(/^\d+$/);
      expect(store.encodeRevision(revision + 1n)).not.toBe(token);
      expect(store.decodeRevision(token)).toBe(revision);
      expect(store.decodeRevision(store.encodeRevision(0n))).toBe(0n);
    });

    it("refuses a token of another store", async () => {
      const other = await factory();
      try {
        expect(other.storeId).not.toBe(store.storeId);
        const error = await rejection(
          Promise.resolve().then(() => store.decodeRevision(other.encodeRevision(5n))),
        );
        expect(error.code).toBe("revision/foreign-token");
        expect(error.kind).toBe("invalid-argument");
      } finally {
        await other.close();
      }
    });

    it("refuses altered and malformed tokens", async () => {
      const token = store.encodeRevision(41n);
      const decode = (t: string) => rejection(Promise.resolve().then(() => store.decodeRevision(t)));
      for (let i = 0; i < token.length; i += 5) {
        const flipped = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
        const error = await decode(flipped);
        expect(["revision/malformed-token", "revision/foreign-token"]).toContain(error.code);
      }
      // Flipping a bit of the revision itself is caught by the signature.
      const bytes = Buffer.from(token, "base64url");
      bytes[16] = bytes[16]! ^ 1;
      expect((await decode(bytes.toString("base64url"))).code).toBe("revision/malformed-token");
      for (const bad of ["", "zookie", "!!!", token.slice(0, -4)]) {
        expect((await decode(bad)).code).toBe("revision/malformed-token");
      }
    });
  });

  describe("import and export", () => {
    beforeEach(async () => {
      await store.writeSchema(SCHEMA);
    });

    const generated = (n: number): Relationship[] =>
      Array.from({ length: n }, (_, i) => {
        if (i % 10 === 0) return rel(`document:i${i}#viewer@group:g${i % 13}#member`);
        if (i % 10 === 1) return rel(`document:i${i}#viewer@user:u${i}[only_on:{"day":"tuesday"}]`);
        if (i % 10 === 2) return rel(`document:i${i}#temp@user:u${i}[expiration:2300-01-01T00:00:00Z]`);
        return rel(`document:i${i}#viewer@user:u${i % 97}`);
      });

    it("imports in batches and exports the same set", async () => {
      const input = generated(2_345);
      const result = await store.importRelationships(input, { batchSize: 1_000 });
      expect(result.count).toBe(input.length);
      expect(result.revision).toBe(await store.currentRevision());
      const expected = [...input].sort(storeOrder).map(fmt);
      expect(await exportAll(store)).toEqual(expected);
      expect(await exportAll(store, result.revision)).toEqual(expected);
    });

    it("imports from an async iterable, and a second import of the same relationships replaces them", async () => {
      async function* source() {
        for (const r of generated(250)) yield r;
      }
      await store.importRelationships(source(), { batchSize: 100 });
      await store.importRelationships(generated(250), { batchSize: 64 });
      expect(await exportAll(store)).toHaveLength(250);
    });

    it("validates imports and names the bad relationship", async () => {
      const input = [...generated(10), rel("document:bad#view@user:alice")];
      const error = await rejection(store.importRelationships(input));
      expect(error.code).toBe("relationship/not-a-relation");
      expect(error.message).toContain("document:bad#view@user:alice");
      expect(await exportAll(store)).toEqual([]);
    });

    it("leaves nothing behind when an import into a non-empty store fails mid-way", async () => {
      await store.importRelationships(generated(40), { batchSize: 16 });
      const before = await exportAll(store);
      const revision = await store.currentRevision();
      // The bad relationship sits in the fourth batch: three batches would have committed before.
      const input = [...generated(70).slice(40), rel("document:bad#view@user:alice"), ...generated(5)];
      const error = await rejection(store.importRelationships(input, { batchSize: 10 }));
      expect(error.code).toBe("relationship/not-a-relation");
      expect(await store.currentRevision()).toBe(revision);
      expect(await exportAll(store)).toEqual(before);
      expect((await store.changesSince(revision)).changes).toEqual([]);
    });

    it("leaves nothing behind when the import's source fails mid-way", async () => {
      await store.write([create("document:first#viewer@user:a")]);
      const before = await exportAll(store);
      const revision = await store.currentRevision();
      async function* failing() {
        for (const r of generated(300)) yield r;
        throw new Error("the file could not be read to the end");
      }
      const error = await rejection(store.importRelationships(failing(), { batchSize: 50 }));
      expect(error.message).toContain("could not be read");
      expect(await store.currentRevision()).toBe(revision);
      expect(await exportAll(store)).toEqual(before);
    });

    it("records imported relationships in the changes feed", async () => {
      const result = await store.importRelationships(generated(120), { batchSize: 50 });
      const page = await store.changesSince(0n, 1_000);
      expect(page.changes).toHaveLength(120);
      expect(page.revision).toBe(result.revision);
    });
  });
}
