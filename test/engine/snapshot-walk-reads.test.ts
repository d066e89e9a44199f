/**
 * What the in-memory walk reads to answer (snapshot-walk.ts), beyond what it answers (walks-agree
 * and the property tests check that): a relation's rows naming the subject are tried before its
 * subject sets, so a direct grant asks for no memberships of the subject (reverse reads of the
 * copy's largest maps); and a relation whose rows carry no caveat grants without reading them.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import {
  type MemorySnapshot,
  PACKED_HEAD,
  PACKED_RELATIONSHIP,
  PACKED_STRIDE,
  PACKED_SUBJECT,
  type ReverseQuery,
  subjectKey,
} from "../../src/store/index.js";
import { createMemoryStore } from "./memory-store.js";
import { walkSetting } from "./walk-setting.js";

const SCHEMA = `
caveat in_window(hour int) { hour < 18 }
definition user {}
definition group {
  relation member: user | group#member
}
definition folder {
  relation viewer: user
  permission view = viewer
}
definition document {
  relation viewer: user | group#member | user with in_window
  relation parent: folder | folder with in_window
  permission view = viewer
  permission via_parent = parent->view
}
`;

/**
 * A walk for `subject` over a copy holding `lines`, with the snapshot's reverse reads counted; the
 * document's `permission`, and the snapshot itself (uncounted).
 */
async function walkOver(lines: readonly string[], subject: string, permission = "view") {
  const store = await createMemoryStore({ snapshots: true });
  await store.writeSchema(SCHEMA);
  await store.write(lines.map((l) => ({ operation: "touch", relationship: parseRelationship(l) })));
  const { revision, plan, deps, snapshot } = await walkSetting(store);
  if (snapshot.packedOf === undefined || snapshot.reverseRows === undefined)
    throw new Error("the copy's snapshot packs no rows");
  const reads = { reverse: 0, relationships: 0, subjects: 0 };
  // Each row's Relationship (its last slot) and subject counted when the walk reads a field of them.
  const countedRow = (v: unknown, i: number) => {
    const slot = (i - PACKED_HEAD) % PACKED_STRIDE;
    if (i < PACKED_HEAD || (slot !== PACKED_RELATIONSHIP && slot !== PACKED_SUBJECT)) return v;
    const field = slot === PACKED_RELATIONSHIP ? "relationships" : "subjects";
    return new Proxy(v as object, {
      get(target, p, receiver) {
        reads[field]++;
        return Reflect.get(target, p, receiver);
      },
    });
  };
  const counted: MemorySnapshot = {
    relationshipsOf: (type, id) => snapshot.relationshipsOf(type, id),
    lookupReverse: (query: ReverseQuery) => {
      reads.reverse++;
      return snapshot.lookupReverse(query);
    },
    packedOf: (type, id) => snapshot.packedOf!(type, id).map(countedRow),
    reverseRows: (query: ReverseQuery) => {
      reads.reverse++;
      return snapshot.reverseRows!(query);
    },
  };
  const [type, id] = subject.split(":") as [string, string];
  const walk = deps.snapshotWalk(plan, revision, counted, { type, id }, subject);
  const view = plan.defs.get("document")!.members.get(permission)!;
  return { walk, view, reads, snapshot };
}

describe("the in-memory walk's reads", () => {
  it("answers a direct grant listed after a subject set without the subject's memberships", async () => {
    const { walk, view, reads, snapshot } = await walkOver(
      ["group:eng#member@user:bob", "document:d1#viewer@group:eng#member", "document:d1#viewer@user:alice"],
      "user:alice",
    );
    // The premise: the copy keeps write order, so the subject set is the first row (its subject
    // at PACKED_SUBJECT, after the row's relation and subject key: packed-rows.ts) and the grant after.
    const rows = snapshot.packedOf!("document", "d1");
    expect(rows[PACKED_HEAD + PACKED_SUBJECT]).toEqual({ type: "group", id: "eng", relation: "member" });
    expect(rows[PACKED_HEAD + PACKED_STRIDE + PACKED_SUBJECT]).toEqual({ type: "user", id: "alice" });
    expect(walk.check(view, "d1")).toBe(true);
    expect(reads.reverse).toBe(0);
    // No row carries a caveat (the rows' header says so): the granting row's Relationship is not read.
    expect(reads.relationships).toBe(0);
  });

  it("still finds a grant through the subject set, by the subject's memberships", async () => {
    const { walk, view, reads } = await walkOver(
      ["group:eng#member@user:bob", "document:d1#viewer@group:eng#member", "document:d1#viewer@user:alice"],
      "user:bob",
    );
    expect(walk.check(view, "d1")).toBe(true);
    expect(reads.reverse).toBeGreaterThan(0);
  });

  it("keeps a direct grant's caveat, and a plain grant through a set after it decides", async () => {
    const caveated = await walkOver(
      ["document:d1#viewer@user:alice[in_window]", "document:d1#viewer@user:carol"],
      "user:alice",
    );
    expect(caveated.walk.check(caveated.view, "d1")).toMatchObject({ op: "caveat", name: "in_window" });
    expect(caveated.reads.relationships).toBeGreaterThan(0);
    const both = await walkOver(
      [
        "document:d1#viewer@user:alice[in_window]",
        "document:d1#viewer@group:eng#member",
        "group:eng#member@user:alice",
      ],
      "user:alice",
    );
    expect(both.walk.check(both.view, "d1")).toBe(true);
  });

  it("follows `->` without reading the parent rows unless one carries a caveat, and keeps that caveat", async () => {
    const plain = await walkOver(
      ["document:d1#parent@folder:f1", "folder:f1#viewer@user:alice"],
      "user:alice",
      "via_parent",
    );
    expect(plain.walk.check(plain.view, "d1")).toBe(true);
    // Neither the parent row's Relationship nor the folder's viewer row's is read.
    expect(plain.reads.relationships).toBe(0);
    const caveated = await walkOver(
      ["document:d1#parent@folder:f1[in_window]", "folder:f1#viewer@user:alice"],
      "user:alice",
      "via_parent",
    );
    expect(caveated.walk.check(caveated.view, "d1")).toMatchObject({ op: "caveat", name: "in_window" });
    expect(caveated.reads.relationships).toBeGreaterThan(0);
  });

  it("reads a plain row's subject only when the row's key may be the subject's", async () => {
    const { walk, view, reads } = await walkOver(
      ["document:d1#viewer@user:bob", "document:d1#viewer@user:carol", "document:d1#viewer@user:alice"],
      "user:alice",
    );
    expect(walk.check(view, "d1")).toBe(true);
    // Three reads of alice's subject (relation, type, id), none of bob's or carol's.
    expect(reads.subjects).toBe(3);
  });

  it("tells apart two subjects whose keys are equal", async () => {
    // Two ids with the same key (a 28-bit hash: a pair turns up among a few ten thousand ids).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const id = `u${i}`;
      const key = subjectKey({ type: "user", id });
      const other = seen.get(key);
      if (other !== undefined) pair = [other, id];
      seen.set(key, id);
    }
    const [holder, other] = pair;
    const { walk, view, reads } = await walkOver([`document:d1#viewer@user:${holder}`], `user:${other}`);
    expect(walk.check(view, "d1")).toBe(false);
    // The key let it through to the subject, which said no.
    expect(reads.subjects).toBeGreaterThan(0);
  });
});
