/** RelationshipService: writes, reads, the change feed and bulk import/export, on the store. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Relationship } from "../core/index.js";
import {
  RelationshipUpdate_Operation,
  type RelationshipUpdate as RelationshipUpdateMessage,
  type RelationshipUpdateSchema,
} from "../gen/latch/v1/core_pb.js";
import type { RelationshipService, WatchResponseSchema } from "../gen/latch/v1/relationship_service_pb.js";
import {
  exportBatches,
  importTooLarge,
  invalidArgument,
  overLimit,
  readRelationshipPages,
  readRevision,
  watchChanges,
} from "../service/index.js";
import type { Change, Store } from "../store/index.js";
import {
  consistencyFromProto,
  filterFromProto,
  preconditionFromProto,
  relationshipFromProto,
  relationshipToProto,
  updateFromProto,
} from "./convert.js";
import type { ServiceImplementation } from "./grpc-adapter.js";
import type { ServerLimits } from "./limits.js";
import { createStreamPacer, pacedMap } from "./stream-pacing.js";

type Methods = (typeof RelationshipService)["method"];

export interface RelationshipHandlerOptions {
  readonly store: Store;
  readonly limits: ServerLimits;
  /** How often Watch polls the store for changes when idle. */
  readonly watchPollMs: number;
  /** Aborted at shutdown so that endless Watch streams end and in-flight calls can drain. */
  readonly shutdown: AbortSignal;
}

function changeToUpdate(change: Change): MessageInitShape<typeof RelationshipUpdateSchema> {
  return {
    operation:
      change.operation === "touch" ? RelationshipUpdate_Operation.TOUCH : RelationshipUpdate_Operation.DELETE,
    relationship: relationshipToProto(change.relationship),
  };
}

export function relationshipHandlers(options: RelationshipHandlerOptions): ServiceImplementation<Methods> {
  const { store, limits } = options;
  return {
    async writeRelationships(req) {
      if (req.updates.length === 0) throw invalidArgument("updates", "at least one update is required");
      if (req.updates.length > limits.maxUpdates)
        throw overLimit("updates", limits.maxUpdates, req.updates.length);
      if (req.optionalPreconditions.length > limits.maxPreconditions) {
        throw overLimit("optional_preconditions", limits.maxPreconditions, req.optionalPreconditions.length);
      }
      const updates = req.updates.map((u: RelationshipUpdateMessage, i) =>
        updateFromProto(u, `updates[${i}]`),
      );
      const preconditions = req.optionalPreconditions.map((p, i) =>
        preconditionFromProto(p, `optional_preconditions[${i}]`),
      );
      const revision = await store.write(updates, preconditions);
      return { writtenAt: { token: store.encodeRevision(revision) } };
    },

    async deleteRelationships(req) {
      if (req.optionalPreconditions.length > limits.maxPreconditions) {
        throw overLimit("optional_preconditions", limits.maxPreconditions, req.optionalPreconditions.length);
      }
      const filter = filterFromProto(req.relationshipFilter, "relationship_filter");
      const preconditions = req.optionalPreconditions.map((p, i) =>
        preconditionFromProto(p, `optional_preconditions[${i}]`),
      );
      const result = await store.deleteRelationships(filter, {
        ...(req.optionalLimit > 0 ? { limit: req.optionalLimit } : {}),
        ...(preconditions.length > 0 ? { preconditions } : {}),
      });
      return {
        deletedAt: { token: store.encodeRevision(result.revision) },
        relationshipsDeletedCount: BigInt(result.deleted),
      };
    },

    async *readRelationships(req, ctx) {
      const filter = filterFromProto(req.relationshipFilter, "relationship_filter");
      const revision = await readRevision(store, consistencyFromProto(req.consistency, "consistency"), ctx);
      const token = store.encodeRevision(revision);
      const cursor = req.optionalCursor?.token;
      const pages = readRelationshipPages(store.at(revision), filter, {
        ...(req.optionalLimit > 0 ? { limit: req.optionalLimit } : {}),
        ...(cursor === undefined || cursor === "" ? {} : { cursor }),
        signal: ctx.signal,
        onAbort: "end",
      });
      for await (const page of pages) {
        const last = page.relationships.length - 1;
        for (const [i, r] of page.relationships.entries()) {
          // The store hands out a cursor per page, so only a page's last result carries one.
          yield {
            readAt: { token },
            relationship: relationshipToProto(r),
            ...(i === last && page.cursor !== undefined ? { afterResultCursor: { token: page.cursor } } : {}),
          };
        }
      }
    },

    async *watch(req, ctx) {
      const start = req.optionalStartCursor;
      const batches = watchChanges(store, {
        ...(start === undefined || start.token === "" ? {} : { after: store.decodeRevision(start.token) }),
        objectTypes: req.optionalObjectTypes,
        pollMs: options.watchPollMs,
        signal: AbortSignal.any([ctx.signal, options.shutdown]),
      });
      // A message carries a whole revision (an import or delete may be 200,000 changes).
      const pacer = createStreamPacer();
      for await (const batch of batches) {
        const message: MessageInitShape<typeof WatchResponseSchema> = {
          updates: await pacedMap(batch.changes, changeToUpdate, pacer),
          changesThrough: { token: store.encodeRevision(batch.revision) },
          schemaUpdated: batch.schemaUpdated,
        };
        yield message;
      }
    },

    async importRelationships(requests, ctx) {
      let count = 0;
      async function* relationships(): AsyncIterable<Relationship> {
        // A message is bounded by the message size and decoded in parts (grpc-adapter.ts); the
        // stream, held until it commits, by a count.
        for await (const msg of requests) {
          if (count + msg.relationships.length > limits.maxImportRelationships) {
            throw importTooLarge(limits.maxImportRelationships);
          }
          for (const r of msg.relationships) yield relationshipFromProto(r, `relationships[${count++}]`);
        }
        // The stores read the whole stream before they commit (store/types.ts), so this is the
        // last word the call has: a client that cancelled (or a deadline that passed) while the
        // stream was read must leave nothing, whichever way its stream ended.
        if (ctx.aborted) throw ctx.signal.reason;
      }
      const result = await store.importRelationships(relationships());
      return { numLoaded: BigInt(result.count), writtenAt: { token: store.encodeRevision(result.revision) } };
    },

    async *exportRelationships(req, ctx) {
      const revision = await readRevision(store, consistencyFromProto(req.consistency, "consistency"), ctx);
      const token = store.encodeRevision(revision);
      // Always one message at least, so that an empty store still tells the client its revision.
      for await (const batch of exportBatches(store.at(revision), ctx.signal)) {
        yield { readAt: { token }, relationships: batch.map(relationshipToProto) };
      }
    },
  };
}
