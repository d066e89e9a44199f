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

/**
 * One way up from a subject kind (`type#relation`): a resource type whose indexed relations
 * accept it, with the kind's parts and the type's members split out once per plan rather than
 * per request.
 */
interface Upward {
  readonly resourceType: string;
  readonly relations: readonly string[];
  readonly subjectType: string;
  readonly subjectRelation: string;
  /** The resource type's members by relation name (undefined: no such definition). */
  readonly members: ReadonlyMap<string, PlanMember> | undefined;
}

/** The ways up from each subject kind that some indexed relation accepts ("" relation for plain and wildcard). */
type Accepting = ReadonlyMap<string, readonly Upward[]>;

/** Computed once per plan: every request walking memberships needs the same answer. */
const acceptingByPlan = new WeakMap<Plan, Accepting>();

function acceptingOf(plan: Plan): Accepting {
  const known = acceptingByPlan.get(plan);
  if (known !== undefined) return known;
  const relationsByKind = new Map<string, Map<string, string[]>>();
  for (const def of plan.defs.values()) {
    for (const m of def.members.values()) {
      if (!m.indexed) continue;
      for (const a of m.allowed) {
        const kind = `${a.type}#${a.relation ?? ""}`;
        let byType = relationsByKind.get(kind);
        if (byType === undefined) {
          byType = new Map();
          relationsByKind.set(kind, byType);
        }
        const rels = byType.get(def.name);
        if (rels === undefined) byType.set(def.name, [m.name]);
        else if (!rels.includes(m.name)) rels.push(m.name);
      }
    }
  }
  const accepting = new Map<string, Upward[]>();
  for (const [kind, byType] of relationsByKind) {
    const hash = kind.indexOf("#");
    const subjectType = kind.slice(0, hash);
    const subjectRelation = kind.slice(hash + 1);
    const ups: Upward[] = [];
    for (const [resourceType, relations] of byType)
      ups.push({
        resourceType,
        relations,
        subjectType,
        subjectRelation,
        members: plan.defs.get(resourceType)?.members,
      });
    accepting.set(kind, ups);
  }
  acceptingByPlan.set(plan, accepting);
  return accepting;
}

export async function buildMembershipIndex(ctx: RequestContext): Promise<MembershipIndex | null> {
  if (ctx.subject.relation !== undefined || ctx.contextual !== undefined) return null;
  const walk = new MembershipWalk(acceptingOf(ctx.plan), ctx.subject);
  for (let queries = walk.level(); queries !== undefined; queries = walk.level()) {
    if (queries === null) return null;
    for (let i = 0; i < queries.length; i++) {
      const rows = packReverse(await ctx.reader.lookupReverse(queries[i]!));
      if (!walk.take(i, rows)) return null;
    }
  }
  return walk.index();
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
  const walk = new MembershipWalk(acceptingOf(plan), subject);
  for (let queries = walk.level(); queries !== undefined; queries = walk.level()) {
    if (queries === null) return null;
    for (let i = 0; i < queries.length; i++) {
      const found = readReverse(snapshot, queries[i]!);
      if (found === undefined) return undefined;
      for (const rows of found) if (!walk.take(i, rows)) return null;
    }
  }
  return walk.index();
}

/** The snapshot's packed reverse rows (see ReverseRows), or its relationships packed here. */
function readReverse(snapshot: MemorySnapshot, query: ReverseQuery): readonly ReverseRows[] | undefined {
  if (snapshot.reverseRows !== undefined) return snapshot.reverseRows(query);
  const rows = snapshot.lookupReverse(query);
  return rows === undefined ? undefined : [packReverse(rows)];
}

/**
 * The walk upwards, level by level: `level` gives the reverse queries of the next level, each
 * driver above answers them its own way (awaiting the store, or from a snapshot) and hands the
 * rows to `take`. A class rather than a generator: a generator's resumption and result objects
 * were a fifth of an uncached check's profile, and the kinds' names were split per request.
 */
class MembershipWalk {
  private readonly members = new Map<PlanMember, Map<string, Relationship>>();
  private validUntil = Number.POSITIVE_INFINITY;
  private levels = 0;
  private depth = 0;
  /**
   * The kinds reached at the last level and their ids (parallel lists: a level holds a few kinds).
   * Ids in a frontier are distinct: each reaches it once, when first added to `members`.
   */
  private kinds: string[];
  private ids: string[][];
  /** The level's new kinds and ids (`reach`), the frontier of the next. */
  private nextKinds: string[] = [];
  private nextIds: string[][] = [];

  /** The ways up of the current level's queries, by query. */
  private ups: Upward[] = [];

  constructor(
    private readonly accepting: Accepting,
    subject: SubjectRef,
  ) {
    this.kinds = [`${subject.type}#`];
    this.ids = [[subject.id, "*"]];
  }

  /** The next level's queries; undefined when the walk is done, null when it went too deep. */
  level(): ReverseQuery[] | null | undefined {
    if (this.depth > 0) this.advance();
    if (this.kinds.length === 0) return undefined;
    if (this.depth >= MAX_LEVELS) return null;
    this.depth++;
    const queries: ReverseQuery[] = [];
    const ups: Upward[] = [];
    for (let k = 0; k < this.kinds.length; k++) {
      const subjectIds = this.ids[k]!;
      for (const up of this.accepting.get(this.kinds[k]!) ?? NO_WAY_UP) {
        const { resourceType, relations, subjectType, subjectRelation } = up;
        queries.push({ resourceType, relations, subjectType, subjectIds, subjectRelation });
        ups.push(up);
      }
    }
    this.ups = ups;
    this.kinds = [];
    this.ids = [];
    return queries;
  }

  /** The rows found for query `i` of this level; false when one carries a caveat (no index then). */
  take(i: number, rows: ReverseRows): boolean {
    const { relations, members } = this.ups[i]!;
    if (members === undefined) return true;
    const caveated = rows[0] === true;
    const expiring = rows[1] === true;
    // Rows of every relation of the list: the walk keeps those it asked for.
    for (let r = REVERSE_HEAD; r < rows.length; r += REVERSE_STRIDE) {
      const relation = rows[r] as string;
      if (!relations.includes(relation)) continue;
      // The Relationship itself is read only when a header says a row may need it.
      const row = rows[r + 2] as Relationship;
      if (caveated && row.caveat !== undefined) return false;
      if (expiring && row.expiration !== undefined)
        this.validUntil = Math.min(this.validUntil, row.expiration.getTime());
      const member = members.get(relation);
      if (member !== undefined) this.reach(member, rows[r + 1] as string, row);
    }
    return true;
  }

  index(): MembershipIndex {
    return { members: this.members, validUntil: this.validUntil, levels: this.levels };
  }

  /** `id` is in `member`, by `row`: kept unless reached before, and asked about at the next level. */
  private reach(member: PlanMember, id: string, row: Relationship): void {
    let ids = this.members.get(member);
    if (ids === undefined) {
      ids = new Map();
      this.members.set(member, ids);
    }
    // The first to reach it, from the level before: following these back always ends at the subject.
    if (ids.has(id)) return;
    ids.set(id, row);
    this.levels = this.depth;
    // A member's label is its kind, `type#relation`: the next level asks who is in it.
    const k = this.nextKinds.indexOf(member.label);
    if (k < 0) {
      this.nextKinds.push(member.label);
      this.nextIds.push([id]);
    } else this.nextIds[k]!.push(id);
  }

  private advance(): void {
    this.kinds = this.nextKinds;
    this.ids = this.nextIds;
    this.nextKinds = [];
    this.nextIds = [];
  }
}

const NO_WAY_UP: readonly Upward[] = [];
