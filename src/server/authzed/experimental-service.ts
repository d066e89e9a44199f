/**
 * ExperimentalService: the older names of calls other services now serve (clients still call
 * them), answered by the same code as their successors; and the relationship counters, which
 * Latch does not keep (UNIMPLEMENTED, with what to use instead).
 */
import { status } from "@grpc/grpc-js";
import type { ExperimentalService } from "../../gen/authzed/api/v1/experimental_service_pb.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { AuthzedDeps } from "./deps.js";
import { AuthzedError } from "./errors.js";
import { schemaCalls } from "./schema-service.js";

type Methods = (typeof ExperimentalService)["method"];

function counters(method: string): AuthzedError {
  return new AuthzedError(
    status.UNIMPLEMENTED,
    `authzed.api.v1.ExperimentalService/${method} is not implemented by Latch: it keeps no relationship counters. Count with ReadRelationships (or ExportBulkRelationships) and a filter instead`,
  );
}

export function experimentalHandlers(deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  const schema = schemaCalls(deps);
  return {
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
