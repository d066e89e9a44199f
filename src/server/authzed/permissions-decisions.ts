/**
 * PermissionsService's decisions: CheckPermission, CheckBulkPermissions, ExpandPermissionTree,
 * and the lookups (permissions-lookups.ts). Checks, bulk checks and LookupResources go through the
 * same decision seam as latch.v1 (so auditing and delegation see them); Expand and
 * LookupSubjects ask the engine, as on latch.v1.
 */
import { create } from "@bufbuild/protobuf";
import {
  type CheckState,
  type DecisionState,
  formatObjectRef,
  formatSubjectRef,
  LatchError,
} from "../../core/index.js";
import type { CheckBulkItem, CheckRequest, CheckResult, ExpandNode } from "../../engine/index.js";
import {
  AlgebraicSubjectSet_Operation,
  type PermissionRelationshipTree,
  PermissionRelationshipTreeSchema,
} from "../../gen/authzed/api/v1/core_pb.js";
import {
  type CheckBulkPermissionsPair,
  CheckBulkPermissionsPairSchema,
  type CheckPermissionResponse,
  CheckPermissionResponse_Permissionship as Permissionship,
  type PermissionsService,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import { compileSchema } from "../../schema/index.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import { bulkItemOf, checkRequestOf, expandRequestOf } from "../request-shapes.js";
import { caveatInfo, optional } from "../wire-shapes.js";
import { consistencyFromSpice, objectRefToSpice, subjectRefToSpice } from "./convert.js";
import { debugInformation } from "./debug-trace.js";
import type { AuthzedDeps } from "./deps.js";
import { AuthzedError, itemStatus, tooManyStatus } from "./errors.js";
import { lookupResources, lookupSubjects } from "./permissions-lookups.js";

type Methods = (typeof PermissionsService)["method"];

const PERMISSIONSHIP: Readonly<Record<CheckState, Permissionship>> = {
  ALLOWED: Permissionship.HAS_PERMISSION,
  DENIED: Permissionship.NO_PERMISSION,
  CONDITIONAL: Permissionship.CONDITIONAL_PERMISSION,
};

/**
 * SpiceDB has no permissionship for APPROVAL_REQUIRED (src/approvals). NO_PERMISSION would hide
 * that a person's approval would grant it, so the caller could never start the flow; an error is
 * what every SpiceDB client already treats as "not allowed", and it names the rule. FAILED_PRECONDITION:
 * asking again changes nothing until someone approves (docs/spicedb-api.md).
 */
function approvalRequired(item: CheckBulkItem, rule: string | undefined): LatchError {
  const what = `${formatObjectRef(item.resource)}#${item.permission} for ${formatSubjectRef(item.subject)}`;
  return new LatchError(
    "approval/required",
    "failed-precondition",
    `${what} needs a person's approval (approval rule ${JSON.stringify(rule ?? "")}), which SpiceDB's API cannot answer: request it with latch.v1 ApprovalService.RequestApproval (or \`latch approvals request\`), then check again once approved`,
    { approvalRule: rule ?? "" },
  );
}

/** SpiceDB's answer for a state it has (APPROVAL_REQUIRED is an error: approvalRequired). */
function permissionshipOf(state: Exclude<DecisionState, "APPROVAL_REQUIRED">): Permissionship {
  return PERMISSIONSHIP[state];
}

function errorOf(e: LatchError) {
  return { code: e.code, message: e.message, kind: e.kind, details: e.details };
}

/** SpiceDB's trace of a check, with the schema it ran on (read again only when tracing). */
async function traceOf(deps: AuthzedDeps, request: CheckRequest, result: CheckResult) {
  if (result.explain === undefined) return undefined;
  const stored = await deps.store.at(result.revision).readSchema();
  const text = stored?.text ?? "";
  let schema: ReturnType<typeof compileSchema> | undefined;
  try {
    schema = text === "" ? undefined : compileSchema(text);
  } catch {
    // A stored schema always compiled; without it the trace only lacks relation/permission kinds.
  }
  return debugInformation(result.explain, request, schema, text);
}

const OPERATIONS = {
  union: AlgebraicSubjectSet_Operation.UNION,
  intersection: AlgebraicSubjectSet_Operation.INTERSECTION,
  exclusion: AlgebraicSubjectSet_Operation.EXCLUSION,
} as const;

/** Latch's expansion as SpiceDB's tree; a leaf lists its subjects (SpiceDB's leaves carry no caveats). */
function expandToSpice(node: ExpandNode): PermissionRelationshipTree {
  const base = { expandedObject: objectRefToSpice(node.object), expandedRelation: node.relation };
  return create(PermissionRelationshipTreeSchema, {
    ...base,
    treeType:
      node.kind === "leaf"
        ? { case: "leaf", value: { subjects: node.subjects.map((s) => subjectRefToSpice(s.subject)) } }
        : {
            case: "intermediate",
            value: { operation: OPERATIONS[node.kind], children: node.children.map(expandToSpice) },
          },
  });
}

export function decisionHandlers(deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  const { decider, engine, limits } = deps;
  return {
    async checkPermission(req, ctx) {
      const request = checkRequestOf(req);
      if (req.withTracing) request.explain = true;
      const result = await decider.check(request, ctx.requestOptions);
      if (result.state === "APPROVAL_REQUIRED") throw approvalRequired(request, result.approvalRule);
      // The message itself rather than an init object for create() to copy (see latch.v1's handler).
      const response: CheckPermissionResponse = {
        $typeName: "authzed.api.v1.CheckPermissionResponse",
        permissionship: permissionshipOf(result.state),
        checkedAt: { $typeName: "authzed.api.v1.ZedToken", token: result.token },
      };
      if (result.state === "CONDITIONAL")
        response.partialCaveatInfo = {
          $typeName: "authzed.api.v1.PartialCaveatInfo",
          missingRequiredContext: [...result.missing],
        };
      // Only a traced check pays for an await here: this is the hottest call.
      if (result.explain !== undefined) response.debugTrace = await traceOf(deps, request, result);
      return response;
    },

    async checkBulkPermissions(req, ctx) {
      if (req.items.length > limits.maxBulkItems) {
        const over = tooManyStatus("items", req.items.length, limits.maxBulkItems);
        throw new AuthzedError(
          over.code,
          `items: ${req.items.length} checks is over the limit of ${limits.maxBulkItems}: split the request`,
          over.reason,
          over.metadata,
        );
      }
      const items = req.items.map(bulkItemOf);
      const result = await decider.checkBulk(
        { items, ...optional("consistency", consistencyFromSpice(req.consistency, "consistency")) },
        ctx.requestOptions,
      );
      const pairs: CheckBulkPermissionsPair[] = [];
      for (const [i, item] of result.results.entries()) {
        const r: typeof item =
          item.ok && item.state === "APPROVAL_REQUIRED"
            ? { ok: false, error: errorOf(approvalRequired(items[i]!, item.approvalRule)) }
            : item;
        let debugTrace: Awaited<ReturnType<typeof traceOf>>;
        if (r.ok && req.withTracing) {
          // Explained one by one at the bulk check's own revision, by the engine: the decision was
          // made (and recorded) once, by the seam; its explanation must not be a second decision.
          const one: CheckRequest = {
            ...items[i]!,
            explain: true,
            consistency: { kind: "at-exact-snapshot", token: result.token },
          };
          debugTrace = await traceOf(deps, one, await engine.check(one, { signal: ctx }));
        }
        pairs.push(
          create(CheckBulkPermissionsPairSchema, {
            ...optional("request", req.items[i]),
            response: r.ok
              ? {
                  case: "item",
                  value: {
                    permissionship: permissionshipOf(r.state as CheckState),
                    ...(r.state === "CONDITIONAL" ? caveatInfo(r.missing) : {}),
                    ...optional("debugTrace", debugTrace),
                  },
                }
              : { case: "error", value: itemStatus(r.error) },
          }),
        );
      }
      return { checkedAt: { token: result.token }, pairs };
    },

    async expandPermissionTree(req, ctx) {
      const result = await engine.expand(expandRequestOf(req), { signal: ctx });
      return { expandedAt: { token: result.token }, treeRoot: expandToSpice(result.tree) };
    },

    lookupResources: (req, ctx) => lookupResources(decider, req, ctx),

    lookupSubjects: (req, ctx) => lookupSubjects(engine, req, ctx),
  };
}
