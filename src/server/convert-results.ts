/** Converters for engine answers (checks, traces, expansions) between engine types and the wire. */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CheckState } from "../core/index.js";
import type { CaveatTrace, ExpandNode, ExplainNode } from "../engine/index.js";
import {
  AlgebraicSubjectSet_Operation,
  CaveatTrace_Result,
  type CaveatTrace as CaveatTraceMessage,
  type CheckTrace,
  CheckTraceSchema,
  type PermissionRelationshipTree,
  PermissionRelationshipTreeSchema,
  CheckPermissionResponse_Permissionship as Permissionship,
} from "../gen/latch/v1/permission_service_pb.js";
import { objectRefToProto, subjectRefToProto } from "./convert.js";

export { Permissionship };

export function permissionshipToProto(state: CheckState): Permissionship {
  return state === "ALLOWED"
    ? Permissionship.ALLOWED
    : state === "CONDITIONAL"
      ? Permissionship.CONDITIONAL
      : Permissionship.DENIED;
}

export function permissionshipFromProto(p: Permissionship): CheckState {
  return p === Permissionship.ALLOWED
    ? "ALLOWED"
    : p === Permissionship.CONDITIONAL
      ? "CONDITIONAL"
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

export function explainToProto(node: ExplainNode): CheckTrace {
  return create(CheckTraceSchema, {
    label: node.label,
    permissionship: permissionshipToProto(node.state),
    caveats: (node.caveats ?? []).map(caveatTraceToProto),
    children: (node.children ?? []).map(explainToProto),
    cached: node.cached ?? false,
  });
}

export function explainFromProto(msg: CheckTrace): ExplainNode {
  const caveats = msg.caveats.map(
    (c): CaveatTrace => ({
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
    }),
  );
  return {
    label: msg.label,
    state: permissionshipFromProto(msg.permissionship),
    ...(caveats.length > 0 ? { caveats } : {}),
    ...(msg.children.length > 0 ? { children: msg.children.map(explainFromProto) } : {}),
    ...(msg.cached ? { cached: true } : {}),
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
