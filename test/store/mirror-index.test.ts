/**
 * The compact index behind the in-memory copy: answers handed out stay what they were after later
 * writes (copy on write), versions are forgotten once every reader sees them, and deleted entries
 * are dropped at compaction. The store-level tests (mirror.test.ts) compare it with SQLite.
 */
import { describe, expect, it } from "vitest";
import type { Relationship } from "../../src/core/index.js";
import { PACKED_HEAD, PACKED_RELATIONSHIP, PACKED_STRIDE, type PackedRows } from "../../src/store/index.js";
import { RelationshipIndex } from "../../src/store/mirror/relationship-index.js";

const viewer = (doc: string, user: string): Relationship => ({
  resource: { type: "document", id: doc },
  relation: "viewer",
  subject: { type: "user", id: user },
});
const users = (rows: readonly Relationship[]) => rows.map((r) => r.subject.id).sort();
/** The relationships of packed rows (see PackedRows: a header, then PACKED_STRIDE slots a row). */
const unpacked = (rows: PackedRows) =>
  rows.filter(
    (_, i) => i >= PACKED_HEAD && (i - PACKED_HEAD) % PACKED_STRIDE === PACKED_RELATIONSHIP,
  ) as Relationship[];
const NOW = 0;

describe("RelationshipIndex", () => {
  it("keeps every name as written, those special as object keys too (names are interned through one)", () => {
    const index = new RelationshipIndex();
    const odd = ["__proto__", "constructor", "123", "0", "toString", "a/b_c"];
    for (const name of odd)
      index.touch(
        {
          resource: { type: name, id: "d" },
          relation: name,
          subject: { type: name, id: "u", relation: name },
        },
        0,
      );
    for (const name of odd) {
      const [r] = index.relationshipsOf(name, "d", 0, NOW);
      expect(r).toEqual({
        resource: { type: name, id: "d" },
        relation: name,
        subject: { type: name, id: "u", relation: name },
      });
    }
  });

  it("hands out the same frozen list until a write, and never changes a list it handed out", () => {
    const index = new RelationshipIndex();
    for (let i = 0; i < 20; i++) index.touch(viewer("d1", `u${i}`), 0);
    const first = index.relationshipsOf("document", "d1", 5, NOW);
    expect(Object.isFrozen(first)).toBe(true);
    expect(index.relationshipsOf("document", "d1", 5, NOW)).toBe(first);
    index.touch(viewer("d1", "late"), 7);
    expect(first).toHaveLength(20);
    expect(users(index.relationshipsOf("document", "d1", 6, NOW))).toHaveLength(20);
    expect(users(index.relationshipsOf("document", "d1", 7, NOW))).toContain("late");
  });

  it("answers each revision exactly across a delete, then forgets what no reader may see", () => {
    const index = new RelationshipIndex();
    index.touch(viewer("d1", "a"), 0);
    index.touch(viewer("d1", "b"), 0);
    index.touch(viewer("d1", "c"), 3);
    index.delete(viewer("d1", "a"), 4);
    expect(users(index.relationshipsOf("document", "d1", 2, NOW))).toEqual(["a", "b"]);
    expect(users(index.relationshipsOf("document", "d1", 3, NOW))).toEqual(["a", "b", "c"]);
    expect(users(index.relationshipsOf("document", "d1", 4, NOW))).toEqual(["b", "c"]);
    const reverse = (r: number) =>
      index.reverse(
        {
          subjectType: "user",
          subjectRelation: "...",
          subjectIds: ["a", "c"],
          resourceType: "document",
          relations: ["viewer"],
        },
        r,
        NOW,
      );
    expect(users(reverse(3))).toEqual(["a", "c"]);
    expect(users(reverse(4))).toEqual(["c"]);
    expect(index.size).toBe(2);

    index.compact(4);
    // Every reader from 4 on sees the same list: it is handed out again without copying.
    const settled = index.packedOf("document", "d1", 4, NOW);
    expect(users(unpacked(settled))).toEqual(["b", "c"]);
    expect(index.packedOf("document", "d1", 9, NOW)).toBe(settled);
    expect(users(reverse(4))).toEqual(["c"]);
  });

  it("replaces a touched identity and hides expired entries", () => {
    const index = new RelationshipIndex();
    index.touch(viewer("d1", "a"), 0);
    index.touch({ ...viewer("d1", "a"), expiration: new Date(1_000) }, 2);
    expect(index.size).toBe(1);
    expect(index.relationshipsOf("document", "d1", 1, 0)[0]!.expiration).toBeUndefined();
    expect(index.relationshipsOf("document", "d1", 2, 999)[0]!.expiration?.getTime()).toBe(1_000);
    expect(index.relationshipsOf("document", "d1", 2, 1_000)).toEqual([]);
    index.compact(2);
    expect(index.relationshipsOf("document", "d1", 2, 1_000)).toEqual([]);
    expect(index.relationshipsOf("document", "d1", 2, 0)).toHaveLength(1);
  });

  it("keeps a short plain list as its own answer, through a delete and its compaction", () => {
    const index = new RelationshipIndex();
    index.touch(viewer("d1", "a"), 0);
    index.touch(viewer("d1", "b"), 0);
    const plain = index.packedOf("document", "d1", 0, NOW);
    expect(index.packedOf("document", "d1", 0, NOW)).toBe(plain);
    index.delete(viewer("d1", "a"), 1);
    expect(users(index.relationshipsOf("document", "d1", 0, NOW))).toEqual(["a", "b"]);
    expect(users(index.relationshipsOf("document", "d1", 1, NOW))).toEqual(["b"]);
    index.compact(1);
    const settled = index.packedOf("document", "d1", 1, NOW);
    expect(users(unpacked(settled))).toEqual(["b"]);
    expect(index.packedOf("document", "d1", 5, NOW)).toBe(settled);
    index.delete(viewer("d1", "b"), 2);
    index.compact(2);
    expect(index.relationshipsOf("document", "d1", 2, NOW)).toEqual([]);
    expect(index.size).toBe(0);
  });
});
