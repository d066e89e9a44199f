/**
 * CheckPermission's `with_tracing` answer as SpiceDB shapes it (DebugInformation with a tree of
 * CheckDebugTrace), built from Latch's explanation (engine/explain.ts).
 *
 * Latch explains every step (operators, arrows, the relationships read); SpiceDB traces one node
 * per `object#relation` it dispatched. So each explanation node labelled `type:id#name` becomes a
 * CheckDebugTrace, the `type:id#name` nodes found below it (through operators and arrows) are its
 * sub-problems, and the first caveat evaluated on the way is its caveat information.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import type { CheckState, ObjectRef, SubjectRef } from "../../core/index.js";
import type { CaveatTrace, ExplainNode } from "../../engine/index.js";
import {
  type CaveatEvalInfo,
  CaveatEvalInfo_Result,
  CaveatEvalInfoSchema,
  type CheckDebugTrace,
  CheckDebugTrace_Permissionship,
  CheckDebugTrace_PermissionType,
  CheckDebugTraceSchema,
  type DebugInformation,
  DebugInformationSchema,
} from "../../gen/authzed/api/v1/debug_pb.js";
import { type CompiledSchema, getMember } from "../../schema/index.js";
import { objectRefToSpice, subjectRefToSpice } from "./convert.js";

/** `document:q3#view`: an object and one of its relations or permissions, nothing more. */
const OBJECT_MEMBER = /^([^\s:#@]+):([^\s#@]+)#([^\s#@]+)$/;

const RESULTS: Readonly<Record<CheckState, CheckDebugTrace_Permissionship>> = {
  ALLOWED: CheckDebugTrace_Permissionship.HAS_PERMISSION,
  DENIED: CheckDebugTrace_Permissionship.NO_PERMISSION,
  CONDITIONAL: CheckDebugTrace_Permissionship.CONDITIONAL_PERMISSION,
};

const CAVEAT_RESULTS: Readonly<Record<CaveatTrace["result"], CaveatEvalInfo_Result>> = {
  true: CaveatEvalInfo_Result.TRUE,
  false: CaveatEvalInfo_Result.FALSE,
  missing: CaveatEvalInfo_Result.MISSING_SOME_CONTEXT,
  // An expression that failed has no value: SpiceDB's "not evaluated".
  error: CaveatEvalInfo_Result.UNEVALUATED,
};

/** Caveat contexts may hold bigints or dates after evaluation; a Struct holds JSON. */
function jsonObject(value: Readonly<Record<string, unknown>>): JsonObject {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)) ?? "{}",
  ) as JsonObject;
}

function caveatInfo(t: CaveatTrace, schema: CompiledSchema | undefined): CaveatEvalInfo {
  return create(CaveatEvalInfoSchema, {
    caveatName: t.name,
    expression: schema?.caveats.get(t.name)?.expression ?? "",
    result: CAVEAT_RESULTS[t.result],
    context: jsonObject(t.context),
    ...(t.missing === undefined || t.missing.length === 0
      ? {}
      : { partialCaveatInfo: { missingRequiredContext: [...t.missing] } }),
  });
}

interface TraceScope {
  readonly subject: SubjectRef;
  readonly schema: CompiledSchema | undefined;
}

function permissionType(schema: CompiledSchema | undefined, ref: ObjectRef, name: string) {
  const member = schema === undefined ? undefined : getMember(schema, ref.type, name);
  return member === undefined
    ? CheckDebugTrace_PermissionType.UNSPECIFIED
    : member.kind === "relation"
      ? CheckDebugTrace_PermissionType.RELATION
      : CheckDebugTrace_PermissionType.PERMISSION;
}

/** The sub-problems and first caveat below `node`, through the steps SpiceDB does not trace. */
function collect(
  node: ExplainNode,
  scope: TraceScope,
  out: { traces: CheckDebugTrace[]; caveat: CaveatTrace | undefined },
): void {
  for (const child of node.children ?? []) {
    const match = OBJECT_MEMBER.exec(child.label);
    if (match !== null) {
      out.traces.push(traceOf(child, { type: match[1]!, id: match[2]! }, match[3]!, scope));
      continue;
    }
    out.caveat ??= child.caveats?.[0];
    collect(child, scope, out);
  }
}

function traceOf(
  node: ExplainNode,
  resource: ObjectRef,
  permission: string,
  scope: TraceScope,
): CheckDebugTrace {
  const below = { traces: [] as CheckDebugTrace[], caveat: node.caveats?.[0] };
  collect(node, scope, below);
  return create(CheckDebugTraceSchema, {
    resource: objectRefToSpice(resource),
    permission,
    permissionType: permissionType(scope.schema, resource, permission),
    subject: subjectRefToSpice(scope.subject),
    result: RESULTS[node.state],
    ...(below.caveat === undefined ? {} : { caveatEvaluationInfo: caveatInfo(below.caveat, scope.schema) }),
    resolution: node.cached
      ? { case: "wasCachedResult", value: true }
      : { case: "subProblems", value: { traces: below.traces } },
    source: "latch",
  });
}

/**
 * The DebugInformation of one check. `schema` (the compiled schema the check ran on) tells
 * relations from permissions; `schemaText` is sent back as SpiceDB sends the schema it used.
 */
export function debugInformation(
  explain: ExplainNode,
  request: { readonly resource: ObjectRef; readonly permission: string; readonly subject: SubjectRef },
  schema: CompiledSchema | undefined,
  schemaText: string,
): DebugInformation {
  const scope: TraceScope = { subject: request.subject, schema };
  const match = OBJECT_MEMBER.exec(explain.label);
  // The root is the request's own object#permission; labelled otherwise, it is traced as that.
  const check =
    match === null
      ? traceOf(
          { label: "", state: explain.state, children: [explain] },
          request.resource,
          request.permission,
          scope,
        )
      : traceOf(explain, { type: match[1]!, id: match[2]! }, match[3]!, scope);
  return create(DebugInformationSchema, { check, schemaUsed: schemaText });
}
