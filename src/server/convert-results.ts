/** Converters for engine answers (checks, traces, expansions) between engine types and the wire. */
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CheckState, DecisionState } from "../core/index.js";
import type { CaveatTrace, ExpandNode, ExplainNode } from "../engine/index.js";
import {
  AlgebraicSubjectSet_Operation,
  CaveatTrace_Result,
  type CaveatTrace as CaveatTraceMessage,
  type CheckTrace,
  type CheckTraceNodeSchema,
  CheckTraceSchema,
  type PermissionRelationshipTree,
  PermissionRelationshipTreeSchema,
  CheckPermissionResponse_Permissionship as Permissionship,
} from "../gen/latch/v1/permission_service_pb.js";
import { objectRefToProto, subjectRefToProto } from "./convert.js";

export { Permissionship };

export function permissionshipToProto(state: DecisionState): Permissionship {
  return state === "ALLOWED"
    ? Permissionship.ALLOWED
    : state === "CONDITIONAL"
      ? Permissionship.CONDITIONAL
      : state === "APPROVAL_REQUIRED"
        ? Permissionship.APPROVAL_REQUIRED
        : Permissionship.DENIED;
}

/** Anything not known as ALLOWED, CONDITIONAL or APPROVAL_REQUIRED reads as DENIED. */
export function permissionshipFromProto(p: Permissionship): DecisionState {
  return p === Permissionship.ALLOWED
    ? "ALLOWED"
    : p === Permissionship.CONDITIONAL
      ? "CONDITIONAL"
      : p === Permissionship.APPROVAL_REQUIRED
        ? "APPROVAL_REQUIRED"
        : "DENIED";
}

const CAVEAT_RESULTS: Readonly<Record<CaveatTrace["result"], CaveatTrace_Result>> = {
  true: CaveatTrace_Result.TRUE,
  false: CaveatTrace_Result.FALSE,
  missing: CaveatTrace_Result.MISSING,
  error: CaveatTrace_Result.ERROR,
};

function caveatTraceToProto(t: CaveatTrace): CaveatTraceMessage {
  return {
    $typeName: "latch.v1.CaveatTrace",
    caveatName: t.name,
    context: jsonObject(t.context),
    result: CAVEAT_RESULTS[t.result],
    missingRequiredContext: [...(t.missing ?? [])],
    error: t.error ?? "",
  };
}

/** Caveat contexts may hold bigints or dates after evaluation; the wire carries JSON. */
function jsonObject(value: Readonly<Record<string, unknown>>): JsonObject {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)) ?? "{}",
  ) as JsonObject;
}

/**
 * The explanation on the wire: its steps flat, depth first, each naming its parent (see
 * `CheckTrace` in permission_service.proto). Both directions walk with an explicit stack, so no
 * explanation is too deep to convert.
 */
export function explainToProto(root: ExplainNode): CheckTrace {
  const nodes: MessageInitShape<typeof CheckTraceNodeSchema>[] = [];
  const stack: { node: ExplainNode; parent: number }[] = [{ node: root, parent: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { node, parent } = item;
    nodes.push({
      label: node.label,
      permissionship: permissionshipToProto(node.state),
      caveats: (node.caveats ?? []).map(caveatTraceToProto),
      cached: node.cached ?? false,
      parent,
    });
    const self = nodes.length;
    const children = node.children ?? [];
    // Pushed in reverse so they come out, and are numbered, in order.
    for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i]!, parent: self });
  }
  return create(CheckTraceSchema, { nodes });
}

interface BuiltNode {
  label: string;
  state: CheckState;
  caveats?: CaveatTrace[];
  children?: BuiltNode[];
  cached?: true;
}

/** Rebuilds the tree the engine returned; undefined when the trace names no root. */
export function explainFromProto(msg: CheckTrace): ExplainNode | undefined {
  const built: BuiltNode[] = [];
  for (const [i, n] of msg.nodes.entries()) {
    const caveats = n.caveats.map(caveatTraceFromProto);
    const node: BuiltNode = {
      label: n.label,
      // A trace node is the engine's: never APPROVAL_REQUIRED.
      state: permissionshipFromProto(n.permissionship) as CheckState,
      ...(caveats.length > 0 ? { caveats } : {}),
      ...(n.cached ? { cached: true as const } : {}),
    };
    built.push(node);
    // A parent comes first; anything else (a malformed trace) is left out, never looped on.
    if (i === 0 || n.parent === 0 || n.parent > i) continue;
    const parent = built[n.parent - 1]!;
    parent.children ??= [];
    parent.children.push(node);
  }
  return built[0];
}

function caveatTraceFromProto(c: CaveatTraceMessage): CaveatTrace {
  return {
    name: c.caveatName,
    context: c.context ?? {},
    result:
      c.result === CaveatTrace_Result.TRUE
        ? "true"
        : c.result === CaveatTrace_Result.FALSE
          ? "false"
          : c.result === CaveatTrace_Result.MISSING
            ? "missing"
            : "error",
    ...(c.missingRequiredContext.length > 0 ? { missing: c.missingRequiredContext } : {}),
    ...(c.error === "" ? {} : { error: c.error }),
  };
}

const OPS = {
  union: AlgebraicSubjectSet_Operation.UNION,
  intersection: AlgebraicSubjectSet_Operation.INTERSECTION,
  exclusion: AlgebraicSubjectSet_Operation.EXCLUSION,
} as const;

export function expandToProto(node: ExpandNode): PermissionRelationshipTree {
  const base = { expandedObject: objectRefToProto(node.object), expandedRelation: node.relation };
  if (node.kind === "leaf") {
    return create(PermissionRelationshipTreeSchema, {
      ...base,
      treeType: {
        case: "leaf",
        value: {
          subjects: node.subjects.map((s) => ({
            subject: subjectRefToProto(s.subject),
            optionalCaveatName: s.caveat ?? "",
            ...(s.expiration === undefined ? {} : { optionalExpiresAt: timestampFromDate(s.expiration) }),
          })),
        },
      },
    });
  }
  return create(PermissionRelationshipTreeSchema, {
    ...base,
    treeType: {
      case: "intermediate",
      value: { operation: OPS[node.kind], children: node.children.map(expandToProto) },
    },
  });
}

export function expandFromProto(msg: PermissionRelationshipTree): ExpandNode {
  const object = { type: msg.expandedObject?.objectType ?? "", id: msg.expandedObject?.objectId ?? "" };
  const relation = msg.expandedRelation;
  const tree = msg.treeType;
  if (tree.case === "intermediate") {
    const kind =
      tree.value.operation === AlgebraicSubjectSet_Operation.INTERSECTION
        ? "intersection"
        : tree.value.operation === AlgebraicSubjectSet_Operation.EXCLUSION
          ? "exclusion"
          : "union";
    return { kind, object, relation, children: tree.value.children.map(expandFromProto) };
  }
  const subjects = tree.case === "leaf" ? tree.value.subjects : [];
  return {
    kind: "leaf",
    object,
    relation,
    subjects: subjects.map((s) => {
      const o = s.subject?.object;
      const rel = s.subject?.optionalRelation ?? "";
      return {
        subject: {
          type: o?.objectType ?? "",
          id: o?.objectId ?? "",
          ...(rel === "" ? {} : { relation: rel }),
        },
        ...(s.optionalCaveatName === "" ? {} : { caveat: s.optionalCaveatName }),
        ...(s.optionalExpiresAt === undefined ? {} : { expiration: timestampDate(s.optionalExpiresAt) }),
      };
    }),
  };
}
