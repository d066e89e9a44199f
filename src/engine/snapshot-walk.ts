/**
 * Check over an in-memory snapshot (see `Store.memorySnapshot`): depth first, synchronous, plain
 * booleans. When every relationship is in memory, the batched evaluator's promises, frames, keys
 * and per-level maps cost more than the reads themselves; this walk makes none of them. It answers
 * only what it can answer exactly, and says "unknown" otherwise, leaving the batched evaluator
 * (which keeps caveat expressions, cuts cycles and reports depth errors) to answer:
 *
 * - a caveat that would decide the answer (one on a relationship that does not match is no matter);
 * - a cycle: a subproblem met again on its own path;
 * - a path deeper than the engine's depth limit, or a walk longer than its step budget.
 *
 * Subproblem answers are remembered for the walk's life: one walk serves every item of a bulk
 * check that has the same subject.
 */
import type { Relationship, SubjectRef } from "../core/index.js";
import type { MemorySnapshot } from "../store/index.js";
import type { MembershipIndex } from "./membership-index.js";
import type { Plan, PlanDef, PlanMember, PlanNode } from "./plan.js";

/** Steps (subproblems computed) one walk may take before it gives up: bounds the time it blocks. */
const STEP_BUDGET = 20_000;

const NO = 0;
const YES = 1;
const ON_PATH = 2;

/** Thrown inside the walk when it cannot answer exactly; caught at its entry point. */
const UNKNOWN: unique symbol = Symbol("unknown");

export class SnapshotWalk {
  /** Earliest expiration among the relationships the walk looked at (ms; Infinity: none). */
  validUntil = Number.POSITIVE_INFINITY;
  /** Subproblems computed, for the engine's statistics. */
  steps = 0;
  private budget = STEP_BUDGET;
  private readonly memo = new Map<PlanMember, Map<string, number>>();
  private members: MembershipIndex["members"] | null | undefined;
  // The last object read: a member's parts read one object several times in a row.
  private lastDef: PlanDef | undefined;
  private lastId = "";
  private lastRows: readonly Relationship[] = [];

  constructor(
    private readonly plan: Plan,
    private readonly snapshot: MemorySnapshot,
    private readonly subject: SubjectRef,
    private readonly maxDepth: number,
    /** The subject's memberships (see membership-index.ts), asked for at most once; null: none. */
    private readonly membershipIndex: () => MembershipIndex | null,
  ) {}

  /** Whether the subject has `member` on object `id`; undefined when this walk cannot tell. */
  check(member: PlanMember, id: string): boolean | undefined {
    this.budget = STEP_BUDGET;
    try {
      return this.has(member, id, 1);
    } catch (e) {
      if (e !== UNKNOWN) throw e;
      // Subproblems left on the path have no answer: start afresh for the next question.
      this.memo.clear();
      return undefined;
    }
  }

  private has(member: PlanMember, id: string, depth: number): boolean {
    const s = this.subject;
    // A subject set checked against itself is a member of itself.
    if (s.relation === member.name && s.type === member.def.name && s.id === id) return true;
    let known = this.memo.get(member);
    if (known === undefined) {
      known = new Map();
      this.memo.set(member, known);
    }
    const seen = known.get(id);
    if (seen !== undefined) {
      if (seen === ON_PATH) throw UNKNOWN;
      return seen === YES;
    }
    if (depth > this.maxDepth || --this.budget < 0) throw UNKNOWN;
    this.steps++;
    known.set(id, ON_PATH);
    const yes = this.node(member, member.node, id, depth);
    known.set(id, yes ? YES : NO);
    return yes;
  }

  private node(member: PlanMember, node: PlanNode, id: string, depth: number): boolean {
    switch (node.k) {
      case "nil":
        return false;
      case "computed":
        return this.has(node.target, id, depth + 1);
      case "relation":
        return this.relation(member.def, node.name, id, depth);
      case "arrow":
        return this.arrow(member.def, node, id, depth);
      case "union":
        for (const child of node.children) if (this.node(member, child, id, depth)) return true;
        return false;
      case "intersection":
        for (const child of node.children) if (!this.node(member, child, id, depth)) return false;
        return true;
      case "exclusion":
        return this.node(member, node.base, id, depth) && !this.node(member, node.subtract, id, depth);
    }
  }

  private rowsOf(def: PlanDef, id: string): readonly Relationship[] {
    if (this.lastDef === def && this.lastId === id) return this.lastRows;
    const rows = this.snapshot.relationshipsOf(def.name, id);
    this.lastDef = def;
    this.lastId = id;
    this.lastRows = rows;
    return rows;
  }

  private relation(def: PlanDef, relation: string, id: string, depth: number): boolean {
    const s = this.subject;
    for (const r of this.rowsOf(def, id)) {
      if (r.relation !== relation) continue;
      if (r.expiration !== undefined) this.expires(r.expiration.getTime());
      const sub = r.subject;
      let yes: boolean;
      if (sub.relation === undefined) {
        // A wildcard matches every object of its type, never a subject set.
        yes = sub.type === s.type && s.relation === undefined && (sub.id === s.id || sub.id === "*");
      } else if (sub.type === s.type && sub.id === s.id && sub.relation === s.relation) {
        yes = true;
      } else {
        const target = this.plan.defs.get(sub.type)?.members.get(sub.relation);
        yes = target !== undefined && this.inSet(target, sub.id, depth);
      }
      if (!yes) continue;
      // Only a caveat on a relationship that grants access changes the answer.
      if (r.caveat !== undefined) throw UNKNOWN;
      return true;
    }
    return false;
  }

  /** Whether the subject is in subject set `target` of object `id`. */
  private inSet(target: PlanMember, id: string, depth: number): boolean {
    if (target.indexed) {
      // Walked upwards from the subject once: cheaper than down every group of a nested tree.
      if (this.members === undefined) {
        const index = this.membershipIndex();
        this.members = index?.members ?? null;
        if (index !== null) this.expires(index.validUntil);
      }
      if (this.members !== null) return this.members.get(target)?.has(id) === true;
    }
    return this.has(target, id, depth + 1);
  }

  private arrow(def: PlanDef, node: Extract<PlanNode, { k: "arrow" }>, id: string, depth: number): boolean {
    let any = false;
    for (const r of this.rowsOf(def, id)) {
      // A wildcard names no object to follow.
      if (r.relation !== node.tupleset || r.subject.id === "*") continue;
      if (r.expiration !== undefined) this.expires(r.expiration.getTime());
      const target = node.targets.get(r.subject.type);
      const yes = target !== undefined && this.has(target, r.subject.id, depth + 1);
      if (node.mode === "any") {
        if (!yes) continue;
        if (r.caveat !== undefined) throw UNKNOWN;
        return true;
      }
      // `.all()`: every object followed must grant it, each without a caveat.
      if (!yes) return false;
      if (r.caveat !== undefined) throw UNKNOWN;
      any = true;
    }
    return any;
  }

  private expires(at: number): void {
    if (at < this.validUntil) this.validUntil = at;
  }
}
