/**
 * The subject's membership index (membership-index.ts) has two drivers of one walk upwards: read
 * from the copy's snapshot on the same turn, or awaited from the store's reverse lookups. Both must
 * build the same index (members with the relationship that reached each, levels, earliest
 * expiration) and give up alike: past 64 levels of groups, and at a caveated membership.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship, type Relationship } from "../../src/core/index.js";
import {
  buildMembershipIndex,
  type MembershipIndex,
  snapshotMembershipIndex,
} from "../../src/engine/membership-index.js";
import type { RequestContext } from "../../src/engine/request-context.js";
import { createMemoryStore } from "./memory-store.js";
import { walkSetting } from "./walk-setting.js";

const SCHEMA = `
use expiration
caveat in_window(hour int) { hour < 18 }
definition user {}
definition group {
  relation member: user | user:* | group#member | user with in_window | user with expiration | group#member with expiration
}
definition document {
  relation viewer: group#member
  permission view = viewer
}
`;

/** Both drivers' index of `user:u` over a copy holding `lines`. */
async function indexesOf(lines: readonly string[]) {
  const store = await createMemoryStore({ snapshots: true });
  await store.writeSchema(SCHEMA);
  await store.write(lines.map((l) => ({ operation: "touch", relationship: parseRelationship(l) })));
  const { revision, plan, snapshot } = await walkSetting(store);
  const subject = { type: "user", id: "u" };
  const fromSnapshot = snapshotMembershipIndex(plan, subject, snapshot);
  // What the awaited driver reads of a request's context: its plan, subject and store reader.
  const reader = store.at(revision);
  const ctx = { plan, subject, contextual: undefined, reader } as unknown as RequestContext;
  const fromStore = await buildMembershipIndex(ctx);
  return { fromSnapshot, fromStore };
}

/** An index as plain data: each member's ids with the relationship that reached it, sorted. */
function plain(index: MembershipIndex | null | undefined) {
  if (index === null || index === undefined) return index;
  const members: Record<string, [string, string][]> = {};
  for (const [member, ids] of index.members)
    members[member.label] = [...ids]
      .map(([id, r]: [string, Relationship]) => [id, text(r)] as [string, string])
      .sort();
  return { members, levels: index.levels, validUntil: index.validUntil };
}

const text = (r: Relationship) =>
  `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}${r.subject.relation === undefined ? "" : `#${r.subject.relation}`}`;

/** `user:u` in g0, g0's members in g1, and so on: `n` levels of groups. */
const chain = (n: number) => [
  "group:g0#member@user:u",
  ...Array.from({ length: n - 1 }, (_, i) => `group:g${i + 1}#member@group:g${i}#member`),
];

describe("the membership index's two drivers", () => {
  it("build the same index, each group reached by the relationship one level below it", async () => {
    const { fromSnapshot, fromStore } = await indexesOf([
      ...chain(3),
      "group:h#member@user:u",
      "group:g2#member@group:h#member",
      "group:other#member@user:v",
    ]);
    expect(plain(fromSnapshot)).toEqual(plain(fromStore));
    expect(plain(fromSnapshot)).toEqual({
      members: {
        "group#member": [
          ["g0", "group:g0#member@user:u"],
          ["g1", "group:g1#member@group:g0#member"],
          // First reached from h at level 2, not again from g1 at level 3.
          ["g2", "group:g2#member@group:h#member"],
          ["h", "group:h#member@user:u"],
        ],
      },
      levels: 2,
      validUntil: Number.POSITIVE_INFINITY,
    });
  });

  it("find wildcard memberships and the earliest expiration on the way", async () => {
    const { fromSnapshot, fromStore } = await indexesOf([
      "group:all#member@user:*",
      "group:g0#member@user:u[expiration:2999-01-01T00:00:00Z]",
      "group:g1#member@group:g0#member[expiration:2998-01-01T00:00:00Z]",
      "group:later#member@group:all#member[expiration:2999-06-01T00:00:00Z]",
    ]);
    expect(plain(fromSnapshot)).toEqual(plain(fromStore));
    const index = plain(fromSnapshot);
    expect(index?.members["group#member"]?.map(([id]) => id)).toEqual(["all", "g0", "g1", "later"]);
    expect(index?.validUntil).toBe(Date.parse("2998-01-01T00:00:00Z"));
  });

  it("give up at a caveated membership", async () => {
    const { fromSnapshot, fromStore } = await indexesOf([...chain(2), "group:c#member@user:u[in_window]"]);
    expect(fromSnapshot).toBeNull();
    expect(fromStore).toBeNull();
  });

  it("walk 63 levels of groups and give up at 64", async () => {
    const deep = await indexesOf(chain(63));
    expect(plain(deep.fromSnapshot)).toEqual(plain(deep.fromStore));
    expect(deep.fromSnapshot?.levels).toBe(63);
    expect(deep.fromSnapshot?.members.values().next().value?.size).toBe(63);
    const tooDeep = await indexesOf(chain(64));
    expect(tooDeep.fromSnapshot).toBeNull();
    expect(tooDeep.fromStore).toBeNull();
  });
});
