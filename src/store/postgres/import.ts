/** Bulk import: validated batches, each one transaction at its own revision, one INSERT each. */
import type { Relationship, Revision } from "../../core/index.js";
import { type ImportResult, type RelationshipUpdate, StoreError } from "../index.js";
import { requireSchema, run, type StoreContext } from "./context.js";
import { currentRevision, readClient } from "./read.js";
import { columnValues, emptyColumns, pushColumns } from "./rows.js";
import { writeTransaction } from "./transaction.js";
import { applyUpdates, validateUpdates } from "./write.js";

const DEFAULT_BATCH = 5_000;
const MAX_BATCH = 50_000;

async function importBatch(ctx: StoreContext, batch: readonly Relationship[]): Promise<Revision> {
  const updates: RelationshipUpdate[] = batch.map((relationship) => ({ operation: "create", relationship }));
  const { revision } = await writeTransaction(ctx, async (client, revision) => {
    validateUpdates(await requireSchema(ctx, client), updates);
    const columns = emptyColumns();
    for (const [seq, r] of batch.entries()) pushColumns(columns, r, seq);
    // Fast path: a plain INSERT; the unique live-key index refuses an existing relationship.
    // Only then (rare: a re-import, or an expired row not yet swept) go the careful way, which
    // closes expired rows and names the relationship that exists.
    await client.query("SAVEPOINT import_fast");
    try {
      await run(client, ctx.sql.insertRows, [revision, ...columnValues(columns)]);
      await client.query("RELEASE SAVEPOINT import_fast");
    } catch (error) {
      if ((error as { code?: unknown }).code !== "23505") throw error;
      await client.query("ROLLBACK TO SAVEPOINT import_fast");
      await applyUpdates(ctx, client, revision, updates);
    }
  });
  return revision;
}

export async function importRelationships(
  ctx: StoreContext,
  relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
  options: { readonly batchSize?: number } = {},
): Promise<ImportResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
    throw new StoreError(
      "store/invalid-batch-size",
      "invalid-argument",
      `batchSize must be an integer from 1 to ${MAX_BATCH}, got ${batchSize}.`,
    );
  }
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
  revision ??= await readClient(ctx, (client) => currentRevision(ctx, client));
  return { revision, count };
}
