/**
 * SchemaService: ReadSchema, WriteSchema, ReflectSchema, ComputablePermissions, DependentRelations
 * and DiffSchema, all from the compiled IR (src/schema: reflect, dependencies, diff). The store
 * validates and stores a schema as on latch.v1; what is refused becomes SpiceDB's status in
 * errors.ts (a parse error with its 0-based position, a write that would orphan relationships).
 */
import { status } from "@grpc/grpc-js";
import type { SchemaService } from "../../gen/authzed/api/v1/schema_service_pb.js";
import {
  compileSchema,
  computablePermissions,
  type DependencyResult,
  dependentRelations,
  diffSchemas,
  reflectionFilterProblem,
  reflectSchema,
} from "../../schema/index.js";
import { overLimit, readRevision } from "../../service/index.js";
import { latestReader } from "../../store/index.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import { consistencyFromSpice, zedTokenToSpice } from "./convert.js";
import type { AuthzedDeps } from "./deps.js";
import { AuthzedError } from "./errors.js";
import { compiledSchema } from "./schema-cache.js";
import { referencesToSpice, reflectionToSpice, schemaChangeToSpice } from "./schema-reflection.js";

type Methods = (typeof SchemaService)["method"];

/** A problem of a dependency question as SpiceDB answers it. */
function dependencyError(result: Extract<DependencyResult, { ok: false }>, definition: string, name: string) {
  const { kind, message } = result.problem;
  switch (kind) {
    case "unknown-definition":
      return new AuthzedError(status.FAILED_PRECONDITION, message, "ERROR_REASON_UNKNOWN_DEFINITION", {
        definition_name: definition,
      });
    case "unknown-member":
      return new AuthzedError(
        status.FAILED_PRECONDITION,
        message,
        "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
        {
          definition_name: definition,
          relation_or_permission_name: name,
        },
      );
    case "not-a-permission":
      return new AuthzedError(
        status.INVALID_ARGUMENT,
        message,
        "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
        {
          relationName: name,
        },
      );
  }
}

interface FilterFields {
  readonly optionalDefinitionNameFilter: string;
  readonly optionalCaveatNameFilter: string;
  readonly optionalRelationNameFilter: string;
  readonly optionalPermissionNameFilter: string;
}

type ConsistencyField = Parameters<typeof consistencyFromSpice>[0];

/**
 * The reflection calls over plain fields, so that SchemaService and ExperimentalService's older
 * names (whose messages have the same fields under other names) answer alike.
 */
export function schemaCalls(deps: AuthzedDeps) {
  const { store, limits } = deps;
  const resolve = async (consistency: ConsistencyField) => {
    const revision = await readRevision(store, consistencyFromSpice(consistency, "consistency"));
    const stored = await store.at(revision).readSchema();
    return { schema: compiledSchema(stored?.text), readAt: zedTokenToSpice(store.encodeRevision(revision)) };
  };
  return {
    async reflect(consistency: ConsistencyField, given: readonly FilterFields[]) {
      const filters = given.map((f) => ({
        definition: f.optionalDefinitionNameFilter,
        caveat: f.optionalCaveatNameFilter,
        relation: f.optionalRelationNameFilter,
        permission: f.optionalPermissionNameFilter,
      }));
      const problem = reflectionFilterProblem(filters);
      if (problem !== undefined) {
        throw new AuthzedError(
          status.INVALID_ARGUMENT,
          `invalid reflection filter: ${problem}`,
          "ERROR_REASON_INVALID_FILTER",
          {
            filter: problem.slice(0, problem.indexOf(":")),
          },
        );
      }
      const { schema, readAt } = await resolve(consistency);
      return { ...reflectionToSpice(reflectSchema(schema, filters)), readAt };
    },
    async computablePermissions(
      consistency: ConsistencyField,
      definition: string,
      relation: string,
      prefix: string,
    ) {
      const { schema, readAt } = await resolve(consistency);
      const result = computablePermissions(schema, definition, relation, prefix);
      if (!result.ok) throw dependencyError(result, definition, relation);
      return { permissions: referencesToSpice(result.references), readAt };
    },
    async dependentRelations(consistency: ConsistencyField, definition: string, permission: string) {
      const { schema, readAt } = await resolve(consistency);
      const result = dependentRelations(schema, definition, permission);
      if (!result.ok) throw dependencyError(result, definition, permission);
      return { relations: referencesToSpice(result.references), readAt };
    },
    async diff(consistency: ConsistencyField, comparisonSchema: string) {
      if (comparisonSchema.length > limits.maxSchemaBytes)
        throw overLimit("comparison_schema", limits.maxSchemaBytes, comparisonSchema.length);
      const { schema, readAt } = await resolve(consistency);
      // A comparison schema that does not compile is refused as WriteSchema would refuse it.
      const comparison = compileSchema(comparisonSchema, { file: "comparison_schema" });
      return { diffs: diffSchemas(schema, comparison).map(schemaChangeToSpice), readAt };
    },
  };
}

export function schemaHandlers(deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  const { store, limits } = deps;
  const calls = schemaCalls(deps);
  return {
    async readSchema() {
      const stored = await (await latestReader(store)).readSchema();
      // SpiceDB has no schema until a definition is written; one with none is none.
      if (stored === undefined || compiledSchema(stored.text).definitions.size === 0) {
        throw new AuthzedError(status.NOT_FOUND, "no schema has been written: call WriteSchema first");
      }
      return { schemaText: stored.text, readAt: zedTokenToSpice(store.encodeRevision(stored.revision)) };
    },

    async writeSchema(req) {
      // An empty schema is allowed, as in SpiceDB: it removes every definition no data uses.
      if (req.schema.length > limits.maxSchemaBytes)
        throw overLimit("schema", limits.maxSchemaBytes, req.schema.length);
      const revision = await store.writeSchema(req.schema);
      return { writtenAt: zedTokenToSpice(store.encodeRevision(revision)) };
    },

    reflectSchema: (req) => calls.reflect(req.consistency, req.optionalFilters),
    computablePermissions: (req) =>
      calls.computablePermissions(
        req.consistency,
        req.definitionName,
        req.relationName,
        req.optionalDefinitionNameFilter,
      ),
    dependentRelations: (req) =>
      calls.dependentRelations(req.consistency, req.definitionName, req.permissionName),
    diffSchema: (req) => calls.diff(req.consistency, req.comparisonSchema),
  };
}
