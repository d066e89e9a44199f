/**
 * What each schema operator means, written once for both walks: the batched evaluator
 * (evaluator.ts, over many ids at a time) and the synchronous in-memory walk (snapshot-walk.ts,
 * depth first). The walks decide only the order of work (which ids, which rows, when to read);
 * every answer they give is built with these rules over the membership algebra of membership.ts.
 *
 * The folds are plain functions over two memberships (`step`) and a predicate that says when the
 * rest cannot change the answer (`done`): the batched evaluator applies them id by id over maps,
 * the in-memory walk over one object. They sit in the hottest loops of a check, so they take no
 * callbacks and allocate nothing beyond the memberships they return.
 */
import type { Relationship, SubjectRef } from "../core/index.js";
import { andMember, exceptMember, type Member, memberOf, orMember } from "./membership.js";
import type { Plan, PlanMember, PlanNode } from "./plan.js";
import type { MembershipIndex } from "./request-context.js";
import { joinProofs, type Proof } from "./witness.js";

// ---- the subject itself ----------------------------------------------------------------------

/** Whether the subject is a subject set of `member` (on some object): `group:x#member` for `group#member`. */
export function namesMember(subject: SubjectRef, member: PlanMember): boolean {
  return subject.relation === member.name && subject.type === member.def.name;
}

/** A subject set checked against itself is a member of itself, whatever the relationships say. */
export function isSelf(subject: SubjectRef, member: PlanMember, id: string): boolean {
  // The relation first: a plain subject has none, so most calls end at one comparison.
  return namesMember(subject, member) && subject.id === id;
}

// ---- depth -----------------------------------------------------------------------------------

/**
 * The hops a `computed` step adds (see walk-stack.ts): the object's own relation is no hop,
 * another permission of the same object is one.
 */
export function computedHop(target: PlanMember): 0 | 1 {
  return target.node.k === "relation" ? 0 : 1;
}

// ---- a relation: the union of what its rows grant --------------------------------------------

/**
 * Whether a relationship's subject is the requested subject itself, with nothing to expand: the
 * same subject (or subject set), or a wildcard of a plain subject's type. A wildcard never
 * matches a subject set.
 */
export function grantsDirectly(sub: SubjectRef, s: SubjectRef): boolean {
  if (sub.relation === undefined) {
    return sub.type === s.type && s.relation === undefined && (sub.id === s.id || sub.id === "*");
  }
  return sub.type === s.type && sub.id === s.id && sub.relation === s.relation;
}

/**
 * What row `r` grants when its subject (the subject itself, a subject set, an object an arrow
 * follows) holds membership `x`: `x`, under the row's caveat.
 */
export function throughRow(x: Member, r: Relationship): Member;
export function throughRow(x: Member | undefined, r: Relationship): Member | undefined;
export function throughRow(x: Member | undefined, r: Relationship): Member | undefined {
  if (x === undefined) return undefined;
  return x === true ? memberOf(r) : andMember(x, memberOf(r));
}

// ---- union (also a relation's rows, and `->` / `.any()`) -------------------------------------

/** Start: nothing granted yet. */
export const UNION_START: Member | undefined = undefined;

export function unionStep(acc: Member | undefined, x: Member | undefined): Member | undefined {
  return orMember(acc, x);
}

/** A plain yes: no further operand can change it. */
export function unionDone(acc: Member | undefined): acc is true {
  return acc === true;
}

// ---- intersection ----------------------------------------------------------------------------

/** Start: everything, narrowed by each operand. */
export const INTERSECTION_START: Member | undefined = true;

export function intersectionStep(acc: Member | undefined, x: Member | undefined): Member | undefined {
  return andMember(acc, x);
}

/** A plain no: no further operand can change it. */
export function intersectionDone(acc: Member | undefined): acc is undefined {
  return acc === undefined;
}

// ---- exclusion -------------------------------------------------------------------------------

/** Nothing to subtract from: the right-hand side need not be computed. */
export function exclusionDone(base: Member | undefined): base is undefined {
  return base === undefined;
}

/** `base - subtract`. */
export function exclusion(base: Member | undefined, subtract: Member | undefined): Member | undefined {
  return exceptMember(base, subtract);
}

// ---- arrows: `tupleset->computed` (any) and `tupleset.all(computed)` -------------------------

type ArrowMode = Extract<PlanNode, { k: "arrow" }>["mode"];

/** A wildcard subject names no object to follow. */
export function follows(r: Relationship): boolean {
  return followsSubject(r.subject);
}

/** `follows` of a row whose subject is `subject`, for a walk that reads the subject alone. */
export function followsSubject(subject: SubjectRef): boolean {
  return subject.id !== "*";
}

/**
 * Folds the next followed object's grant `x` (see `throughRow`) into `acc`. `.any()` is a union;
 * `.all()` requires every followed object, and following none grants nothing, so its first
 * object's grant is the start (`first`: no object folded yet).
 */
export function arrowStep(
  mode: ArrowMode,
  acc: Member | undefined,
  x: Member | undefined,
  first: boolean,
): Member | undefined {
  if (mode === "any") return orMember(acc, x);
  return first ? x : andMember(acc, x);
}

/** After a step: a plain yes ends `.any()`, a plain no ends `.all()`. */
export function arrowDone(mode: ArrowMode, acc: Member | undefined): boolean {
  return mode === "any" ? acc === true : acc === undefined;
}

// ---- subject sets answered from the subject's memberships (membership-index.ts) --------------

/**
 * Whether the index may answer a subject set met at `hops`: only where all of its levels fit under
 * the limit, so it answers exactly what the walk down the groups would (see walk-stack.ts). The
 * answer then needed `hops + index.levels` hops.
 */
export function indexFits(index: MembershipIndex, hops: number, maxDepth: number): boolean {
  return hops + index.levels <= maxDepth;
}

/** The subject's membership in subject set `target` of object `id`, by the index. */
export function fromIndex(index: MembershipIndex, target: PlanMember, id: string): Member | undefined {
  return index.members.get(target)?.has(id) === true ? true : undefined;
}

/**
 * The proof of a yes `fromIndex` gave: the relationships the walk upwards came through, from
 * subject set `target` of `id` down to the subject (or its wildcard), the resource's side first.
 * A membership relation is relations all the way down, without caveats (else there is no index),
 * so this path alone proves the membership, as the path a walk down would find does.
 */
export function indexProof(plan: Plan, index: MembershipIndex, target: PlanMember, id: string): Proof {
  const r = index.members.get(target)?.get(id);
  if (r === undefined) return undefined;
  const sub = r.subject;
  if (sub.relation === undefined) return r;
  // A group nested in a group of its own kind (the common case) needs no lookup by name.
  const from =
    sub.relation === target.name && sub.type === target.def.name
      ? target
      : plan.defs.get(sub.type)?.members.get(sub.relation);
  return from === undefined ? r : joinProofs(r, indexProof(plan, index, from, sub.id));
}

// ---- witnesses: the relationships that prove an answer (only when a request asks) ------------
//
// Beside each membership a witnessing walk keeps a proof (witness.ts): for a yes or a caveat
// expression, stored relationships that alone (as the only data) still give at least that answer;
// for a no, those that keep it a no (empty unless an exclusion or `.all()` lies below: removing
// data only ever shrinks a monotone answer, but can grow `a - b` or `.all()`). Each rule takes
// the memberships the fold above took, before its step, so the two walks build the same proofs.

/** A union's proof after folding `x` (proof `xw`) into `acc` (proof `accw`). */
export function unionProof(acc: Member | undefined, accw: Proof, x: Member | undefined, xw: Proof): Proof {
  // A plain yes is proved by its own branch alone; otherwise every branch counts (a conditional
  // answer is the union of the conditional branches; a no needs each branch's no).
  if (x === true) return xw;
  if (acc === true) return accw;
  return join(accw, xw);
}

/** An intersection's proof after folding `x` into `acc`: all operands, or the one that said no. */
export function intersectionProof(accw: Proof, x: Member | undefined, xw: Proof): Proof {
  return x === undefined ? xw : join(accw, xw);
}

/**
 * `base - subtract`'s proof: the included branch (with what keeps the subtracted one a no, or
 * conditional), or for a no, the base's no or the subtracted branch's yes.
 */
export function exclusionProof(
  base: Member | undefined,
  basew: Proof,
  subtract: Member | undefined,
  subtractw: Proof,
): Proof {
  if (base === undefined) return basew;
  if (subtract === true) return subtractw;
  return join(basew, subtractw);
}

/** What row `r` proves when its subject holds `x` (proof `xw`); see `throughRow`. */
export function rowProof(x: Member | undefined, xw: Proof, r: Relationship): Proof {
  return x === undefined ? xw : join(r, xw);
}

/**
 * An arrow's proof after folding the next followed row `r` (its grant `x` through the row, proof
 * `xw` from `rowProof`). `.all()` needs every row; a no of `.all()` needs the row that failed, as
 * without it the rest might all grant.
 */
export function arrowProof(
  mode: ArrowMode,
  acc: Member | undefined,
  accw: Proof,
  x: Member | undefined,
  xw: Proof,
  r: Relationship,
  first: boolean,
): Proof {
  if (mode === "any") return unionProof(acc, accw, x, xw);
  if (x === undefined) return join(r, xw);
  return first ? xw : join(accw, xw);
}

/**
 * `joinProofs`, with its common cases (a side with no proof) decided here: these rules run for
 * every operand of a witnessing walk, most with a side that has none, and a call (not always
 * inlined in the walk's larger methods) cost more than the test.
 */
function join(a: Proof, b: Proof): Proof {
  if (b === undefined) return a;
  if (a === undefined) return b;
  return joinProofs(a, b);
}
