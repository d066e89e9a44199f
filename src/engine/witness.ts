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
  const out: Relationship[] = [];
  if (p === undefined) return out;
  const seen = new Set<Relationship>();
  const keys = new Set<string>();
  const todo: Proof[] = [p];
  while (todo.length > 0) {
    const next = todo.pop();
    if (next === undefined) continue;
    if (next instanceof ProofJoin) {
      todo.push(next.right, next.left);
      continue;
    }
    if (seen.has(next)) continue;
    seen.add(next);
    // One stored relationship may be met as two objects (read twice): keep it once.
    const key = `${next.resource.type}:${next.resource.id}#${next.relation}@${next.subject.type}:${next.subject.id}#${next.subject.relation ?? ""}`;
    if (keys.has(key)) continue;
    keys.add(key);
    out.push(next);
  }
  return out;
}
