/**
 * The subject's memberships, found once per request by walking upwards with reverse lookups: for
 * `user:u`, the groups it is a member of, then the groups those are members of, and so on (one
 * store call per level). Subject sets that point into membership relations (see `PlanMember.indexed`)
 * are then answered by a set lookup instead of a walk down each group.
 *
 * Only for plain subjects, without contextual relationships, and only when no relationship on the
 * way carries a caveat (else the normal walk, which keeps caveat expressions, answers instead).
 */
import type { Relationship, SubjectRef } from "../core/index.js";
import {
  type MemorySnapshot,
  packReverse,
  REVERSE_HEAD,
  REVERSE_STRIDE,
  type ReverseQuery,
  type ReverseRows,
} from "../store/index.js";
import type { Plan, PlanMember } from "./plan.js";
import type { MembershipIndex, RequestContext } from "./request-context.js";

export type { MembershipIndex } from "./request-context.js";

const MAX_LEVELS = 64;

/** Indexed relations by the subject kind they accept (`type#relation`, "" for plain and wildcard), then resource type. */
type Accepting = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Computed once per plan: every request walking memberships needs the same answer. */
const acceptingByPlan = new WeakMap<Plan, Accepting>();

function acceptingOf(plan: Plan): Accepting {
  const known = acceptingByPlan.get(plan);
  if (known !== undefined) return known;
  const accepting = new Map<string, Map<string, string[]>>();
  for (const def of plan.defs.values()) {
    for (const m of def.members.values()) {
      if (!m.indexed) continue;
      for (const a of m.allowed) {
        const key = `${a.type}#${a.relation ?? ""}`;
        let byType = accepting.get(key);
        if (byType === undefined) {
          byType = new Map();
          accepting.set(key, byType);
        }
        const rels = byType.get(def.name);
        if (rels === undefined) byType.set(def.name, [m.name]);
        else if (!rels.includes(m.name)) rels.push(m.name);
      }
    }
  }
  acceptingByPlan.set(plan, accepting);
  return accepting;
}

export async function buildMembershipIndex(ctx: RequestContext): Promise<MembershipIndex | null> {
  if (ctx.subject.relation !== undefined || ctx.contextual !== undefined) return null;
  const walk = membershipWalk(ctx.plan, ctx.subject);
  let step = walk.next();
  while (step.done !== true) step = walk.next([packReverse(await ctx.reader.lookupReverse(step.value))]);
  return step.value;
}

/**
 * The same, read synchronously from a snapshot (a plain subject, no contextual relationships);
 * undefined when a partial snapshot does not hold a relation the walk reads.
 */
export function snapshotMembershipIndex(
  plan: Plan,
  subject: SubjectRef,
  snapshot: MemorySnapshot,
): MembershipIndex | null | undefined {
  if (subject.relation !== undefined) return null;
  const walk = membershipWalk(plan, subject);
  let step = walk.next();
  while (step.done !== true) {
    const rows = readReverse(snapshot, step.value);
    if (rows === undefined) return undefined;
    step = walk.next(rows);
  }
  return step.value;
}

/** The snapshot's packed reverse rows (see ReverseRows), or its relationships packed here. */
function readReverse(snapshot: MemorySnapshot, query: ReverseQuery): readonly ReverseRows[] | undefined {
  if (snapshot.reverseRows !== undefined) return snapshot.reverseRows(query);
  const rows = snapshot.lookupReverse(query);
  return rows === undefined ? undefined : [packReverse(rows)];
}

/**
 * The walk upwards, level by level, as a generator of the reverse queries it needs: each driver
 * above answers them its own way (awaiting the store, or from a snapshot).
 */
function* membershipWalk(
  plan: Plan,
  subject: SubjectRef,
): Generator<ReverseQuery, MembershipIndex | null, readonly ReverseRows[]> {
  const accepting = acceptingOf(plan);
  const members = new Map<PlanMember, Map<string, Relationship>>();
  let validUntil = Number.POSITIVE_INFINITY;
  let levels = 0;
  // Ids in a frontier are distinct: each reaches it once, when first added to `members`.
  let frontier = new Map<string, string[]>([[`${subject.type}#`, [subject.id, "*"]]]);
  for (let level = 0; frontier.size > 0; level++) {
    if (level >= MAX_LEVELS) return null;
    const next = new Map<string, string[]>();
    for (const [kind, ids] of frontier) {
      const hash = kind.indexOf("#");
      const subjectType = kind.slice(0, hash);
      const subjectRelation = kind.slice(hash + 1);
      for (const [resourceType, relations] of accepting.get(kind) ?? []) {
        const found = yield { resourceType, relations, subjectType, subjectIds: ids, subjectRelation };
        const defMembers = plan.defs.get(resourceType)?.members;
        if (defMembers === undefined) continue;
        for (const rows of found) {
          const caveated = rows[0] === true;
          const expiring = rows[1] === true;
          // Rows of every relation of the list: the walk keeps those it asked for.
          for (let i = REVERSE_HEAD; i < rows.length; i += REVERSE_STRIDE) {
            const relation = rows[i] as string;
            if (!relations.includes(relation)) continue;
            // The Relationship itself is read only when a header says a row may need it.
            const r = rows[i + 2] as Relationship;
            if (caveated && r.caveat !== undefined) return null;
            if (expiring && r.expiration !== undefined)
              validUntil = Math.min(validUntil, r.expiration.getTime());
            const member = defMembers.get(relation);
            if (member === undefined) continue;
            let ids = members.get(member);
            if (ids === undefined) {
              ids = new Map();
              members.set(member, ids);
            }
            const id = rows[i + 1] as string;
            // The first to reach it, from the level before: following these back always ends at the subject.
            if (ids.has(id)) continue;
            ids.set(id, r);
            levels = level + 1;
            // A member's label is its kind, `type#relation`: the next level asks who is in it.
            const list = next.get(member.label);
            if (list === undefined) next.set(member.label, [id]);
            else list.push(id);
          }
        }
      }
    }
    frontier = next;
  }
  return { members, validUntil, levels };
}
