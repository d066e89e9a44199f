/** PermissionService: checks, expansions and lookups through the engine. */
import { create } from "@bufbuild/protobuf";
import { formatRelationshipWithoutContext, type Relationship } from "../core/index.js";
import type { CheckBulkItem, CheckBulkItemResult, Engine } from "../engine/index.js";
import {
  PartialCaveatInfoSchema,
  type Relationship as RelationshipMessage,
} from "../gen/latch/v1/core_pb.js";
import type {
  CheckBulkPermissionsPair,
  CheckBulkPermissionsRequestItem,
  CheckBulkPermissionsResponse,
  CheckPermissionResponse,
  PermissionService,
} from "../gen/latch/v1/permission_service_pb.js";
import { type Decider, overLimit, type PermissionWatch } from "../service/index.js";
import { consistencyFromProto, delegationFromProto, relationshipFromProto } from "./convert.js";
import { expandToProto, explainToProto, permissionshipToProto } from "./convert-results.js";
import { boundStatusMessage } from "./errors.js";
import type { ServiceImplementation } from "./grpc-adapter.js";
import { lookupResources, lookupSubjects } from "./handlers-lookup.js";
import { watchPermissions } from "./handlers-watch-permissions.js";
import type { ServerLimits } from "./limits.js";
import { bulkItemOf, checkRequestOf, expandRequestOf } from "./request-shapes.js";
import { optional } from "./wire-shapes.js";

type Methods = (typeof PermissionService)["method"];

function contextualFromProto(
  list: readonly RelationshipMessage[],
  limits: ServerLimits,
): readonly Relationship[] | undefined {
  if (list.length === 0) return undefined;
  if (list.length > limits.maxContextualRelationships) {
    throw overLimit("contextual_relationships", limits.maxContextualRelationships, list.length);
  }
  return list.map((r, i) => relationshipFromProto(r, `contextual_relationships[${i}]`));
}

/** The engine's item for a CheckBulkPermissionsRequestItem; fields are read (and refused) in wire order. */
function bulkCheckItemOf(item: CheckBulkPermissionsRequestItem, i: number): CheckBulkItem {
  const out: { -readonly [K in keyof CheckBulkItem]: CheckBulkItem[K] } = bulkItemOf(item, i);
  if (item.onBehalfOf.length > 0 || item.subjectGrants !== 0) {
    const delegated = delegationFromProto(item.onBehalfOf, item.subjectGrants, `items[${i}].`);
    if (delegated.onBehalfOf !== undefined) out.onBehalfOf = delegated.onBehalfOf;
    if (delegated.subjectGrants !== undefined) out.subjectGrants = delegated.subjectGrants;
  }
  if (item.consumeApproval) out.consumeApproval = true;
  return out;
}

/** One pair of the response: the item asked (echoed) and its answer or error, as messages. */
function bulkPairOf(
  r: CheckBulkItemResult,
  request: CheckBulkPermissionsRequestItem | undefined,
): CheckBulkPermissionsPair {
  const pair: CheckBulkPermissionsPair = {
    $typeName: "latch.v1.CheckBulkPermissionsPair",
    response: r.ok
      ? {
          case: "item",
          value: {
            $typeName: "latch.v1.CheckBulkPermissionsResponseItem",
            permissionship: permissionshipToProto(r.state),
            approvalRule: r.approvalRule ?? "",
            approvalId: r.approvalId ?? "",
          },
        }
      : {
          case: "error",
          // Per-item failures are about that item's input; the engine reports no other kind.
          value: {
            $typeName: "latch.v1.CheckBulkPermissionsError",
            statusCode: 3,
            errorCode: r.error.code,
            message: boundStatusMessage(r.error.message),
          },
        },
  };
  if (request !== undefined) pair.request = request;
  if (r.ok && r.state === "CONDITIONAL" && pair.response.case === "item")
    pair.response.value.partialCaveatInfo = create(PartialCaveatInfoSchema, {
      missingRequiredContext: [...r.missing],
    });
  return pair;
}

/** What WatchPermissions needs: the live sets, and the signal that ends every stream at shutdown. */
export interface PermissionWatching {
  readonly permissions: PermissionWatch;
  readonly shutdown: AbortSignal;
}

/** Expand and LookupSubjects ask the engine; every decision goes through `decider`. */
export function permissionHandlers(
  engine: Engine,
  limits: ServerLimits,
  decider: Decider,
  watching: PermissionWatching,
): ServiceImplementation<Methods> {
  return {
    async checkPermission(req, ctx) {
      // Built field by field rather than from spreads (this is the hottest call); fields are still
      // read (and refused) in wire order.
      const request = checkRequestOf(req);
      const contextual = contextualFromProto(req.contextualRelationships, limits);
      if (contextual !== undefined) request.contextualRelationships = contextual;
      if (req.withTracing) request.explain = true;
      if (req.onBehalfOf.length > 0 || req.subjectGrants !== 0) {
        const delegated = delegationFromProto(req.onBehalfOf, req.subjectGrants);
        if (delegated.onBehalfOf !== undefined) request.onBehalfOf = delegated.onBehalfOf;
        if (delegated.subjectGrants !== undefined) request.subjectGrants = delegated.subjectGrants;
      }
      if (req.actorToken !== "") request.actorToken = req.actorToken;
      if (req.consumeApproval) request.consumeApproval = true;
      if (req.withWitness) request.witness = true;
      const result = await decider.check(request, ctx.requestOptions);
      // The message itself rather than an init object for create() to copy: what create() would
      // make of { checkedAt: { token }, permissionship } (the adapter's create() returns a message
      // as it is).
      const response: CheckPermissionResponse = {
        $typeName: "latch.v1.CheckPermissionResponse",
        permissionship: permissionshipToProto(result.state),
        checkedAt: { $typeName: "latch.v1.ZedToken", token: result.token },
        approvalRule: result.approvalRule ?? "",
        approvalId: result.approvalId ?? "",
        // As the audit trail and approvals show a witness: the caveat's stored context left out.
        witness: result.witness === undefined ? [] : result.witness.map(formatRelationshipWithoutContext),
      };
      if (result.state === "CONDITIONAL")
        response.partialCaveatInfo = create(PartialCaveatInfoSchema, {
          missingRequiredContext: [...result.missing],
        });
      if (result.explain !== undefined) response.debugTrace = explainToProto(result.explain);
      return response;
    },

    async checkBulkPermissions(req, ctx) {
      if (req.items.length > limits.maxBulkItems)
        throw overLimit("items", limits.maxBulkItems, req.items.length);
      // Built item by item rather than from spreads and create(): a bulk's cost is per item.
      const items = req.items.map(bulkCheckItemOf);
      const result = await decider.checkBulk(
        {
          items,
          ...optional("consistency", consistencyFromProto(req.consistency, "consistency")),
          ...optional("contextualRelationships", contextualFromProto(req.contextualRelationships, limits)),
          ...(req.actorToken === "" ? {} : { actorToken: req.actorToken }),
        },
        ctx.requestOptions,
      );
      const pairs = result.results.map((r, i) => bulkPairOf(r, req.items[i]));
      // The message itself, so that the adapter's create() does not copy it.
      const response: CheckBulkPermissionsResponse = {
        $typeName: "latch.v1.CheckBulkPermissionsResponse",
        checkedAt: { $typeName: "latch.v1.ZedToken", token: result.token },
        pairs,
      };
      return response;
    },

    async expandPermissionTree(req, ctx) {
      const result = await engine.expand(expandRequestOf(req), { signal: ctx });
      return { expandedAt: { token: result.token }, treeRoot: expandToProto(result.tree) };
    },

    lookupResources: (req, ctx) => lookupResources(decider, req, ctx),

    lookupSubjects: (req, ctx) => lookupSubjects(engine, req, ctx),

    watchPermissions: (req, ctx) => watchPermissions(watching.permissions, watching.shutdown, req, ctx),
  };
}
