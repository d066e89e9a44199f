/**
 * The schema read backwards: for each relation or permission, which others a change to it can
 * change, and how to find the objects concerned. It is the edge set behind SpiceDB's
 * ComputablePermissions (schema/dependencies.ts), kept with the one fact the incremental watch
 * also needs: whether an edge stays on the same object or crosses to the objects that name it as
 * a subject (a subject set `group#member`, or an arrow's tupleset `parent`), and by which relation.
 */
import type { CompiledSchema, PermissionExpr } from "../../schema/index.js";

/** `definition#member`. */
export type NodeKey = string;

export const nodeKey = (definition: string, member: string): NodeKey => `${definition}#${member}`;

/** `to` may change when `from` changes on some object. */
export interface UpEdge {
  readonly from: NodeKey;
  readonly to: NodeKey;
  /**
   * Absent: the same object. Present: the objects of `resourceType` that have a relationship
   * `relation` to the changed object (as `subjectType:id#subjectRelation`, "" for none).
   */
  readonly via?: {
    readonly resourceType: string;
    readonly relation: string;
    readonly subjectType: string;
    readonly subjectRelation: string;
  };
}

export interface ReverseGraph {
  /** Edges leaving each node, upward. */
  readonly up: ReadonlyMap<NodeKey, readonly UpEdge[]>;
  /** Every node `target` depends on, directly or not, and `target` itself. */
  closure(target: NodeKey): ReadonlySet<NodeKey>;
  /** The relations some arrow follows (`parent` of `parent->view`): their subjects are walked, not matched. */
  readonly tuplesets: ReadonlySet<NodeKey>;
}

function push(map: Map<NodeKey, UpEdge[]>, edge: UpEdge): void {
  const list = map.get(edge.from);
  if (list === undefined) map.set(edge.from, [edge]);
  else list.push(edge);
}

function permissionEdges(
  schema: CompiledSchema,
  definition: string,
  to: NodeKey,
  expr: PermissionExpr,
  add: (edge: UpEdge) => void,
  follows: (relation: string) => void,
): void {
  switch (expr.kind) {
    case "union":
    case "intersection":
      for (const child of expr.children) permissionEdges(schema, definition, to, child, add, follows);
      return;
    case "exclusion":
      permissionEdges(schema, definition, to, expr.base, add, follows);
      permissionEdges(schema, definition, to, expr.subtract, add, follows);
      return;
    case "computed":
      add({ from: nodeKey(definition, expr.name), to });
      return;
    case "arrow": {
      follows(expr.tupleset);
      add({ from: nodeKey(definition, expr.tupleset), to });
      const tupleset = schema.definitions.get(definition)?.members.get(expr.tupleset);
      if (tupleset?.kind !== "relation") return;
      for (const allowed of tupleset.allowed) {
        if (allowed.wildcard || !schema.definitions.get(allowed.type)?.members.has(expr.computed)) continue;
        add({
          from: nodeKey(allowed.type, expr.computed),
          to,
          via: {
            resourceType: definition,
            relation: expr.tupleset,
            subjectType: allowed.type,
            subjectRelation: allowed.relation ?? "",
          },
        });
      }
      return;
    }
    case "nil":
      return;
  }
}

export function buildReverseGraph(schema: CompiledSchema): ReverseGraph {
  const up = new Map<NodeKey, UpEdge[]>();
  const down = new Map<NodeKey, NodeKey[]>();
  const tuplesets = new Set<NodeKey>();
  const add = (edge: UpEdge) => {
    push(up, edge);
    const list = down.get(edge.to);
    if (list === undefined) down.set(edge.to, [edge.from]);
    else list.push(edge.from);
  };
  for (const def of schema.definitions.values()) {
    for (const member of def.members.values()) {
      const to = nodeKey(def.name, member.name);
      if (member.kind === "permission") {
        permissionEdges(schema, def.name, to, member.expr, add, (t) => tuplesets.add(nodeKey(def.name, t)));
        continue;
      }
      // A plain subject or a wildcard has no state of its own: only subject sets carry changes up.
      for (const allowed of member.allowed) {
        if (allowed.relation === undefined) continue;
        add({
          from: nodeKey(allowed.type, allowed.relation),
          to,
          via: {
            resourceType: def.name,
            relation: member.name,
            subjectType: allowed.type,
            subjectRelation: allowed.relation,
          },
        });
      }
    }
  }
  const closures = new Map<NodeKey, ReadonlySet<NodeKey>>();
  return {
    up,
    tuplesets,
    closure(target) {
      let found = closures.get(target);
      if (found !== undefined) return found;
      const seen = new Set<NodeKey>([target]);
      const queue = [target];
      while (queue.length > 0) {
        for (const next of down.get(queue.pop()!) ?? []) {
          if (seen.has(next)) continue;
          seen.add(next);
          queue.push(next);
        }
      }
      found = seen;
      closures.set(target, found);
      return found;
    },
  };
}
