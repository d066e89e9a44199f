/**
 * One step of the feed, planned once for every kept set: which sets it may concern, and what
 * each must re-check. The sets are indexed by the plain objects whose own relationships concern
 * them (their subject and chain) and by the node they watch (`document#view`), so a step costs
 * work in proportion to what it changed, not to how many sets are kept: a grant to bob touches
 * bob's sets alone, and the sets nothing reached are not visited at all.
 */
import { type ObjectRef, WILDCARD_ID } from "../../core/index.js";
import type { Pacer } from "../../engine/index.js";
import type { Change, StoreReader } from "../../store/index.js";
import { type Dirty, dirtyIn, dirtyObjects } from "./affected.js";
import type { Group } from "./group.js";
import { type NodeKey, nodeKey, type ReverseGraph } from "./reverse-graph.js";

/** The kept sets of one schema, indexed; rebuilt when a set is added or dropped or the schema changes. */
export interface GroupIndex {
  readonly graph: ReverseGraph;
  /** Every node some set's permission (or delegation link) depends on: the walk goes nowhere else. */
  readonly relevant: ReadonlySet<NodeKey>;
  /** By plain object (`user:bob`): the sets whose subject or chain it is. */
  readonly bySubject: ReadonlyMap<string, readonly Group[]>;
  /** By watched node (`document#view`). */
  readonly byTarget: ReadonlyMap<NodeKey, readonly Group[]>;
  /** The sets with an on-behalf-of chain, whose delegation links a step may change. */
  readonly linked: readonly Group[];
}

export function indexGroups(graph: ReverseGraph, groups: Iterable<Group>): GroupIndex {
  const relevant = new Set<NodeKey>();
  const bySubject = new Map<string, Group[]>();
  const byTarget = new Map<NodeKey, Group[]>();
  const linked: Group[] = [];
  const into = <K>(map: Map<K, Group[]>, key: K, group: Group) => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [group]);
    else list.push(group);
  };
  for (const group of groups) {
    for (const key of group.subjectKeys) into(bySubject, key, group);
    if (!byTarget.has(group.target)) for (const node of graph.closure(group.target)) relevant.add(node);
    into(byTarget, group.target, group);
    if (group.links.length === 0) continue;
    linked.push(group);
    for (const link of group.links) for (const node of graph.closure(link.node)) relevant.add(node);
  }
  return { graph, relevant, bySubject, byTarget, linked };
}

/** Planning's options: the bound of the shared walk, and how that walk paces itself. */
export interface PlanOptions {
  readonly maxReached: number;
  readonly pacer?: Pacer;
  /** Told how many objects the shared walk reached. */
  readonly reached?: (count: number) => void;
}

/**
 * Splits the changes: those that may concern anyone, and per subject (`user:bob`) those that
 * concern only that subject's sets. A relationship to a plain object (not a wildcard, not a
 * subject set) on a relation no arrow follows can change only that object's own permissions:
 * Check matches such a subject by equality, never through it. So `group:eng#member@user:bob`
 * concerns bob's sets alone, however many documents the group reaches, and is walked by those
 * sets on their own queues (`walkForSet`), never by planning, which every set waits for.
 */
function split(
  index: GroupIndex,
  changes: readonly Change[],
): { general: Change[]; personal: Map<string, Change[]> } {
  const g = index.graph;
  const general: Change[] = [];
  const personal = new Map<string, Change[]>();
  for (const change of changes) {
    const r = change.relationship;
    const s = r.subject;
    if (
      s.relation !== undefined ||
      s.id === WILDCARD_ID ||
      g.tuplesets.has(nodeKey(r.resource.type, r.relation))
    ) {
      general.push(change);
      continue;
    }
    const key = `${s.type}:${s.id}`;
    if (!index.bySubject.has(key)) continue;
    const list = personal.get(key);
    if (list === undefined) personal.set(key, [change]);
    else list.push(change);
  }
  return { general, personal };
}

/** The nodes a change may reach at all, from the schema alone: where a walk past its bound may have gone. */
function reachableNodes(
  g: ReverseGraph,
  relevant: ReadonlySet<NodeKey>,
  changes: readonly Change[],
): Set<NodeKey> {
  const seen = new Set<NodeKey>();
  const queue: NodeKey[] = [];
  for (const c of changes) {
    const node = nodeKey(c.relationship.resource.type, c.relationship.relation);
    if (relevant.has(node) && !seen.has(node)) {
      seen.add(node);
      queue.push(node);
    }
  }
  while (queue.length > 0) {
    for (const edge of g.up.get(queue.pop()!) ?? []) {
      if (!relevant.has(edge.to) || seen.has(edge.to)) continue;
      seen.add(edge.to);
      queue.push(edge.to);
    }
  }
  return seen;
}

/** What one set must do for a step: re-check these ids and walk these changes, or recompute whole. */
export interface Planned {
  whole: boolean;
  readonly ids: Set<string>;
  /** Changes that concern only this set's subject or chain: walked by the set itself. */
  readonly walk: Change[];
}

export interface StepInput {
  readonly changes: readonly Change[];
  /** Subjects whose own state changed (signals): their sets are recomputed whole. */
  readonly subjects: readonly ObjectRef[];
  /** Every kept set, scanned only when `subjects` is not empty. */
  readonly groups: Iterable<Group>;
}

function linkChanged(group: Group, part: Dirty, g: ReverseGraph): boolean {
  return group.links.some((link) =>
    dirtyIn(part, g.closure(link.node), link.object.type).has(link.object.id),
  );
}

/** The sets a step concerns, each with what it must do; the sets it does not name keep their answers. */
export async function planStep(
  reader: StoreReader,
  index: GroupIndex,
  input: StepInput,
  options: PlanOptions,
): Promise<Map<Group, Planned>> {
  const out = new Map<Group, Planned>();
  const plan = (group: Group): Planned => {
    const found = out.get(group);
    if (found !== undefined) return found;
    const p: Planned = { whole: false, ids: new Set(), walk: [] };
    out.set(group, p);
    return p;
  };
  const g = index.graph;
  for (const subject of input.subjects) {
    for (const group of input.groups) if (group.involves(subject)) plan(group).whole = true;
  }
  if (input.changes.length === 0) return out;
  const { general, personal } = split(index, input.changes);
  for (const [key, list] of personal) {
    for (const group of index.bySubject.get(key) ?? []) plan(group).walk.push(...list);
  }
  if (general.length === 0) return out;
  const dirty = await dirtyObjects(reader, g, index.relevant, general, {
    limit: options.maxReached,
    ...(options.pacer === undefined ? {} : { pacer: options.pacer }),
    ...(options.reached === undefined ? {} : { reached: options.reached }),
  });
  if (dirty === undefined) {
    // Past the bound: only the sets the changes can reach at all (by the schema) start over.
    const reach = reachableNodes(g, index.relevant, general);
    for (const [target, list] of index.byTarget)
      if (reach.has(target)) for (const group of list) plan(group).whole = true;
    for (const group of index.linked)
      if (group.links.some((l) => reach.has(l.node))) plan(group).whole = true;
    return out;
  }
  if (dirty.size === 0) return out;
  for (const [target, list] of index.byTarget) {
    const ids = dirtyIn(dirty, g.closure(target), list[0]!.request.resourceType);
    if (ids.size === 0) continue;
    for (const group of list) for (const id of ids) plan(group).ids.add(id);
  }
  for (const group of index.linked) if (linkChanged(group, dirty, g)) plan(group).whole = true;
  return out;
}

/** The nodes one set's walk may go through: those its permission and its delegation links depend on. */
const setNodes = new WeakMap<ReverseGraph, WeakMap<Group, ReadonlySet<NodeKey>>>();

function relevantTo(g: ReverseGraph, group: Group): ReadonlySet<NodeKey> {
  let byGroup = setNodes.get(g);
  if (byGroup === undefined) {
    byGroup = new WeakMap();
    setNodes.set(g, byGroup);
  }
  let nodes = byGroup.get(group);
  if (nodes === undefined) {
    const all = new Set(g.closure(group.target));
    for (const link of group.links) for (const node of g.closure(link.node)) all.add(node);
    nodes = all;
    byGroup.set(group, nodes);
  }
  return nodes;
}

export interface SetWalkBounds {
  /** Most of the set's resources reached before a whole lookup is the cheaper way. */
  readonly wideAt: number;
  /** Most objects reached in all before the set is recomputed whole. */
  readonly maxReached: number;
  readonly pacer?: Pacer;
  readonly reached?: (count: number) => void;
}

/**
 * What a set must do for the changes only it is concerned by (its subject's or chain's own
 * relationships), walked at the work's revision by the set itself. The walk goes only where this
 * set's permission goes, and stops once it has reached more of the set's resources than
 * `wideAt`: past that, looking the set up whole costs less than re-checking them. `lookup`: past
 * `wideAt`; `recompute`: past `maxReached` objects in all, or a delegation link changed.
 */
export async function walkForSet(
  reader: StoreReader,
  g: ReverseGraph,
  group: Group,
  changes: readonly Change[],
  bounds: SetWalkBounds,
): Promise<Set<string> | "lookup" | "recompute"> {
  let wide = false;
  const dirty = await dirtyObjects(reader, g, relevantTo(g, group), changes, {
    limit: bounds.maxReached,
    resources: { type: group.request.resourceType, limit: bounds.wideAt },
    ...(bounds.pacer === undefined ? {} : { pacer: bounds.pacer }),
    reached: (n, past) => {
      wide = past === "resources";
      bounds.reached?.(n);
    },
  });
  if (dirty === undefined) return wide ? "lookup" : "recompute";
  if (linkChanged(group, dirty, g)) return "recompute";
  return dirtyIn(dirty, g.closure(group.target), group.request.resourceType);
}
