/**
 * ExperimentalService: the older names of calls other services now serve (clients still call
 * them), answered by the same code as their successors; and the relationship counters, which
 * Latch does not keep (UNIMPLEMENTED, with what to use instead).
 */
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import type {
  BulkCheckPermissionRequestItem,
  BulkImportRelationshipsRequest,
  ExperimentalService,
} from "../../gen/authzed/api/v1/experimental_service_pb.js";
import {
  type CheckBulkPermissionsRequestItem,
  CheckBulkPermissionsRequestSchema,
  CheckBulkPermissionsResponseSchema,
  ExportBulkRelationshipsRequestSchema,
  ExportBulkRelationshipsResponseSchema,
  ImportBulkRelationshipsRequestSchema,
  ImportBulkRelationshipsResponseSchema,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { AuthzedDeps } from "./deps.js";
import { AuthzedError } from "./errors.js";
import { decisionHandlers } from "./permissions-decisions.js";
import { relationshipHandlers } from "./permissions-relationships.js";
import { schemaCalls } from "./schema-service.js";

type Methods = (typeof ExperimentalService)["method"];

function counters(method: string): AuthzedError {
  return new AuthzedError(
    status.UNIMPLEMENTED,
    `authzed.api.v1.ExperimentalService/${method} is not implemented by Latch: it keeps no relationship counters. Count with ReadRelationships (or ExportBulkRelationships) and a filter instead`,
  );
}

/** An older name whose successor Latch does not serve yet. */
function noSuccessor(method: string, successor: string): AuthzedError {
  return new AuthzedError(
    status.UNIMPLEMENTED,
    `authzed.api.v1.ExperimentalService/${method} is not implemented by Latch yet: it answers as authzed.api.v1.PermissionsService/${successor}, which is not served yet`,
  );
}

/** One bulk check item's fields, whichever of the two messages names them. */
const itemOf = (i: BulkCheckPermissionRequestItem | CheckBulkPermissionsRequestItem) => ({
  resource: i.resource,
  permission: i.permission,
  subject: i.subject,
  context: i.context,
});

/**
 * The bulk calls' older names: the request becomes its successor's (same fields, other message
 * names), the successor answers, and its answer goes back under the older names.
 */
function bulkAliases(deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  const relationships = relationshipHandlers(deps);
  const decisions = decisionHandlers(deps);
  return {
    async bulkImportRelationships(requests, ctx) {
      const successor = relationships.importBulkRelationships;
      if (successor === undefined) throw noSuccessor("BulkImportRelationships", "ImportBulkRelationships");
      async function* renamed() {
        for await (const r of requests as AsyncIterable<BulkImportRelationshipsRequest>)
          yield create(ImportBulkRelationshipsRequestSchema, { relationships: r.relationships });
      }
      const answer = create(ImportBulkRelationshipsResponseSchema, await successor(renamed(), ctx));
      return { numLoaded: answer.numLoaded };
    },
    async *bulkExportRelationships(req, ctx) {
      const successor = relationships.exportBulkRelationships;
      if (successor === undefined) throw noSuccessor("BulkExportRelationships", "ExportBulkRelationships");
      const request = create(ExportBulkRelationshipsRequestSchema, {
        ...(req.consistency === undefined ? {} : { consistency: req.consistency }),
        optionalLimit: req.optionalLimit,
        ...(req.optionalCursor === undefined ? {} : { optionalCursor: req.optionalCursor }),
        ...(req.optionalRelationshipFilter === undefined
          ? {}
          : { optionalRelationshipFilter: req.optionalRelationshipFilter }),
      });
      for await (const page of successor(request, ctx)) {
        const answer = create(ExportBulkRelationshipsResponseSchema, page);
        yield { afterResultCursor: answer.afterResultCursor, relationships: answer.relationships };
      }
    },
    async bulkCheckPermission(req, ctx) {
      const successor = decisions.checkBulkPermissions;
      if (successor === undefined) throw noSuccessor("BulkCheckPermission", "CheckBulkPermissions");
      const request = create(CheckBulkPermissionsRequestSchema, {
        ...(req.consistency === undefined ? {} : { consistency: req.consistency }),
        items: req.items.map(itemOf),
      });
      const answer = create(CheckBulkPermissionsResponseSchema, await successor(request, ctx));
      return {
        checkedAt: answer.checkedAt,
        pairs: answer.pairs.map((p) => ({
          ...(p.request === undefined ? {} : { request: itemOf(p.request) }),
          response:
            p.response.case === "item"
              ? {
                  case: "item" as const,
                  value: {
                    permissionship: p.response.value.permissionship,
                    partialCaveatInfo: p.response.value.partialCaveatInfo,
                  },
                }
              : p.response.case === "error"
                ? { case: "error" as const, value: p.response.value }
                : { case: undefined },
        })),
      };
    },
  };
}

export function experimentalHandlers(deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  const schema = schemaCalls(deps);
  return {
    ...bulkAliases(deps),
    experimentalReflectSchema: (req) => schema.reflect(req.consistency, req.optionalFilters),
    experimentalComputablePermissions: (req) =>
      schema.computablePermissions(
        req.consistency,
        req.definitionName,
        req.relationName,
        req.optionalDefinitionNameFilter,
      ),
    experimentalDependentRelations: (req) =>
      schema.dependentRelations(req.consistency, req.definitionName, req.permissionName),
    experimentalDiffSchema: (req) => schema.diff(req.consistency, req.comparisonSchema),
    async experimentalRegisterRelationshipCounter() {
      throw counters("ExperimentalRegisterRelationshipCounter");
    },
    async experimentalCountRelationships() {
      throw counters("ExperimentalCountRelationships");
    },
    async experimentalUnregisterRelationshipCounter() {
      throw counters("ExperimentalUnregisterRelationshipCounter");
    },
  };
}
