/** Explanation traces gathered while walking, by resource id (only when a request asks to explain). */
import type { CaveatLeaf, Member, Memberships } from "./membership.js";
import type { Proofs } from "./witness.js";

/** An explanation node before its caveats are evaluated. */
export interface TraceNode {
  readonly label: string;
  readonly member: Member | undefined;
  readonly children?: readonly TraceNode[];
  /** The caveat of the relationship this node stands for. */
  readonly caveat?: CaveatLeaf;
  readonly cached?: boolean;
}

export type Traces = Map<string, TraceNode[]>;

export interface Out {
  readonly m: Memberships;
  readonly t: Traces | undefined;
  /** Each id's proof, when the request asks for witnesses (see witness.ts). */
  readonly w?: Proofs | undefined;
}

export function pushTrace(t: Traces | undefined, id: string, node: TraceNode): void {
  if (t === undefined) return;
  const list = t.get(id);
  if (list === undefined) t.set(id, [node]);
  else list.push(node);
}

/** Adds a child's traces under the current node, with a placeholder for ids it did not reach. */
export function collect(t: Traces | undefined, r: Out, ids: readonly string[], label: string): void {
  if (t === undefined) return;
  for (const id of ids) {
    const nodes = r.t?.get(id);
    const member = r.m.get(id);
    if (nodes !== undefined && nodes.length === 1) pushTrace(t, id, nodes[0]!);
    else pushTrace(t, id, { label, member, ...(nodes === undefined ? {} : { children: nodes }) });
  }
}

export function wrap(
  t: Traces | undefined,
  ids: readonly string[],
  m: Memberships,
  label: string,
): Traces | undefined {
  if (t === undefined) return undefined;
  const out: Traces = new Map();
  for (const id of ids) {
    const children = t.get(id);
    out.set(id, [{ label, member: m.get(id), ...(children === undefined ? {} : { children }) }]);
  }
  return out;
}
