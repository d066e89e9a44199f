/**
 * Membership of one subject in one subproblem, as SpiceDB's membership sets carry it: either a
 * plain "yes" (`true`) or a caveat expression that decides it once the request context is known.
 * "No" is never stored: it is the absence of an entry. Expressions stay unevaluated while the
 * graph is walked, so a subproblem's result does not depend on the request context and can be
 * cached and shared by every request at the same revision. What each schema operator builds from
 * these (the wildcard rule, the folds and their short-circuits) is in operators.ts.
 */

export type CaveatExpr =
  | {
      readonly op: "caveat";
      readonly name: string;
      readonly context: Readonly<Record<string, unknown>> | undefined;
    }
  | { readonly op: "and"; readonly children: readonly CaveatExpr[] }
  | { readonly op: "or"; readonly children: readonly CaveatExpr[] }
  | { readonly op: "not"; readonly child: CaveatExpr };

import type { Relationship } from "../core/index.js";

export type CaveatLeaf = Extract<CaveatExpr, { op: "caveat" }>;

/** `true`: a member without conditions; an expression: a member when it evaluates to true. */
export type Member = true | CaveatExpr;

/** Per resource id; ids absent are not members. */
export type Memberships = Map<string, Member>;

export function caveatLeaf(name: string, context: Readonly<Record<string, unknown>> | undefined): CaveatLeaf {
  return { op: "caveat", name, context };
}

/**
 * The name of the leaf that stands for a subproblem past the depth limit. The walks carry it like
 * an unknown caveat, so it only fails the check when the answer depends on it: `a + deep` is
 * allowed when `a` is, whichever branch a walk explores first, batched or not. No schema caveat
 * can have this name (names are checked).
 */
export const TOO_DEEP = "\u0000max-depth";

/** The leaf for subproblem `at` (a `type#relation` label) past the limit `maxDepth`. */
export function tooDeep(at: string, maxDepth: number): CaveatLeaf {
  return { op: "caveat", name: TOO_DEEP, context: { at, maxDepth } };
}

/**
 * The name of the leaf that stands for a subproblem met again on its own path through the
 * right-hand side of an exclusion (see walk-stack.ts): recursion that is not stratified has no
 * defined answer. Carried like `TOO_DEEP`, and for the same reason: it fails the check only when
 * the answer depends on it, so `a + cycle` is allowed when `a` is and `b & cycle` (or `.all()`
 * over an object that says no) is denied when `b` is, whichever row or branch a walk meets
 * first and whether or not it short-circuits there. Throwing where the cycle is met instead made
 * the answer depend on the order of work: the batched evaluator follows every object of an
 * `.all()` at once, the in-memory walk stops at the first plain no.
 */
export const UNSTRATIFIED = "\u0000cycle-through-exclusion";

/** The leaf for subproblem `at` (`type:id#relation`, of member `label`) met again through an exclusion. */
export function unstratified(label: string, at: string): CaveatLeaf {
  return { op: "caveat", name: UNSTRATIFIED, context: { label, at } };
}

/** A relationship's caveat as an expression leaf; undefined when it has none. */
export function caveatOf(r: Relationship): CaveatLeaf | undefined {
  return r.caveat === undefined ? undefined : caveatLeaf(r.caveat.name, r.caveat.context);
}

/** What one relationship grants by itself: yes, or yes under its caveat. */
export function memberOf(r: Relationship): Member {
  return caveatOf(r) ?? true;
}

export function orMember(a: Member | undefined, b: Member | undefined): Member | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (a === true || b === true) return true;
  return a === b ? a : { op: "or", children: flatten("or", a, b) };
}

export function andMember(a: Member | undefined, b: Member | undefined): Member | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (a === true) return b;
  if (b === true) return a;
  return a === b ? a : { op: "and", children: flatten("and", a, b) };
}

/**
 * The operands of `a op b`, nested `op`s lifted. Where paths meet (a document reached through two
 * folders that share a parent) both sides are lists carrying the same expressions: kept twice, an
 * answer doubled at every such meeting, exponential in the depth of the data, so two lists keep
 * each expression once (short ones are not checked: copies there cost less than the check). One
 * operand added to a list, as a union gathers its rows, is only appended.
 */
function flatten(op: "and" | "or", a: CaveatExpr, b: CaveatExpr): CaveatExpr[] {
  const children: CaveatExpr[] = [];
  for (const x of [a, b]) {
    if (x.op !== op) children.push(x);
    else for (const c of x.children) children.push(c);
  }
  return a.op === op && b.op === op && children.length > 8 ? [...new Set(children)] : children;
}

/** `base - subtract`. */
export function exceptMember(base: Member | undefined, subtract: Member | undefined): Member | undefined {
  if (base === undefined) return undefined;
  if (subtract === undefined) return base;
  if (subtract === true) return undefined;
  const negated: CaveatExpr = subtract.op === "not" ? subtract.child : { op: "not", child: subtract };
  return andMember(base, negated);
}

/** Adds `m` to the entry of `id`, by union. */
export function addMember(into: Memberships, id: string, m: Member | undefined): void {
  if (m === undefined) return;
  const prev = into.get(id);
  const next = orMember(prev, m);
  if (next !== undefined) into.set(id, next);
}

/** A rough byte size for cache accounting. */
export function memberSize(m: Member | undefined): number {
  if (m === undefined || m === true) return 8;
  switch (m.op) {
    case "caveat":
      return 64 + m.name.length * 2 + (m.context === undefined ? 0 : JSON.stringify(m.context).length * 2);
    case "not":
      return 16 + memberSize(m.child);
    default: {
      let size = 16;
      for (const c of m.children) size += memberSize(c);
      return size;
    }
  }
}
