/**
 * One step of the feed, planned once for every kept set: which sets it may concern, and what
 * each must re-check. The sets are indexed by the plain objects whose own relationships concern
 * them (their subject and chain) and by the node they watch (`document#view`), so a step costs
 * work in proportion to what it changed, not to how many sets are kept: a grant to bob touches
 * bob's sets alone, and the sets nothing reached are not visited at all.
 */
import { type ObjectRef, WILDCARD_ID } from "../../core/index.js";
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

interface Walks {
  /** From the changes that may concern anyone; undefined when the walk went past its bound. */
  readonly general: Dirty | undefined;
  /** By subject (`user:bob`): from the changes that concern only that subject's sets. */
  readonly personal: ReadonlyMap<string, Dirty | undefined>;
}

/**
 * Walks the changes up the reverse graph: once for those that may concern anyone, and once per
 * subject for those that concern only it. A relationship to a plain object (not a wildcard, not
 * a subject set) on a relation no arrow follows can change only that object's own permissions:
 * Check matches such a subject by equality, never through it. So `group:eng#member@user:bob`
 * re-checks bob's sets alone, however many documents the group reaches.
 */
async function walk(
  reader: StoreReader,
  index: GroupIndex,
  changes: readonly Change[],
  maxReached: number,
): Promise<Walks> {
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
  const walked = new Map<string, Dirty | undefined>();
  for (const [key, list] of personal) {
    walked.set(key, await dirtyObjects(reader, g, index.relevant, list, maxReached));
  }
  return {
    general:
      general.length === 0 ? new Map() : await dirtyObjects(reader, g, index.relevant, general, maxReached),
    personal: walked,
  };
}

/** What one set must do for a step: re-check these ids, or recompute whole. */
export interface Planned {
  whole: boolean;
  readonly ids: Set<string>;
}

export interface StepInput {
  readonly changes: readonly Change[];
  /** Subjects whose own state changed (signals): their sets are recomputed whole. */
  readonly subjects: readonly ObjectRef[];
  /** Every kept set, scanned only when `subjects` is not empty. */
  readonly groups: Iterable<Group>;
}

function linkChanged(group: Group, parts: readonly Dirty[], g: ReverseGraph): boolean {
  return group.links.some((link) =>
    parts.some((part) => dirtyIn(part, g.closure(link.node), link.object.type).has(link.object.id)),
  );
}

/** The sets a step concerns, each with what it must do; the sets it does not name keep their answers. */
export async function planStep(
  reader: StoreReader,
  index: GroupIndex,
  input: StepInput,
  maxReached: number,
): Promise<Map<Group, Planned>> {
  const out = new Map<Group, Planned>();
  const plan = (group: Group): Planned => {
    const found = out.get(group);
    if (found !== undefined) return found;
    const p: Planned = { whole: false, ids: new Set() };
    out.set(group, p);
    return p;
  };
  const g = index.graph;
  for (const subject of input.subjects) {
    for (const group of input.groups) if (group.involves(subject)) plan(group).whole = true;
  }
  if (input.changes.length === 0) return out;
  const walks = await walk(reader, index, input.changes, maxReached);
  if (walks.general === undefined) {
    for (const group of input.groups) plan(group).whole = true;
    return out;
  }
  const general = walks.general;
  if (general.size > 0) {
    for (const [target, list] of index.byTarget) {
      const ids = dirtyIn(general, g.closure(target), list[0]!.request.resourceType);
      if (ids.size === 0) continue;
      for (const group of list) for (const id of ids) plan(group).ids.add(id);
    }
  }
  for (const [key, part] of walks.personal) {
    for (const group of index.bySubject.get(key) ?? []) {
      if (part === undefined) {
        plan(group).whole = true;
        continue;
      }
      const ids = dirtyIn(part, g.closure(group.target), group.request.resourceType);
      if (ids.size > 0) for (const id of ids) plan(group).ids.add(id);
    }
  }
  for (const group of index.linked) {
    const parts: Dirty[] = [general];
    for (const key of group.subjectKeys) {
      const part = walks.personal.get(key);
      if (part !== undefined) parts.push(part);
    }
    if (linkChanged(group, parts, g)) plan(group).whole = true;
  }
  return out;
}
