/**
 * WatchService: the change feed of relationships (and, when asked, of the schema and checkpoints)
 * over the service layer's watch, as SpiceDB sends it: one message per revision with the updates
 * that pass the filters, a separate `schema_updated` message and a separate checkpoint message,
 * each with `changes_through`, the token to resume after.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import type { Revision } from "../../core/index.js";
import { WatchKind, type WatchService } from "../../gen/authzed/api/v1/watch_service_pb.js";
import { relationshipMatches, typeName, watchChanges } from "../../service/index.js";
import type { RelationshipFilter, Store } from "../../store/index.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import { createStreamPacer, pacedMap } from "../stream-pacing.js";
import { filterFromSpice, updateToSpice, zedTokenToSpice } from "./convert.js";
import type { AuthzedDeps } from "./deps.js";
import { AuthzedError } from "./errors.js";
import { compiledSchema } from "./schema-cache.js";

type Methods = (typeof WatchService)["method"];

/** Refuses a filter naming a type or relation the schema at `revision` does not define, as SpiceDB does. */
async function checkFilters(store: Store, revision: Revision, filters: readonly RelationshipFilter[]) {
  if (filters.length === 0) return;
  const schema = compiledSchema((await store.at(revision).readSchema())?.text);
  for (const [i, f] of filters.entries()) {
    const at = `optional_relationship_filters[${i}]`;
    // A filter without a resource type matches every type.
    const type = f.resourceType;
    if (!type) continue;
    const definition = schema.definitions.get(type);
    if (definition === undefined) {
      throw new AuthzedError(
        status.FAILED_PRECONDITION,
        `${at}.resource_type: object definition \`${type}\` not found`,
        "ERROR_REASON_UNKNOWN_DEFINITION",
        { definition_name: type },
      );
    }
    if (f.relation !== undefined && !definition.members.has(f.relation)) {
      throw new AuthzedError(
        status.FAILED_PRECONDITION,
        `${at}.optional_relation: relation/permission \`${f.relation}\` not found under definition \`${type}\``,
        "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
        { definition_name: type, relation_or_permission_name: f.relation },
      );
    }
    if (f.subject !== undefined && !schema.definitions.has(f.subject.type)) {
      throw new AuthzedError(
        status.FAILED_PRECONDITION,
        `${at}.optional_subject_filter.subject_type: object definition \`${f.subject.type}\` not found`,
        "ERROR_REASON_UNKNOWN_DEFINITION",
        { definition_name: f.subject.type },
      );
    }
  }
}

export function watchHandlers(deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  const { store } = deps;
  return {
    async *watch(req, ctx) {
      const kinds = new Set(req.optionalUpdateKinds);
      const relationships =
        kinds.size === 0 ||
        kinds.has(WatchKind.UNSPECIFIED) ||
        kinds.has(WatchKind.INCLUDE_RELATIONSHIP_UPDATES);
      const schemaUpdates = kinds.has(WatchKind.INCLUDE_SCHEMA_UPDATES);
      const checkpoints = kinds.has(WatchKind.INCLUDE_CHECKPOINTS);
      if (relationships && req.optionalObjectTypes.length > 0 && req.optionalRelationshipFilters.length > 0) {
        throw new AuthzedError(
          status.INVALID_ARGUMENT,
          "cannot give both optional_object_types and optional_relationship_filters: express the object types as filters",
        );
      }
      const objectTypes = req.optionalObjectTypes.map((t, i) => typeName(t, `optional_object_types[${i}]`));
      const filters = req.optionalRelationshipFilters.map((f, i) =>
        filterFromSpice(f, `optional_relationship_filters[${i}]`),
      );
      const token = req.optionalStartCursor?.token ?? "";
      const after = token === "" ? await store.currentRevision() : store.decodeRevision(token);
      await checkFilters(store, after, filters);

      const batches = watchChanges(store, {
        after,
        objectTypes,
        ...(filters.length === 0 ? {} : { filter: (r) => filters.some((f) => relationshipMatches(r, f)) }),
        checkpoints,
        pollMs: deps.watchPollMs,
        signal: AbortSignal.any([ctx.signal, deps.shutdown]),
      });
      // A message carries a whole revision (an import or delete may be 200,000 changes).
      const pacer = createStreamPacer();
      for await (const batch of batches) {
        const changesThrough = zedTokenToSpice(store.encodeRevision(batch.revision));
        if (batch.checkpoint === true) {
          yield { isCheckpoint: true, changesThrough };
          continue;
        }
        if (relationships && batch.changes.length > 0) {
          yield {
            updates: await pacedMap(
              batch.changes,
              (c) => updateToSpice({ operation: c.operation, relationship: c.relationship }),
              pacer,
            ),
            changesThrough,
            ...(batch.metadata === undefined
              ? {}
              : { optionalTransactionMetadata: batch.metadata as JsonObject }),
          };
        }
        if (schemaUpdates && batch.schemaUpdated) yield { schemaUpdated: true, changesThrough };
      }
    },
  };
}
