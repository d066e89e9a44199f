/**
 * Expand: the userset tree of one object's relation or permission. As in SpiceDB, a relation is a
 * leaf listing its direct subjects (subject sets are shown, not expanded); permissions become
 * union/intersection/exclusion nodes; an arrow is a union over the objects it reaches.
 */
import { LatchError, type ObjectRef } from "../core/index.js";
import type { StoreReader } from "../store/index.js";
import type { PlanMember, PlanNode } from "./plan.js";
import type { Cancellation, ExpandNode } from "./types.js";

export async function expandTree(
  reader: StoreReader,
  member: PlanMember,
  id: string,
  signal: Cancellation | undefined,
  /** The engine's depth limit; expand counts every member it expands on the path. */
  maxDepth: number,
): Promise<ExpandNode> {
  const expandMember = async (
    m: PlanMember,
    objectId: string,
    path: ReadonlySet<string>,
  ): Promise<ExpandNode> => {
    if (signal?.aborted) {
      throw new LatchError("request/deadline-exceeded", "deadline-exceeded", "the request was aborted");
    }
    const object: ObjectRef = { type: m.def.name, id: objectId };
    const key = `${m.label}:${objectId}`;
    if (path.has(key)) return { kind: "leaf", object, relation: m.name, subjects: [] };
    if (path.size >= maxDepth) {
      throw new LatchError(
        "check/max-depth-exceeded",
        "failed-precondition",
        `expand exceeded the maximum depth of ${maxDepth} at ${m.label}; the data nests too deep`,
        { maxDepth, at: m.label },
      );
    }
    const next = new Set(path).add(key);
    return expandNode(m, m.node, object, next);
  };

  const expandNode = async (
    m: PlanMember,
    node: PlanNode,
    object: ObjectRef,
    path: ReadonlySet<string>,
  ): Promise<ExpandNode> => {
    switch (node.k) {
      case "nil":
        return { kind: "leaf", object, relation: m.name, subjects: [] };
      case "relation": {
        const rels = await reader.lookupForward({
          resourceType: object.type,
          resourceIds: [object.id],
          relations: [node.name],
        });
        return {
          kind: "leaf",
          object,
          relation: node.name,
          subjects: rels.map((r) => ({
            subject: r.subject,
            ...(r.caveat === undefined ? {} : { caveat: r.caveat.name }),
            ...(r.expiration === undefined ? {} : { expiration: r.expiration }),
          })),
        };
      }
      case "computed":
        return expandMember(node.target, object.id, path);
      case "union":
      case "intersection": {
        const children: ExpandNode[] = [];
        for (const c of node.children) children.push(await expandNode(m, c, object, path));
        return { kind: node.k, object, relation: m.name, children };
      }
      case "exclusion":
        return {
          kind: "exclusion",
          object,
          relation: m.name,
          children: [
            await expandNode(m, node.base, object, path),
            await expandNode(m, node.subtract, object, path),
          ],
        };
      case "arrow": {
        const rels = await reader.lookupForward({
          resourceType: object.type,
          resourceIds: [object.id],
          relations: [node.tupleset],
        });
        const children: ExpandNode[] = [];
        for (const r of rels) {
          const target = node.targets.get(r.subject.type);
          if (target === undefined || r.subject.id === "*") continue;
          children.push(await expandMember(target, r.subject.id, path));
        }
        return {
          kind: node.mode === "all" ? "intersection" : "union",
          object,
          relation:
            node.mode === "all"
              ? `${node.tupleset}.all(${node.computed})`
              : `${node.tupleset}->${node.computed}`,
          children,
        };
      }
    }
  };

  return expandMember(member, id, new Set());
}
