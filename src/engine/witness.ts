/**
 * Witnesses: the stored relationships that prove a check's answer, collected by either walk only
 * when a request asks (`witness: true`). While walking, a proof is a tree of relationships joined
 * in constant time (no array copied per step); the answer flattens it once. What each operator
 * contributes is in operators.ts.
 */
import type { Relationship } from "../core/index.js";

/** Two proofs that both count. */
export class ProofJoin {
  constructor(
    readonly left: Proof,
    readonly right: Proof,
  ) {}
}

/** Relationships that prove an answer; undefined: none needed (the subject itself, or a monotone no). */
export type Proof = Relationship | ProofJoin | undefined;

export function joinProofs(a: Proof, b: Proof): Proof {
  if (a === undefined || a === b) return b;
  if (b === undefined) return a;
  return new ProofJoin(a, b);
}

/** Proofs per object id (the batched evaluator's form); an id absent needs none. */
export type Proofs = Map<string, Proof>;

/** The proof's relationships, each once, in the order met (the resource's side first). */
export function proofRelationships(p: Proof): Relationship[] {
  if (p === undefined) return [];
  // The common case: one relationship (a direct grant), nothing to gather.
  if (!(p instanceof ProofJoin)) return [p];
  // Next most common: a row and the one relationship below it (a document's folder and the
  // folder's owner, a document's group and the subject's membership in it), as one literal.
  const { left, right } = p;
  if (
    left !== undefined &&
    right !== undefined &&
    !(left instanceof ProofJoin) &&
    !(right instanceof ProofJoin)
  )
    return left === right || same(left, right) ? [left] : [left, right];
  // Most other proofs are a few relationships in a shallow tree (a row and the path below it):
  // gathered into a reused list by recursion, with no stack of pending proofs nor a list grown
  // step by step, then copied out at their count (the lists grown step by step were more than half
  // of what a witnessing check allocates beyond a plain one).
  gathered = 0;
  const fits = gather(p, 0);
  // Its first `gathered` entries are relationships.
  const out = fits ? (scratch.slice(0, gathered) as Relationship[]) : undefined;
  // No stale references: a relationship deleted since must not be kept alive by this list.
  for (let i = 0; i < gathered; i++) scratch[i] = undefined;
  return out ?? manyRelationships(p);
}

/** Most relationships `gather` compares pairwise and nested joins it follows; beyond, `manyRelationships`. */
const PAIRWISE = 16;
const NESTED = 64;
/** `gather`'s list (its first `gathered` entries): module state, as `gather` never re-enters. */
const scratch: (Relationship | undefined)[] = [];
let gathered = 0;

/**
 * Adds `p`'s relationships not yet in `scratch`, left before right; false when it holds more than
 * `PAIRWISE` or nests deeper than `NESTED` (a long chain of joined rows): the caller starts over.
 */
function gather(p: Proof, depth: number): boolean {
  // Down the right side in a loop (a row joined to the proof below it nests there), the left by
  // recursion (a union joined branch after branch nests there).
  while (p instanceof ProofJoin) {
    if (depth >= NESTED || !gather(p.left, depth + 1)) return false;
    p = p.right;
  }
  if (p === undefined) return true;
  for (let i = 0; i < gathered; i++) {
    const o = scratch[i]!;
    if (o === p || same(o, p)) return true;
  }
  if (gathered >= PAIRWISE) return false;
  scratch[gathered++] = p;
  return true;
}

/** `proofRelationships` for any proof: a stack of pending joins, a set of keys past a handful. */
function manyRelationships(p: ProofJoin): Relationship[] {
  const out: Relationship[] = [];
  let keys: Set<string> | undefined;
  const todo: Proof[] = [p];
  while (todo.length > 0) {
    const next = todo.pop();
    if (next === undefined) continue;
    if (next instanceof ProofJoin) {
      todo.push(next.right, next.left);
      continue;
    }
    // One stored relationship may be met as two objects (read twice): keep it once.
    if (keys === undefined && out.length >= PAIRWISE) keys = new Set(out.map(keyOf));
    if (keys !== undefined) {
      const key = keyOf(next);
      if (keys.has(key)) continue;
      keys.add(key);
    } else if (listed(out, next)) continue;
    out.push(next);
  }
  return out;
}

/** Whether `r` is in the short list `out` (a loop, not `some`: no closure per relationship). */
function listed(out: readonly Relationship[], r: Relationship): boolean {
  for (let i = 0; i < out.length; i++) {
    const o = out[i]!;
    if (o === r || same(o, r)) return true;
  }
  return false;
}

function same(a: Relationship, b: Relationship): boolean {
  return (
    a.relation === b.relation &&
    a.resource.id === b.resource.id &&
    a.resource.type === b.resource.type &&
    a.subject.id === b.subject.id &&
    a.subject.type === b.subject.type &&
    a.subject.relation === b.subject.relation
  );
}

const keyOf = (r: Relationship): string =>
  `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}#${r.subject.relation ?? ""}`;
