/**
 * Check over an in-memory snapshot (see `StoreReader.snapshot`): depth first and synchronous.
 * When every relationship is in memory, the batched evaluator's promises, frames, keys and
 * per-level maps cost more than the reads themselves; this walk makes none of them. Its answers
 * are the batched evaluator's memberships (yes, or a caveat expression), built by the same
 * operators (operators.ts). It says "unknown" where the batched evaluator must answer instead:
 *
 * - a cycle: a subproblem met again on its own path (the batched evaluator cuts it, exactly, or
 *   through an exclusion carries it as the `unstratified` leaf: membership.ts);
 * - a remembered answer that needed more hops than are left where it is met again (see
 *   walk-stack.ts: depth is counted in dispatch hops exactly as the batched evaluator counts it);
 * - a walk longer than its step budget, which bounds the time it blocks the event loop.
 *
 * Subproblem answers are remembered for the walk's life: one walk serves every item of a bulk
 * check that has the same subject.
 *
 * A witnessing walk (`witness`, only when a request asks) also keeps each answer's proof (see
 * witness.ts, and operators.ts for what each operator contributes); a subject set the subject's
 * memberships say it is in is proved by the path they were found through (`indexProof`), with no
 * walk down. A plain walk only tests the flag: it allocates nothing for proofs.
 */
import type { Relationship, SubjectRef } from "../core/index.js";
import {
  headOf,
  KEY_SET,
  KEY_WILDCARD,
  type MemorySnapshot,
  PACKED_HEAD,
  PACKED_KEY,
  PACKED_RELATIONSHIP,
  PACKED_STRIDE,
  PACKED_SUBJECT,
  type PackedRows,
  packRows,
  subjectKey,
} from "../store/index.js";
import { type Member, tooDeep } from "./membership.js";
import type { MembershipIndex } from "./membership-index.js";
import {
  arrowDone,
  arrowProof,
  arrowStep,
  computedHop,
  exclusion,
  exclusionDone,
  exclusionProof,
  fromIndex,
  grantsDirectly,
  INTERSECTION_START,
  indexFits,
  indexProof,
  intersectionDone,
  intersectionProof,
  intersectionStep,
  isSelf,
  rowProof,
  throughRow,
  UNION_START,
  unionDone,
  unionProof,
  unionStep,
} from "./operators.js";
import type { Plan, PlanDef, PlanMember, PlanNode } from "./plan.js";
import type { Proof, ProofJoin } from "./witness.js";

/** Steps (subproblems computed) one walk may take before it gives up: bounds the time it blocks. */
const STEP_BUDGET = 20_000;

/** A walk's answer: a membership, `false` for none, undefined when the walk cannot tell. */
export type WalkAnswer = Member | false | undefined;

/**
 * Memo entries: a membership, `NO`, `ON_PATH` while it is being computed; in a witnessing walk also
 * a plain yes's proof, or any other answer with its proof (see `has`).
 */
const NO = null;
const ON_PATH = 0;

/**
 * A witnessing walk's memo entry for a caveat expression (with its proof, if any) or a no that has
 * a proof (an exclusion's or `.all()`'s), kept in the memo itself: one small object, no map of
 * proofs beside it. A plain yes keeps its proof bare (see `has`); most answers have none.
 */
class ProvedEntry {
  constructor(
    readonly m: Member | undefined,
    readonly proof: Proof,
  ) {}
}

type MemoEntry = Member | typeof NO | typeof ON_PATH | ProvedEntry | Relationship | ProofJoin;

/**
 * A memo slot's fields: its entry; the height it needed (it stands for a fresh walk only where it
 * fits); the member it answers; the next slot of the same object (-1: none).
 */
const ENTRY = 0;
const HEIGHT = 1;
const OWNER = 2;
const NEXT = 3;

/** The walk's last object read before it reads one: none. */
const NO_ROWS: PackedRows = packRows([]);

/** Thrown inside the walk when it cannot answer exactly; caught at its entry point. */
const UNKNOWN: unique symbol = Symbol("unknown");

export class SnapshotWalk {
  /** Earliest expiration among the relationships the walk looked at (ms; Infinity: none). */
  validUntil = Number.POSITIVE_INFINITY;
  /** Subproblems computed, for the engine's statistics. */
  steps = 0;
  /** Dispatch hops the last answer needed (see walk-stack.ts), kept with it in the shared cache. */
  height = 1;
  private budget = STEP_BUDGET;
  /**
   * The memo: an object id to the first of its slots, one slot per member of that object met,
   * chained by NEXT (an object is met as few members: the chain is short). One map for the walk,
   * set once per object: an answer, its height and its member are kept in the slot, not in maps
   * made per member per walk and set again as the entry changes. The first object met (its first
   * slot is 0) is kept beside the map, which is made only when a second object is met: many walks
   * read one object.
   */
  private firstId: string | undefined;
  private memo: Map<string, number> | undefined;
  /**
   * The slots, four fields each (ENTRY, HEIGHT, OWNER, NEXT) in one array: one backing store
   * a walk, where an array per field made four. Most walks are short, and what a check allocates
   * sets how often the young generation is collected, a collection that visits every page of the
   * heap: the larger the copy, the dearer each one.
   */
  private readonly slots: unknown[] = [];
  /** Deepest hop the subproblem being computed has needed so far. */
  private deepest = 0;
  /** The subject's memberships once asked for; null: none. */
  private index: MembershipIndex | null | undefined;
  // The last object read: a member's parts read one object several times in a row.
  private lastDef: PlanDef | undefined;
  private lastId = "";
  private lastRows: PackedRows = NO_ROWS;

  /** In a witnessing walk, the proof of the answer just returned. */
  private proof: Proof;
  /**
   * The subject's key (see `subjectKey`) when it is a plain subject: a plain row whose key is
   * neither this nor a wildcard's names someone else, and the walk reads no more of it. -1 (no
   * row's key) for a subject set, which no plain row grants.
   */
  private readonly key: number;

  constructor(
    private readonly plan: Plan,
    private readonly snapshot: MemorySnapshot,
    private readonly subject: SubjectRef,
    private readonly maxDepth: number,
    /**
     * The subject's memberships (see membership-index.ts), asked for at most once; null: none;
     * undefined: a partial snapshot cannot tell.
     */
    private readonly membershipIndex: () => MembershipIndex | null | undefined,
    /** Keep each answer's proof (see `witness`). */
    private readonly witnessing = false,
  ) {
    this.key = subject.relation === undefined ? subjectKey(subject) : -1;
  }

  /** The proof of the last answer `check` gave, in a witnessing walk. */
  witness(): Proof {
    return this.proof;
  }

  /** The subject's membership in `member` of object `id`; undefined when this walk cannot tell. */
  check(member: PlanMember, id: string): WalkAnswer {
    this.budget = STEP_BUDGET;
    this.deepest = 1;
    try {
      const m = this.has(member, id, 1) ?? false;
      this.height = this.deepest;
      return m;
    } catch (e) {
      // A stack overflow (a walk deeper than the stack, with a high --max-depth) is no answer
      // either: the batched evaluator, which awaits between hops, answers instead.
      if (e !== UNKNOWN && !(e instanceof RangeError)) throw e;
      // Subproblems left on the path have no answer: start afresh for the next question.
      this.firstId = undefined;
      this.memo?.clear();
      this.slots.length = 0;
      return undefined;
    }
  }

  private has(member: PlanMember, id: string, depth: number): Member | undefined {
    if (isSelf(this.subject, member, id)) {
      if (this.deepest < depth) this.deepest = depth;
      if (this.witnessing) this.proof = undefined;
      return true;
    }
    const slots = this.slots;
    const first = id === this.firstId ? 0 : this.memo?.get(id);
    let at = first ?? -1;
    while (at >= 0 && slots[at + OWNER] !== member) at = slots[at + NEXT] as number;
    if (at >= 0) {
      const seen = slots[at + ENTRY] as MemoEntry;
      if (seen === ON_PATH) throw UNKNOWN;
      // Computed from a shallower place, it may have needed more hops than are left here.
      const reach = depth + (slots[at + HEIGHT] as number) - 1;
      if (reach > this.maxDepth) throw UNKNOWN;
      if (this.deepest < reach) this.deepest = reach;
      // Only a witnessing walk keeps entries with proofs (see below for their forms).
      if (this.witnessing) {
        if (seen === true || seen === NO) {
          this.proof = undefined;
          return seen ?? undefined;
        }
        if (seen instanceof ProvedEntry) {
          this.proof = seen.proof;
          return seen.m;
        }
        // Any other object is the proof of a plain yes.
        this.proof = seen as Proof;
        return true;
      }
      return (seen as Member | typeof NO) ?? undefined;
    }
    if (depth > this.maxDepth) {
      // Unknown (see membership.ts `tooDeep`): fails the check only if the answer depends on it;
      // what leans on it is never reused (infinite height), as in the batched evaluator.
      this.deepest = Number.POSITIVE_INFINITY;
      if (this.witnessing) this.proof = undefined;
      return tooDeep(member.label, this.maxDepth);
    }
    if (--this.budget < 0) throw UNKNOWN;
    this.steps++;
    const slot = slots.length;
    // Chained after the object's first slot: the map is set only for an object not met before.
    if (first === undefined) {
      slots.push(ON_PATH, 1, member, -1);
      if (slot === 0) this.firstId = id;
      else {
        this.memo ??= new Map();
        this.memo.set(id, slot);
      }
    } else {
      slots.push(ON_PATH, 1, member, slots[first + NEXT]);
      slots[first + NEXT] = slot;
    }
    const outer = this.deepest;
    this.deepest = depth;
    const m = this.node(member, member.node, id, depth);
    // Never reused (see PlanMember): a later use of it here ends the walk (the evaluator answers).
    if (member.recursesThroughExclusion) this.deepest = Number.POSITIVE_INFINITY;
    // Most answers need no proof (a no, or the subject itself): a bare entry reads as none. In a
    // witnessing walk a plain yes with a proof keeps the proof itself as its entry (a row, or a
    // row joined to the path below it), and a caveat expression is always kept in a `ProvedEntry`,
    // so that any other object read back is a plain yes's proof: no entry object for the common
    // answers with a proof.
    let entry: MemoEntry = m ?? NO;
    if (this.witnessing) {
      const proof = this.proof;
      if (m === true) {
        if (proof !== undefined) entry = proof;
      } else if (m !== undefined || proof !== undefined) entry = new ProvedEntry(m, proof);
    }
    slots[slot + ENTRY] = entry;
    slots[slot + HEIGHT] = this.deepest - depth + 1;
    if (this.deepest < outer) this.deepest = outer;
    return m;
  }

  /** The order of work only: each operator's meaning is in operators.ts. */
  private node(member: PlanMember, node: PlanNode, id: string, depth: number): Member | undefined {
    switch (node.k) {
      case "nil":
        if (this.witnessing) this.proof = undefined;
        return undefined;
      case "computed":
        return this.has(node.target, id, depth + computedHop(node.target));
      case "relation":
        return this.relation(member.def, node.name, id, depth);
      case "arrow":
        return this.arrow(member.def, node, id, depth);
      case "union": {
        if (this.witnessing) return this.unionProved(member, node.children, id, depth);
        let m: Member | undefined = UNION_START;
        for (const child of node.children) {
          m = unionStep(m, this.node(member, child, id, depth));
          if (unionDone(m)) return m;
        }
        return m;
      }
      case "intersection": {
        if (this.witnessing) return this.intersectionProved(member, node.children, id, depth);
        let m: Member | undefined = INTERSECTION_START;
        for (const child of node.children) {
          m = intersectionStep(m, this.node(member, child, id, depth));
          if (intersectionDone(m)) return m;
        }
        return m;
      }
      case "exclusion": {
        const base = this.node(member, node.base, id, depth);
        if (exclusionDone(base)) return undefined;
        if (!this.witnessing) return exclusion(base, this.node(member, node.subtract, id, depth));
        const basew = this.proof;
        const subtract = this.node(member, node.subtract, id, depth);
        this.proof = exclusionProof(base, basew, subtract, this.proof);
        return exclusion(base, subtract);
      }
    }
  }

  /** A union, keeping its proof (a witnessing walk's; the plain walk's loop is in `node`). */
  private unionProved(member: PlanMember, children: readonly PlanNode[], id: string, depth: number) {
    let m: Member | undefined = UNION_START;
    let w: Proof;
    for (const child of children) {
      const x = this.node(member, child, id, depth);
      w = unionProof(m, w, x, this.proof);
      m = unionStep(m, x);
      if (unionDone(m)) break;
    }
    this.proof = w;
    return m;
  }

  private intersectionProved(member: PlanMember, children: readonly PlanNode[], id: string, depth: number) {
    let m: Member | undefined = INTERSECTION_START;
    let w: Proof;
    for (const child of children) {
      const x = this.node(member, child, id, depth);
      w = intersectionProof(w, x, this.proof);
      m = intersectionStep(m, x);
      if (intersectionDone(m)) break;
    }
    this.proof = w;
    return m;
  }

  /** A partial snapshot lacks some relations: reading one, the walk cannot tell. */
  private mustHold(def: PlanDef, relation: string): void {
    const holds = this.snapshot.holds;
    if (holds !== undefined && !holds.call(this.snapshot, def.name, relation)) throw UNKNOWN;
  }

  private rowsOf(def: PlanDef, id: string): PackedRows {
    if (this.lastDef === def && this.lastId === id) return this.lastRows;
    const snapshot = this.snapshot;
    const rows =
      snapshot.packedOf !== undefined
        ? snapshot.packedOf(def.name, id)
        : packRows(snapshot.relationshipsOf(def.name, id));
    this.lastDef = def;
    this.lastId = id;
    this.lastRows = rows;
    return rows;
  }

  /**
   * A relation is the union of what its rows grant. Rows whose subject is an object or a wildcard
   * (no relation) go first: one that is the subject answers without walking any subject set, nor
   * asking for the subject's memberships (built at the first subject set met: reverse reads of the
   * copy's largest maps, each a likely cache miss in a large copy). The union's answer does not
   * depend on the order.
   */
  private relation(def: PlanDef, relation: string, id: string, depth: number): Member | undefined {
    this.mustHold(def, relation);
    const s = this.subject;
    const witnessing = this.witnessing;
    let m: Member | undefined = UNION_START;
    let w: Proof;
    const rows = this.rowsOf(def, id);
    const { expiring, caveated } = headOf(rows);
    // Where the first subject-set row is: the second pass starts there.
    let firstSet = -1;
    for (let i = PACKED_HEAD; i < rows.length; i += PACKED_STRIDE) {
      if (rows[i] !== relation) continue;
      const key = rows[i + PACKED_KEY] as number;
      if (key === KEY_SET) {
        if (firstSet < 0) firstSet = i;
        continue;
      }
      if (expiring) {
        const r = rows[i + PACKED_RELATIONSHIP] as Relationship;
        if (r.expiration !== undefined) this.expires(r.expiration.getTime());
      }
      // Someone else: neither the subject nor a wildcard (the key alone says so).
      if (key !== this.key && key !== KEY_WILDCARD) continue;
      if (!grantsDirectly(rows[i + PACKED_SUBJECT] as SubjectRef, s)) continue;
      const r = rows[i + PACKED_RELATIONSHIP] as Relationship;
      // No row of the list has a caveat: the Relationship is not read (a likely cache miss).
      const g = caveated ? throughRow(true, r) : true;
      if (witnessing) w = unionProof(m, w, g, rowProof(true, undefined, r));
      m = unionStep(m, g);
      if (unionDone(m)) {
        if (witnessing) this.proof = w;
        return m;
      }
    }
    if (firstSet >= 0) {
      for (let i = firstSet; i < rows.length; i += PACKED_STRIDE) {
        if (rows[i] !== relation || rows[i + PACKED_KEY] !== KEY_SET) continue;
        const sub = rows[i + PACKED_SUBJECT] as SubjectRef;
        const r = rows[i + PACKED_RELATIONSHIP] as Relationship;
        if (expiring && r.expiration !== undefined) this.expires(r.expiration.getTime());
        let x: Member | undefined;
        let xw: Proof;
        if (grantsDirectly(sub, s)) x = true;
        else {
          // A subject set's key (KEY_SET): its subject has a relation.
          const target = this.plan.defs.get(sub.type)?.members.get(sub.relation as string);
          if (target !== undefined) {
            x = this.inSet(target, sub.id, depth);
            if (witnessing) xw = this.proof;
          }
        }
        if (x === undefined) {
          // A no's proof counts only where it has one (an exclusion or `.all()` below).
          if (xw !== undefined) w = unionProof(m, w, undefined, xw);
          continue;
        }
        const g = caveated ? throughRow(x, r) : x;
        if (witnessing) w = unionProof(m, w, g, rowProof(x, xw, r));
        m = unionStep(m, g);
        if (unionDone(m)) break;
      }
    }
    if (witnessing) this.proof = w;
    return m;
  }

  /** Whether the subject is in subject set `target` of object `id`. */
  private inSet(target: PlanMember, id: string, depth: number): Member | undefined {
    if (target.indexed) {
      // Walked upwards from the subject once: cheaper than down every group of a nested tree.
      let index = this.index;
      if (index === undefined) {
        const built = this.membershipIndex();
        // Not held by a partial snapshot: the batched evaluator answers, from the store.
        if (built === undefined) throw UNKNOWN;
        index = this.index = built;
        if (index !== null) this.expires(index.validUntil);
      }
      if (index !== null && indexFits(index, depth, this.maxDepth)) {
        if (this.deepest < depth + index.levels) this.deepest = depth + index.levels;
        const found = fromIndex(index, target, id);
        // Only relations all the way down: a no needs no proof; a yes is proved by the index's path.
        if (this.witnessing)
          this.proof = found === undefined ? undefined : indexProof(this.plan, index, target, id);
        return found;
      }
    }
    return this.has(target, id, depth + 1);
  }

  private arrow(
    def: PlanDef,
    node: Extract<PlanNode, { k: "arrow" }>,
    id: string,
    depth: number,
  ): Member | undefined {
    const mode = node.mode;
    const witnessing = this.witnessing;
    let m: Member | undefined;
    let w: Proof;
    let first = true;
    this.mustHold(def, node.tupleset);
    const rows = this.rowsOf(def, id);
    const { expiring, caveated } = headOf(rows);
    for (let i = PACKED_HEAD; i < rows.length; i += PACKED_STRIDE) {
      // A wildcard names no object to follow (`followsSubject`), as its key says.
      if (rows[i] !== node.tupleset || rows[i + PACKED_KEY] === KEY_WILDCARD) continue;
      const subject = rows[i + PACKED_SUBJECT] as SubjectRef;
      // The Relationship itself is read only for what needs it: an expiration, a grant's caveat.
      const r = rows[i + PACKED_RELATIONSHIP] as Relationship;
      if (expiring && r.expiration !== undefined) this.expires(r.expiration.getTime());
      const target = node.targets.get(subject.type);
      const sub = target === undefined ? undefined : this.has(target, subject.id, depth + 1);
      const x = caveated ? throughRow(sub, r) : sub;
      if (witnessing) {
        w = arrowProof(
          mode,
          m,
          w,
          x,
          rowProof(sub, target === undefined ? undefined : this.proof, r),
          r,
          first,
        );
      }
      m = arrowStep(mode, m, x, first);
      first = false;
      if (arrowDone(mode, m)) break;
    }
    if (witnessing) this.proof = w;
    return m;
  }

  private expires(at: number): void {
    if (at < this.validUntil) this.validUntil = at;
  }
}
