/**
 * The witness path of an explanation: the steps that lead from the permission to the stored
 * relationships that proved the answer (CheckPermission with `withWitness`). The trace names a
 * relationship step as `res:id#rel@subj` (`... -> perm` for an arrow's hop) or, for a subject
 * set found upwards from the subject, `res:id#rel -> subj:id#rel (...)`; both are matched to
 * the witness's `res:id#rel@subj[caveat]` without its caveat and expiration.
 */
import type { ExplainTree } from "./explain.js";

/** `document:plan#viewer@user:a[office_hours][expiration:...]` -> `document:plan#viewer@user:a`. */
export function witnessKey(relationship: string): string {
  const bracket = relationship.indexOf("[");
  return bracket < 0 ? relationship : relationship.slice(0, bracket);
}

/** The relationship a trace step stands for, as a witness key; undefined for an expression step. */
export function stepKey(label: string): string | undefined {
  const paren = label.indexOf(" (");
  const text = paren < 0 ? label : label.slice(0, paren);
  const arrow = text.indexOf(" -> ");
  const left = arrow < 0 ? text : text.slice(0, arrow);
  if (left.includes("@")) return witnessKey(left);
  if (arrow >= 0 && left.includes("#") && text.slice(arrow + 4).includes(":"))
    return `${left}@${text.slice(arrow + 4)}`;
  return undefined;
}

export interface PathTree extends ExplainTree {
  readonly onPath: boolean;
  /** The witness relationship this step matched, as the server wrote it. */
  readonly witness?: string;
  readonly children: PathTree[];
}

/** The tree with the witness path marked: each matched step and every step above it. */
export function markWitnessPath(tree: ExplainTree, witness: readonly string[]): PathTree {
  const byKey = new Map(witness.map((w) => [witnessKey(w), w]));
  const mark = (t: ExplainTree): PathTree => {
    const children = t.children.map(mark);
    const key = stepKey(t.label);
    const matched = key === undefined ? undefined : byKey.get(key);
    const proving = t.verdict === "allowed" || t.verdict === "conditional";
    const onPath = proving && (matched !== undefined || children.some((c) => c.onPath));
    return { ...t, children, onPath, ...(matched === undefined ? {} : { witness: matched }) };
  };
  return mark(tree);
}

/** The witness relationships no step of the trace names (a cached step hides what is below it). */
export function unmatchedWitness(tree: PathTree, witness: readonly string[]): string[] {
  const seen = new Set<string>();
  const walk = (t: PathTree) => {
    if (t.witness !== undefined) seen.add(t.witness);
    t.children.forEach(walk);
  };
  walk(tree);
  return witness.filter((w) => !seen.has(w));
}
