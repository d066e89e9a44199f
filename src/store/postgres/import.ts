/** Bulk import: validated batches, each one transaction at its own revision, one INSERT each. */
import type { Relationship, Revision } from "../../core/index.js";
import { type ImportResult, type RelationshipUpdate, StoreError, validateRelationship } from "../index.js";
import { requireSchema, run, type StoreContext } from "./context.js";
import { currentRevision, readClient } from "./read.js";
import { columnValues, emptyColumns, keyString, pushColumns } from "./rows.js";
import { writeTransaction } from "./transaction.js";
import { applyUpdates } from "./write.js";

const DEFAULT_BATCH = 5_000;
const MAX_BATCH = 50_000;

/**
 * Import replaces what it meets (TOUCH semantics, as in the SQLite store), so loading the same file
 * twice is harmless; within a batch the last copy of a relationship wins.
 */
async function importBatch(ctx: StoreContext, batch: readonly Relationship[]): Promise<Revision> {
  const { revision } = await writeTransaction(ctx, async (client, revision) => {
    const schema = await requireSchema(ctx, client);
    for (const r of batch) validateRelationship(schema, r);
    const unique = lastOfEach(batch);
    const columns = emptyColumns();
    for (const [seq, r] of unique.entries()) pushColumns(columns, r, seq);
    // Fast path: a plain INSERT; the unique live-key index refuses an existing relationship.
    // Only then (a re-import, or an expired row not yet swept) close the old rows first.
    await client.query("SAVEPOINT import_fast");
    try {
      await run(client, ctx.sql.insertRows, [revision, ...columnValues(columns)]);
      await client.query("RELEASE SAVEPOINT import_fast");
    } catch (error) {
      if ((error as { code?: unknown }).code !== "23505") throw error;
      await client.query("ROLLBACK TO SAVEPOINT import_fast");
      const updates: RelationshipUpdate[] = unique.map((relationship) => ({
        operation: "touch",
        relationship,
      }));
      await applyUpdates(ctx, client, revision, updates);
    }
  });
  return revision;
}

function lastOfEach(batch: readonly Relationship[]): Relationship[] {
  const byKey = new Map<string, Relationship>();
  for (const r of batch) {
    const key = keyString(r);
    byKey.delete(key);
    byKey.set(key, r);
  }
  return byKey.size === batch.length ? [...batch] : [...byKey.values()];
}

export async function importRelationships(
  ctx: StoreContext,
  relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
  options: { readonly batchSize?: number } = {},
): Promise<ImportResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
    throw new StoreError(
      "store/invalid-limit",
      "invalid-argument",
      `batchSize must be an integer from 1 to ${MAX_BATCH}, got ${batchSize}.`,
    );
  }
  // Refuse at once without a schema, even for an empty input.
  const current = await readClient(ctx, async (client) => {
    await requireSchema(ctx, client);
    return currentRevision(ctx, client);
  });
  let revision: Revision | undefined;
  let count = 0;
  let batch: Relationship[] = [];
  for await (const relationship of relationships) {
    batch.push(relationship);
    if (batch.length >= batchSize) {
      revision = await importBatch(ctx, batch);
      count += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) {
    revision = await importBatch(ctx, batch);
    count += batch.length;
  }
  return { revision: revision ?? current, count };
}
