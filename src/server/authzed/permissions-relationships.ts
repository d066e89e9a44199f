/**
 * PermissionsService's relationship calls: ReadRelationships, WriteRelationships,
 * DeleteRelationships, ImportBulkRelationships and ExportBulkRelationships, over the same store as
 * latch.v1's RelationshipService, with SpiceDB's semantics (docs/spicedb-relationships.md).
 */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { LatchError, type Relationship, type Revision } from "../../core/index.js";
import type { Relationship as RelationshipMessage } from "../../gen/authzed/api/v1/core_pb.js";
import {
  DeleteRelationshipsResponse_DeletionProgress,
  type ExportBulkRelationshipsRequest,
  type ExportBulkRelationshipsResponseSchema,
  type PermissionsService,
  type Precondition as PreconditionMessage,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import type { CompiledSchema } from "../../schema/index.js";
import { readRelationshipPages, readRevision } from "../../service/index.js";
import {
  checkFilter,
  compactedError,
  type DeleteResult,
  type Precondition,
  type RelationshipFilter,
  type Store,
  type WriteOptions,
} from "../../store/index.js";
import type { CallContext, ServiceImplementation } from "../grpc-adapter.js";
import {
  consistencyFromSpice,
  cursorFromSpice,
  cursorToSpice,
  filterFromSpice,
  preconditionFromSpice,
  relationshipFromSpice,
  relationshipToSpice,
  updateFromSpice,
  zedTokenToSpice,
} from "./convert.js";
import type { AuthzedDeps } from "./deps.js";
import {
  checkFilterNames,
  checkTransactionMetadata,
  cursorRevision,
  cursorsAfter,
  DEFAULT_EXPORT_BATCH,
  decodeExportCursor,
  encodeExportCursor,
  importTooLarge,
  limitTooLarge,
  MAX_DELETE_LIMIT,
  MAX_EXPORT_BATCH,
  MAX_READ_LIMIT,
  refineSubjectError,
  spiceWriteError,
  tooMany,
  transactionalDeleteError,
} from "./relationship-rules.js";
import { schemaAt } from "./schema-cache.js";

type Methods = (typeof PermissionsService)["method"];
type ExportMessage = MessageInitShape<typeof ExportBulkRelationshipsResponseSchema>;

/** Transaction metadata is kept with the write's revision; Watch can return it (WatchBatch.metadata). */
function metadataOf(metadata: JsonObject | undefined): WriteOptions {
  return metadata === undefined ? {} : { metadata };
}

export function relationshipHandlers(deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  const { store, limits } = deps;

  const currentSchema = async () => schemaAt(store.at(await store.currentRevision()));

  /** Preconditions within the count limit, each filter named against the current schema. */
  const preconditionsOf = async (
    list: readonly PreconditionMessage[],
    schema: () => Promise<CompiledSchema | undefined>,
  ): Promise<Precondition[]> => {
    if (list.length > limits.maxPreconditions)
      throw tooMany("preconditions", list.length, limits.maxPreconditions);
    const preconditions = list.map((p, i) => preconditionFromSpice(p, `optional_preconditions[${i}]`));
    if (preconditions.length === 0) return preconditions;
    const compiled = await schema();
    for (const [i, p] of preconditions.entries()) {
      checkFilter(p.filter);
      checkFilterNames(compiled, p.filter, `optional_preconditions[${i}].filter`);
    }
    return preconditions;
  };

  return {
    async *readRelationships(req, ctx) {
      if (req.optionalLimit > MAX_READ_LIMIT)
        throw limitTooLarge(req.optionalLimit, MAX_READ_LIMIT, "optional_limit");
      const filter = filterFromSpice(req.relationshipFilter, "relationship_filter");
      checkFilter(filter);
      const cursor = cursorFromSpice(req.optionalCursor);
      // A cursor pins the revision it was issued at, whatever the consistency says (as SpiceDB);
      // it is resolved as an exact-snapshot token (store, mac, reached, compacted).
      const revision =
        cursor === undefined
          ? await readRevision(store, consistencyFromSpice(req.consistency, "consistency"), ctx)
          : await cursorRevision(store, cursor, filter, ctx);
      const reader = store.at(revision);
      checkFilterNames(await schemaAt(reader), filter, "relationship_filter");
      const token = store.encodeRevision(revision);
      const readAt = zedTokenToSpice(token);
      const cursorAfter = cursorsAfter(filter, revision, token);
      const pages = readRelationshipPages(reader, filter, {
        ...(req.optionalLimit > 0 ? { limit: req.optionalLimit } : {}),
        ...(cursor === undefined ? {} : { cursor }),
        signal: ctx.signal,
        onAbort: "end",
      });
      for await (const page of pages) {
        for (const r of page.relationships) {
          yield {
            readAt,
            relationship: relationshipToSpice(r),
            afterResultCursor: cursorToSpice(cursorAfter(r)),
          };
        }
      }
    },

    async writeRelationships(req) {
      checkTransactionMetadata(req.optionalTransactionMetadata);
      if (req.updates.length > limits.maxUpdates)
        throw tooMany("updates", req.updates.length, limits.maxUpdates);
      const preconditions = await preconditionsOf(req.optionalPreconditions, currentSchema);
      const updates = req.updates.map((u, i) => updateFromSpice(u, `updates[${i}]`));
      let revision: Revision;
      try {
        revision = await store.write(updates, preconditions, metadataOf(req.optionalTransactionMetadata));
      } catch (error) {
        throw await refineSubjectError(spiceWriteError(error, preconditions, updates), currentSchema);
      }
      return { writtenAt: zedTokenToSpice(store.encodeRevision(revision)) };
    },

    async deleteRelationships(req) {
      checkTransactionMetadata(req.optionalTransactionMetadata);
      if (req.optionalLimit > MAX_DELETE_LIMIT)
        throw limitTooLarge(req.optionalLimit, MAX_DELETE_LIMIT, "optional_limit");
      const filter = filterFromSpice(req.relationshipFilter, "relationship_filter");
      checkFilter(filter);
      const schema = await currentSchema();
      checkFilterNames(schema, filter, "relationship_filter");
      const preconditions = await preconditionsOf(req.optionalPreconditions, async () => schema);
      const limit = req.optionalLimit > 0 ? req.optionalLimit : undefined;
      let result: DeleteResult;
      try {
        result = await store.deleteRelationships(filter, {
          preconditions,
          ...metadataOf(req.optionalTransactionMetadata),
          ...(limit === undefined ? {} : { limit, failOverLimit: !req.optionalAllowPartialDeletions }),
        });
      } catch (error) {
        throw transactionalDeleteError(spiceWriteError(error, preconditions), filter, limit ?? 0);
      }
      return {
        deletedAt: zedTokenToSpice(store.encodeRevision(result.revision)),
        // As SpiceDB: reaching the limit may have left matches behind.
        deletionProgress:
          limit !== undefined && result.deleted === limit
            ? DeleteRelationshipsResponse_DeletionProgress.PARTIAL
            : DeleteRelationshipsResponse_DeletionProgress.COMPLETE,
        relationshipsDeletedCount: BigInt(result.deleted),
      };
    },

    async importBulkRelationships(requests, ctx) {
      try {
        return { numLoaded: await importBulk(store, requests, limits.maxImportRelationships, ctx) };
      } catch (error) {
        throw await refineSubjectError(error, currentSchema);
      }
    },

    async *exportBulkRelationships(req, ctx) {
      yield* exportBulk(store, req, ctx);
    },
  };
}

/**
 * Every relationship of a client stream, in one transaction with CREATE semantics: an existing (or
 * repeated) relationship fails the whole import, as in SpiceDB. Returns how many were loaded.
 * `maxRelationships`: the server's `maxImportRelationships`, as the stream is held in memory.
 * `call`: the call's cancellation, checked once the stream has been read, before the store commits.
 */
export async function importBulk(
  store: Store,
  requests: AsyncIterable<{ readonly relationships: readonly RelationshipMessage[] }>,
  maxRelationships: number,
  call?: Pick<CallContext, "aborted" | "signal">,
): Promise<bigint> {
  let count = 0;
  async function* relationships(): AsyncIterable<Relationship> {
    for await (const msg of requests) {
      // The load is held in memory until it commits: bounded, so one stream cannot exhaust it.
      if (count + msg.relationships.length > maxRelationships) throw importTooLarge(maxRelationships);
      for (const r of msg.relationships) yield relationshipFromSpice(r, `relationships[${count++}]`);
    }
    // The store reads the whole stream before it commits: the last word the call has. A client
    // that cancelled (or a deadline that passed) while it was read must leave nothing.
    if (call?.aborted === true) throw call.signal.reason;
  }
  const result = await store.importRelationships(relationships(), { createOnly: true });
  return BigInt(result.count);
}

/**
 * Every relationship matching the request's filter, a batch per message, type by type in name
 * order with the store's own cursor within a type (as SpiceDB walks its namespaces).
 * ExperimentalService's BulkExportRelationships, which has the same request and answer, calls
 * exportBulkRelationships.
 */
async function* exportBulk(
  store: Store,
  req: Pick<
    ExportBulkRelationshipsRequest,
    "consistency" | "optionalLimit" | "optionalCursor" | "optionalRelationshipFilter"
  >,
  ctx: Pick<CallContext, "signal">,
): AsyncGenerator<ExportMessage> {
  if (req.optionalLimit > MAX_EXPORT_BATCH)
    throw limitTooLarge(req.optionalLimit, MAX_EXPORT_BATCH, "optional_limit");
  const batch = req.optionalLimit > 0 ? req.optionalLimit : DEFAULT_EXPORT_BATCH;
  // The filter's resource type picks the types walked; its other fields narrow each type's read.
  const { resourceType: wanted, ...base } =
    req.optionalRelationshipFilter === undefined
      ? ({} as RelationshipFilter)
      : filterFromSpice(req.optionalRelationshipFilter, "optional_relationship_filter");
  const token = cursorFromSpice(req.optionalCursor);
  const start = token === undefined ? undefined : decodeExportCursor(token);
  const filterFor = (type: string): RelationshipFilter => ({ ...base, resourceType: type });
  // A cursor's revision is resolved as an exact-snapshot token: before the schema is read, so a
  // compacted one is refused (revision/compacted) rather than finding no schema, hence no types.
  const revision =
    start === undefined
      ? await readRevision(store, consistencyFromSpice(req.consistency, "consistency"), ctx.signal)
      : await cursorRevision(store, start.cursor, filterFor(start.type), ctx.signal);
  const reader = store.at(revision);
  const schema = await schemaAt(reader);
  // No schema at a resumed export's revision: not "nothing left", since the first page found one.
  // It can only mean the history went (compaction since the check); refuse rather than end early.
  if (schema === undefined && start !== undefined) throw await noSchemaAt(store, revision);
  const types = schema === undefined ? [] : [...schema.definitions.keys()].sort();
  const pinned = store.encodeRevision(revision);
  for (const type of types) {
    if (wanted !== undefined && type !== wanted) continue;
    if (start !== undefined && type < start.type) continue;
    const filter = filterFor(type);
    const cursorAfter = cursorsAfter(filter, revision, pinned);
    const resume = start !== undefined && type === start.type ? start.cursor : undefined;
    const pages = readRelationshipPages(reader, filter, {
      ...(resume === undefined ? {} : { cursor: resume }),
      signal: ctx.signal,
      onAbort: "end",
    });
    let pending: Relationship[] = [];
    const flush = (): ExportMessage => {
      const last = pending[pending.length - 1] as Relationship;
      const message: ExportMessage = {
        relationships: pending.map(relationshipToSpice),
        afterResultCursor: cursorToSpice(encodeExportCursor({ type, cursor: cursorAfter(last) })),
      };
      pending = [];
      return message;
    };
    for await (const page of pages) {
      for (const r of page.relationships) {
        pending.push(r);
        if (pending.length === batch) yield flush();
      }
    }
    if (pending.length > 0) yield flush();
  }
}

/** Why a resumed export found no schema at its cursor's revision: compacted, as a rule. */
async function noSchemaAt(store: Store, revision: Revision): Promise<LatchError> {
  const horizon = await store.historyHorizon?.();
  if (horizon !== undefined && revision < horizon.revision) return compactedError(revision, horizon);
  return new LatchError(
    "schema/missing",
    "failed-precondition",
    `the export cursor's revision ${revision} has no schema in this store's history: it cannot be resumed. Start the export again without a cursor.`,
  );
}
