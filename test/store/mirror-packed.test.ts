/**
 * The packed rows the synchronous walk reads (`packedOf`, see PackedRows) against a naive model of
 * the index's versioned relationships, on random writes, deletes, expirations and compactions: the
 * same relationships as `relationshipsOf` in the same order, and the right header (`expiring`,
 * `caveated`: see PackedHead).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Relationship, SubjectRef } from "../../src/core/index.js";
import {
  headOf,
  PACKED_HEAD,
  PACKED_KEY,
  PACKED_RELATIONSHIP,
  PACKED_STRIDE,
  PACKED_SUBJECT,
  type PackedRows,
  subjectKey,
} from "../../src/store/index.js";
import { RelationshipIndex } from "../../src/store/mirror/relationship-index.js";
import { Replay, type Version, visible } from "./versioned-model.js";

type Op =
  | {
      kind: "touch";
      doc: number;
      relation: string;
      subject: number;
      set: boolean;
      expires: number | undefined;
      caveated: boolean;
    }
  | { kind: "delete"; doc: number; relation: string; subject: number; set: boolean }
  | { kind: "compact"; budget: number | undefined };

const subjectOf = (n: number, set: boolean): SubjectRef =>
  set ? { type: "group", id: `g${n}`, relation: "member" } : { type: "user", id: n === 0 ? "*" : `u${n}` };

const rel = (
  doc: number,
  relation: string,
  subject: number,
  set: boolean,
  expires?: number,
  caveated = false,
): Relationship => ({
  resource: { type: "document", id: `d${doc}` },
  relation,
  subject: subjectOf(subject, set),
  ...(expires === undefined ? {} : { expiration: new Date(expires) }),
  ...(caveated ? { caveat: { name: "in_window", context: {} } } : {}),
});

const identity = (r: Relationship) =>
  `${r.resource.id}|${r.relation}|${r.subject.type}:${r.subject.id}#${r.subject.relation ?? ""}`;

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("touch" as const),
      doc: fc.nat(3),
      relation: fc.constantFrom("viewer", "owner", "parent"),
      subject: fc.nat(5),
      set: fc.boolean(),
      expires: fc.option(fc.constantFrom(50, 150), { nil: undefined }),
      caveated: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("delete" as const),
      doc: fc.nat(3),
      relation: fc.constantFrom("viewer", "owner", "parent"),
      subject: fc.nat(5),
      set: fc.boolean(),
    }),
  },
  {
    weight: 1,
    // A budget compacts that many entries only, the rest left as the copy leaves them between slices.
    arbitrary: fc.record({
      kind: fc.constant("compact" as const),
      budget: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    }),
  },
);

function rowsOf(packed: PackedRows): Relationship[] {
  expect((packed.length - PACKED_HEAD) % PACKED_STRIDE).toBe(0);
  const out: Relationship[] = [];
  for (let i = PACKED_HEAD; i < packed.length; i += PACKED_STRIDE) {
    const r = packed[i + PACKED_RELATIONSHIP] as Relationship;
    expect(packed[i]).toBe(r.relation);
    expect(packed[i + PACKED_KEY]).toBe(subjectKey(r.subject));
    expect(packed[i + PACKED_SUBJECT]).toBe(r.subject);
    out.push(r);
  }
  return out;
}

/** The index and the naive model after `ops`, `read` called after each op with where they stand. */
function replay(
  ops: readonly Op[],
  read?: (index: RelationshipIndex, versions: readonly Version[], revision: number, floor: number) => void,
) {
  const model = new Replay();
  for (const o of ops) {
    if (o.kind === "compact") model.compact(o.budget);
    else
      model.write(
        o.kind,
        o.kind === "touch"
          ? rel(o.doc, o.relation, o.subject, o.set, o.expires, o.caveated)
          : rel(o.doc, o.relation, o.subject, o.set),
      );
    read?.(model.index, model.versions, model.revision, model.floor);
  }
  return model;
}

describe("RelationshipIndex.packedOf", () => {
  it("holds what a naive versioned list holds, at every revision a reader may ask", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.constantFrom(0, 100, 200), (ops, now) => {
        const { index, versions, revision, floor } = replay(ops);
        for (let at = floor; at <= revision; at++) expectPacked(index, versions, at, now);
      }),
      { numRuns: 300 },
    );
  });

  it("holds it when reads come between the writes (what a revision read before sees of a list is kept)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.constantFrom(0, 100, 200), (ops, now) => {
        const { index, versions, revision, floor } = replay(ops, (index, versions, revision, floor) => {
          // A reader reads at a revision the copy has applied, never ahead of it.
          expectPacked(index, versions, revision, now);
          expectPacked(index, versions, floor, now);
        });
        for (let at = floor; at <= revision; at++) expectPacked(index, versions, at, now);
      }),
      { numRuns: 300 },
    );
  });
});

describe("RelationshipIndex.packedOf, one revision read at two clocks", () => {
  // What a revision sees of a list is kept between reads at that revision, but an expiring row
  // leaves the answer when the clock passes its expiration, at the same revision: a list holding
  // one may not be served from what an earlier clock saw. (The property tests fix the clock per run.)
  const expiring = rel(0, "viewer", 1, false, 150);
  const young = rel(0, "owner", 2, false);

  it("drops an expired row from a list with a young (versioned) entry, at the same revision", () => {
    const index = new RelationshipIndex();
    index.touch(expiring, 1);
    index.compact(1);
    index.touch(young, 2); // written after the last compaction: versioned
    const before = index.packedOf("document", "d0", 2, 100);
    expect(rowsOf(before).map(identity).sort()).toEqual([identity(expiring), identity(young)].sort());
    expect(headOf(before).expiring).toBe(true);
    const after = index.packedOf("document", "d0", 2, 200);
    expect(rowsOf(after).map(identity)).toEqual([identity(young)]);
    expect(headOf(after).expiring).toBe(false);
    expect(index.relationshipsOf("document", "d0", 2, 200).map(identity)).toEqual([identity(young)]);
  });

  it("drops it when the expiring entry is itself the young one", () => {
    const index = new RelationshipIndex();
    index.touch(young, 1);
    index.touch(expiring, 2);
    expect(
      rowsOf(index.packedOf("document", "d0", 2, 100))
        .map(identity)
        .sort(),
    ).toEqual([identity(expiring), identity(young)].sort());
    expect(rowsOf(index.packedOf("document", "d0", 2, 200)).map(identity)).toEqual([identity(young)]);
  });

  it("still serves the kept answer for a list without an expiration (and the same rows again)", () => {
    const index = new RelationshipIndex();
    index.touch(rel(0, "viewer", 1, false), 1);
    index.compact(1);
    index.touch(young, 2);
    const first = index.packedOf("document", "d0", 2, 100);
    const again = index.packedOf("document", "d0", 2, 200);
    // Kept: the same array, since nothing in it depends on the clock.
    expect(again).toBe(first);
    expect(rowsOf(again).map(identity).sort()).toEqual(
      [identity(rel(0, "viewer", 1, false)), identity(young)].sort(),
    );
    // A reader at the older revision does not see the young entry.
    expect(rowsOf(index.packedOf("document", "d0", 1, 100)).map(identity)).toEqual([
      identity(rel(0, "viewer", 1, false)),
    ]);
  });
});

function expectPacked(index: RelationshipIndex, versions: readonly Version[], at: number, now: number): void {
  for (let doc = 0; doc <= 3; doc++) {
    const packed = index.packedOf("document", `d${doc}`, at, now);
    const rows = rowsOf(packed);
    const expected = visible(versions, at, now, (r) => r.resource.id === `d${doc}`)
      .map(identity)
      .sort();
    expect(rows.map(identity).sort()).toEqual(expected);
    expect(rows.map(identity)).toEqual(index.relationshipsOf("document", `d${doc}`, at, now).map(identity));
    // The header may say "expiring" only when a row carries an expiration; must when one does.
    // The same of "caveated" and a caveat: the walk reads no row's caveat when it says none.
    const head = headOf(packed);
    expect(head.expiring).toBe(rows.some((r) => r.expiration !== undefined));
    expect(head.caveated).toBe(rows.some((r) => r.caveat !== undefined));
  }
}
