/**
 * Imports: the serving thread validates and encodes relationships (rows.ts, `encodeRows`); their
 * flat rows go in here, inside one transaction, on the serving connection for small imports and
 * `:memory:` stores or in the write thread for large ones (write-thread.ts). Chunks arrive one
 * after another, so an import streams in without ever being held whole as rows.
 *
 * Row by row, one prepared single-row INSERT per relationship with its parameters in reused arrays,
 * change rows CHANGES_PER_INSERT at a time. Binding a BigInt costs far more than a number, so
 * revisions are bound as numbers (safe far beyond any reachable revision: 2^53 writes).
 */

import { describeRelationship } from "../describe.js";
import { StoreError } from "../errors.js";
import { bulkLoad, isEmpty } from "./bulk-load.js";
import { RELATIONSHIP_PARAMS, rowToRelationship } from "./rows.js";
import { CHANGES_PER_INSERT } from "./statements.js";
import { type ImportContext, type ImportSink, TOUCH, type WriteContext } from "./write-tx.js";

const CHANGE_PARAMS = 3 + RELATIONSHIP_PARAMS;

export interface ImportRequest {
  readonly createOnly: boolean;
  readonly batchSize: number;
  /** The schema revision the rows were validated against. */
  readonly schemaRevision: number;
}

/**
 * Opens the import inside the transaction the caller began, once the schema its rows were
 * validated against is found still to be the latest: one written meanwhile (by another process,
 * or while a stream was read) could forbid some of them.
 */
export function beginImport(ctx: ImportContext, request: ImportRequest): ImportSink {
  const latest = ctx.s.latestSchemaRevision.get() as number | undefined;
  if (latest !== request.schemaRevision) {
    throw new StoreError(
      "schema/changed",
      "failed-precondition",
      "the schema changed while this import was validated against the one before; nothing was written. Retry the import.",
    );
  }
  return openImport(ctx, request.createOnly, request.batchSize);
}

/**
 * How an import goes in. CREATE (SpiceDB's ImportBulkRelationships): one revision, refusing a
 * relationship that is live already. TOUCH: a revision per `batchSize` relationships, replacing
 * live ones, so loading a file twice, or a file listing a relationship twice, is harmless; into a
 * store with no relationship rows at all, through the bulk loader.
 */
function openImport(ctx: ImportContext, createOnly: boolean, batchSize: number): ImportSink {
  if (!createOnly && isEmpty(ctx)) return bulkLoad(ctx, batchSize);
  return rowImport(ctx, createOnly ? Number.POSITIVE_INFINITY : batchSize, createOnly);
}

function isConstraintError(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    (error as { code: string }).code.startsWith("SQLITE_CONSTRAINT")
  );
}

function alreadyExists(rows: readonly unknown[], at: number, inThisLoad: boolean): StoreError {
  const r = describeRelationship(rowToRelationship(rows.slice(at, at + RELATIONSHIP_PARAMS)));
  const problem = inThisLoad
    ? "appears twice in the load, which creates each relationship once"
    : "already exists; CREATE refuses to replace it. Use TOUCH to upsert";
  return new StoreError(
    "relationship/already-exists",
    "already-exists",
    `${r} ${problem}; nothing was written.`,
    {
      relationship: r,
    },
  );
}

function rowImport(ctx: WriteContext, batchSize: number, createOnly: boolean): ImportSink {
  const { s } = ctx;
  // insertRelationship binds the key, created_rev, then caveat_name, caveat_context, expiration.
  const rel = new Array<unknown>(10);
  // Change rows go in CHANGES_PER_INSERT at a time (they never conflict): one statement
  // execution costs about a microsecond whatever it inserts.
  const changes = new Array<unknown>(CHANGES_PER_INSERT * CHANGE_PARAMS);
  let pending = 0;
  let revision = Number(ctx.current());
  let seq = batchSize;
  let count = 0;
  const now = Date.now();
  /** The constraint hit: a relationship with this key exists, live, expired, or from this import. */
  const replace = (rows: readonly unknown[], at: number) => {
    const ids = rel.slice(0, 6);
    const existing = s.selectLive.get(ids) as [number, unknown, unknown, number | null] | undefined;
    if (createOnly && existing !== undefined && (existing[3] === null || existing[3] > now)) {
      throw alreadyExists(rows, at, existing[0] === revision);
    }
    if (existing !== undefined && existing[0] === revision) {
      s.updateLiveInPlace.run(rel[7], rel[8], rel[9], ...ids);
    } else {
      s.closeLive.run(revision, ...ids);
      s.insertRelationship.run(rel);
    }
  };
  return {
    add(rows) {
      for (let at = 0; at < rows.length; at += RELATIONSHIP_PARAMS) {
        if (seq === batchSize) {
          revision += 1;
          seq = 0;
          s.insertRevision.run(revision, Date.now());
          rel[6] = revision;
        }
        const c = pending * CHANGE_PARAMS;
        changes[c] = revision;
        changes[c + 1] = seq++;
        changes[c + 2] = TOUCH;
        for (let i = 0; i < RELATIONSHIP_PARAMS; i++) changes[c + 3 + i] = rows[at + i];
        for (let i = 0; i < 6; i++) rel[i] = rows[at + i];
        rel[7] = rows[at + 6];
        rel[8] = rows[at + 7];
        rel[9] = rows[at + 8];
        try {
          // Spread, not the array: better-sqlite3 reads arguments faster than array elements.
          s.insertRelationship.run(...rel);
        } catch (error) {
          if (!isConstraintError(error)) throw error;
          replace(rows, at);
        }
        if (++pending === CHANGES_PER_INSERT) {
          s.insertChanges.run(...changes);
          pending = 0;
        }
        count += 1;
      }
    },
    finish() {
      for (let i = 0; i < pending; i++) {
        s.insertChange.run(changes.slice(i * CHANGE_PARAMS, (i + 1) * CHANGE_PARAMS));
      }
      pending = 0;
      return { revision: BigInt(revision), count };
    },
  };
}
