/**
 * The packed reverse lists the walk up a subject's memberships reads (`reverseRows`, see
 * ReverseRows): against a naive model of the index's versioned relationships, with reads between
 * the writes (a list packed by one read then gets writes, deletes, expirations and compactions),
 * and a write to one list leaving the other lists packed (issue 18: under steady writes the copy
 * always holds some versioned entry, and reads must not re-pack every list they return).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Relationship, SubjectRef } from "../../src/core/index.js";
import { REVERSE_HEAD, REVERSE_STRIDE, type ReverseRows } from "../../src/store/index.js";
import { RelationshipIndex } from "../../src/store/mirror/relationship-index.js";
import { Replay, type Version, visible } from "./versioned-model.js";

type Op =
  | {
      kind: "touch";
      doc: number;
      relation: string;
      subject: number;
      caveat: boolean;
      expires: number | undefined;
    }
  | { kind: "delete"; doc: number; relation: string; subject: number }
  | { kind: "compact"; budget: number | undefined }
  | { kind: "read"; subject: number };

const RELATIONS = ["viewer", "owner"];
const subjectOf = (n: number): SubjectRef => ({ type: "user", id: n === 0 ? "*" : `u${n}` });
const SUBJECT_IDS = [0, 1, 2].map((n) => subjectOf(n).id);

const rel = (
  doc: number,
  relation: string,
  subject: number,
  caveat = false,
  expires?: number,
): Relationship => ({
  resource: { type: "document", id: `d${doc}` },
  relation,
  subject: subjectOf(subject),
  ...(caveat ? { caveat: { name: "c" } } : {}),
  ...(expires === undefined ? {} : { expiration: new Date(expires) }),
});

const identity = (r: Relationship) => `${r.resource.id}|${r.relation}|${r.subject.id}`;

const query = (subjectIds: readonly string[], relations = RELATIONS) => ({
  resourceType: "document",
  relations,
  subjectType: "user",
  subjectIds,
  subjectRelation: "",
});

/** The relationships of packed reverse rows, each row's slots checked against its relationship. */
function rowsOf(rows: ReverseRows): Relationship[] {
  expect((rows.length - REVERSE_HEAD) % REVERSE_STRIDE).toBe(0);
  const out: Relationship[] = [];
  for (let i = REVERSE_HEAD; i < rows.length; i += REVERSE_STRIDE) {
    const r = rows[i + 2] as Relationship;
    expect(rows[i]).toBe(r.relation);
    expect(rows[i + 1]).toBe(r.resource.id);
    out.push(r);
  }
  // A header may say "caveated" ("expiring") only when a row does; must when one does.
  expect(rows[0]).toBe(out.some((r) => r.caveat !== undefined));
  if (out.some((r) => r.expiration !== undefined)) expect(rows[1]).toBe(true);
  if (rows[1] === true) expect(out.some((r) => r.expiration !== undefined)).toBe(true);
  return out;
}

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("touch" as const),
      doc: fc.nat(1),
      relation: fc.constantFrom(...RELATIONS),
      subject: fc.nat(2),
      caveat: fc.boolean(),
      // Mostly none: a list with an entry that may expire is never kept packed.
      expires: fc.oneof(
        { weight: 9, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(50, 150) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("delete" as const),
      doc: fc.nat(1),
      relation: fc.constantFrom(...RELATIONS),
      subject: fc.nat(2),
    }),
  },
  {
    weight: 2,
    // A budget compacts that many entries only, the rest left as the copy leaves them between slices.
    arbitrary: fc.record({
      kind: fc.constant("compact" as const),
      budget: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("read" as const), subject: fc.nat(2) }) },
);

/** What a reader at `at` sees of `subject`'s relationships, by the naive model. */
const expected = (versions: readonly Version[], subject: string, at: number, now: number) =>
  visible(versions, at, now, (r) => r.subject.id === subject)
    .map(identity)
    .sort();

/** Every reader the index may serve (from the last compaction's floor on) sees what the model says. */
function agrees(
  index: RelationshipIndex,
  versions: readonly Version[],
  floor: number,
  revision: number,
  now: number,
  ids = SUBJECT_IDS,
) {
  // The newest reader first: a read at the current revision is the one that may pack a list.
  for (let at = revision; at >= floor; at--) {
    for (const id of ids) {
      const lists = index.reverseRows(query([id]), at, now);
      expect(lists.length).toBeLessThanOrEqual(1);
      const rows = lists.length === 0 ? [] : rowsOf(lists[0]!);
      expect(rows.map(identity).sort()).toEqual(expected(versions, id, at, now));
      // `reverse` (every other reader of the lists) answers alike, whichever form a list is in.
      expect(index.reverse(query([id]), at, now).map(identity)).toEqual(rows.map(identity));
      expect(index.reverse(query([id], ["owner"]), at, now).map(identity)).toEqual(
        rows.filter((r) => r.relation === "owner").map(identity),
      );
    }
  }
}

describe("RelationshipIndex.reverseRows", () => {
  it("holds what a naive versioned list holds, at every revision a reader may ask, lists packed or not", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.constantFrom(0, 100, 200), (ops, now) => {
        const m = new Replay();
        for (const o of ops) {
          if (o.kind === "compact") m.compact(o.budget);
          else if (o.kind === "read") {
            // Packs the list when every reader sees all of it: later ops then meet the packed form.
            agrees(m.index, m.versions, m.floor, m.revision, now, [subjectOf(o.subject).id]);
          } else
            m.write(
              o.kind,
              o.kind === "touch"
                ? rel(o.doc, o.relation, o.subject, o.caveat, o.expires)
                : rel(o.doc, o.relation, o.subject),
            );
        }
        agrees(m.index, m.versions, m.floor, m.revision, now);
      }),
      {
        numRuns: 1000,
        examples: [
          [
            [
              { kind: "touch", doc: 0, relation: "viewer", subject: 1, caveat: false, expires: undefined },
              { kind: "compact", budget: undefined },
              { kind: "read", subject: 1 },
              { kind: "delete", doc: 0, relation: "viewer", subject: 1 },
            ],
            0,
          ],
        ],
      },
    );
  });

  it("answers several subject ids with one list each, in the order asked, skipping those without entries", () => {
    const index = new RelationshipIndex();
    index.touch(rel(1, "viewer", 1), 1);
    index.touch(rel(2, "viewer", 3), 1);
    index.compact(1);
    const lists = index.reverseRows(query(["u3", "u2", "u1"]), 1, 0);
    expect(lists.map((rows) => rowsOf(rows).map(identity))).toEqual([["d2|viewer|u3"], ["d1|viewer|u1"]]);
  });

  it("packs a list once; a write to one list leaves the others packed while writes go on", () => {
    const index = new RelationshipIndex();
    let revision = 1;
    for (let doc = 0; doc < 20; doc++)
      for (let u = 1; u <= 3; u++) index.touch(rel(doc, "viewer", u), revision);
    index.compact(revision);
    const read = (id: string) => rowsOf(index.reverseRows(query([id]), revision, 0)[0]!).length;
    expect([read("u1"), read("u2"), read("u3")]).toEqual([20, 20, 20]);
    expect(index.reversePacks).toBe(3);
    // Steady writes to u1's list, never compacted: the copy always holds a versioned entry.
    for (let doc = 20; doc < 30; doc++) {
      index.touch(rel(doc, "viewer", 1), ++revision);
      index.delete(rel(doc - 20, "viewer", 1), ++revision);
      expect([read("u1"), read("u2"), read("u3")]).toEqual([20, 20, 20]);
    }
    // u2's and u3's lists were packed once; u1's, holding versioned entries, is packed per read.
    expect(index.reversePacks).toBe(3);
    // A reader older than the writes still sees u1's list as it was.
    expect(rowsOf(index.reverseRows(query(["u1"]), 1, 0)[0]!).map((r) => r.resource.id)).toEqual(
      Array.from({ length: 20 }, (_, doc) => `d${doc}`),
    );
    // Once compacted past the writes, u1's list is packed once more, and kept.
    index.compact(revision);
    expect(read("u1")).toBe(20);
    expect(read("u1")).toBe(20);
    expect(index.reversePacks).toBe(4);
    // A delete in u2's packed list unpacks that list only: a reader before it sees the entry.
    index.delete(rel(0, "viewer", 2), ++revision);
    expect(rowsOf(index.reverseRows(query(["u2"]), revision - 1, 0)[0]!)).toHaveLength(20);
    expect(read("u2")).toBe(19);
    expect(read("u3")).toBe(20);
    expect(index.reversePacks).toBe(4);
  });

  it("never keeps a list packed that has an entry which may expire", () => {
    const index = new RelationshipIndex();
    index.touch(rel(1, "viewer", 1), 1);
    index.touch(rel(2, "viewer", 1, false, 100), 1);
    index.compact(1);
    expect(rowsOf(index.reverseRows(query(["u1"]), 1, 50)[0]!)).toHaveLength(2);
    expect(rowsOf(index.reverseRows(query(["u1"]), 1, 150)[0]!).map(identity)).toEqual(["d1|viewer|u1"]);
    expect(index.reversePacks).toBe(0);
  });
});
