/**
 * Which objects a set of relationship changes may have changed the permissions of: the changed
 * relationships' resources, then upward along the reverse graph, reading at the new revision. A
 * superset (caveats, intersections and exclusions are ignored here; the re-check decides), and
 * enough: a path from a changed object to a watched one either still exists at the new revision,
 * or one of its edges changed too, and that edge's resource is itself a starting point.
 *
 * The walk yields to the event loop every few milliseconds (the engine's pacer), so a change
 * that reaches many objects (a user joining a group with ten thousand documents) never holds
 * other sets' updates, the feed's polling or other requests for its whole length.
 */
import type { Pacer } from "../../engine/index.js";
import type { Change, StoreReader } from "../../store/index.js";
import { type NodeKey, nodeKey, type ReverseGraph } from "./reverse-graph.js";

/** Ids per node; `undefined` when more than the limit were reached (recompute instead). */
export type Dirty = ReadonlyMap<NodeKey, ReadonlySet<string>>;

/** Subject ids per reverse query, so one statement never carries an unbounded list. */
const REVERSE_CHUNK = 500;

export interface WalkBounds {
  /** Most objects reached, at any node, before the walk gives up (`undefined` result). */
  readonly limit: number;
  /**
   * An object type, and the most of its objects the walk may reach (at any of its nodes) before
   * it gives up: a set's own walk stops once it has reached more of the set's resources than a
   * whole lookup would cost.
   */
  readonly resources?: { readonly type: string; readonly limit: number };
  /** When to let the event loop run; never yields without one. */
  readonly pacer?: Pacer;
  /** Told how many objects the walk reached, and which bound it went past if it gave up. */
  readonly reached?: (count: number, past: "limit" | "resources" | undefined) => void;
}

/** The objects the changes may concern, at the reader's revision; `undefined` past a bound. */
export async function dirtyObjects(
  reader: StoreReader,
  graph: ReverseGraph,
  relevant: ReadonlySet<NodeKey>,
  changes: readonly Change[],
  bounds: WalkBounds,
): Promise<Dirty | undefined> {
  let total = 0;
  let past: "limit" | "resources" | undefined;
  try {
    const dirty = new Map<NodeKey, Set<string>>();
    const { limit, resources, pacer } = bounds;
    const prefix = resources === undefined ? undefined : `${resources.type}#`;
    const ofType = new Set<string>();
    let frontier = new Map<NodeKey, Set<string>>();
    const mark = (node: NodeKey, id: string, into: Map<NodeKey, Set<string>>): boolean => {
      const ids = dirty.get(node) ?? new Set<string>();
      dirty.set(node, ids);
      if (ids.has(id)) return true;
      ids.add(id);
      const next = into.get(node) ?? new Set<string>();
      into.set(node, next);
      next.add(id);
      if (prefix !== undefined && node.startsWith(prefix) && !ofType.has(id)) {
        ofType.add(id);
        if (ofType.size > resources!.limit) {
          past = "resources";
          return false;
        }
      }
      if (++total <= limit) return true;
      past = "limit";
      return false;
    };
    for (const change of changes) {
      const r = change.relationship;
      const node = nodeKey(r.resource.type, r.relation);
      if (relevant.has(node) && !mark(node, r.resource.id, frontier)) return undefined;
    }
    while (frontier.size > 0) {
      const next = new Map<NodeKey, Set<string>>();
      for (const [node, ids] of frontier) {
        for (const edge of graph.up.get(node) ?? []) {
          if (!relevant.has(edge.to)) continue;
          if (edge.via === undefined) {
            for (const id of ids) if (!mark(edge.to, id, next)) return undefined;
            if (pacer?.due(ids.size)) await pacer.pause();
            continue;
          }
          const all = [...ids];
          for (let start = 0; start < all.length; start += REVERSE_CHUNK) {
            const found = await reader.lookupReverse({
              resourceType: edge.via.resourceType,
              relations: [edge.via.relation],
              subjectType: edge.via.subjectType,
              subjectIds: all.slice(start, start + REVERSE_CHUNK),
              subjectRelation: edge.via.subjectRelation,
            });
            for (const r of found) if (!mark(edge.to, r.resource.id, next)) return undefined;
            if (pacer?.due(found.length + 1)) await pacer.pause();
          }
        }
      }
      frontier = next;
    }
    return dirty;
  } finally {
    bounds.reached?.(total, past);
  }
}

/** The objects of `definition` dirty at any node of `closure`. */
export function dirtyIn(dirty: Dirty, closure: ReadonlySet<NodeKey>, definition: string): Set<string> {
  const out = new Set<string>();
  const prefix = `${definition}#`;
  for (const node of closure) {
    if (!node.startsWith(prefix)) continue;
    for (const id of dirty.get(node) ?? []) out.add(id);
  }
  return out;
}
