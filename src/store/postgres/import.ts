/** Bulk import: validated batches in one transaction, each at its own revision, one INSERT each. */
import type pg from "pg";
import type { Relationship, Revision } from "../../core/index.js";
import type { CompiledSchema } from "../../schema/index.js";
import {
  collectForCreate,
  type ImportOptions,
  type ImportResult,
  type RelationshipUpdate,
  relationshipKeyString,
  StoreError,
  validateRelationship,
} from "../index.js";
import { nextTurn } from "../next-turn.js";
import { currentSchema, noSchema, run, runRows, type StoreContext } from "./context.js";
import { currentRevision, readClient } from "./read.js";
import { arrayElements, arrayLiteral, columnValues, emptyColumns, pushColumns } from "./rows.js";
import { writeTransaction } from "./transaction.js";
import { applyPrepared, applyUpdates, type PreparedUpdates, prepareUpdates } from "./write.js";

const DEFAULT_BATCH = 5_000;
const MAX_BATCH = 50_000;
/** After loading this many rows, refresh planner statistics rather than wait for autovacuum. */
const ANALYZE_AFTER = 10_000;

interface PreparedBatch {
  readonly unique: readonly Relationship[];
  /** Insert parameters after the revision, arrays already in PG text form. */
  readonly values: readonly string[];
  readonly schemaRevision: Revision;
}

/** Validation and parameter building: plain CPU work, done outside the revision lock. */
function prepareBatch(
  schema: { readonly revision: Revision; readonly schema: CompiledSchema },
  batch: readonly Relationship[],
): PreparedBatch {
  for (const r of batch) validateRelationship(schema.schema, r);
  const unique = lastOfEach(batch);
  const columns = emptyColumns();
  for (const [seq, r] of unique.entries()) pushColumns(columns, r, seq);
  return {
    unique,
    values: columnValues(columns).map((c) => arrayLiteral(c as readonly unknown[])),
    schemaRevision: schema.revision,
  };
}

/**
 * One batch inside the import's transaction, at its own revision. Import replaces what it meets
 * (TOUCH semantics, as in the SQLite store), so loading the same file twice is harmless; within a
 * batch the last copy of a relationship wins.
 */
async function importBatch(
  ctx: StoreContext,
  client: pg.PoolClient,
  revision: Revision,
  prepared: PreparedBatch,
): Promise<void> {
  // Fast path: a plain INSERT; the unique live-key index refuses an existing relationship.
  // Only then (a re-import, or an expired row not yet swept) close the old rows first.
  await client.query("SAVEPOINT import_fast");
  try {
    await run(client, ctx.sql.insertRows, [revision, ...prepared.values]);
    await client.query("RELEASE SAVEPOINT import_fast");
  } catch (error) {
    if ((error as { code?: unknown }).code !== "23505") throw error;
    await client.query("ROLLBACK TO SAVEPOINT import_fast");
    const updates: RelationshipUpdate[] = prepared.unique.map((relationship) => ({
      operation: "touch",
      relationship,
    }));
    await applyUpdates(ctx, client, revision, updates);
  }
}

function lastOfEach(batch: readonly Relationship[]): Relationship[] {
  const byKey = new Map<string, Relationship>();
  for (const r of batch) {
    const key = relationshipKeyString(r);
    byKey.set(key, r);
  }
  return byKey.size === batch.length ? [...batch] : [...byKey.values()];
}

/** Relationships validated between two turns of the event loop. */
const YIELD_EVERY = 2_000;
/**
 * Relationships in one statement of a CREATE import unless `batchSize` says otherwise (the driver
 * builds each message at once; 10,000 made a 200,000 import about 7% slower).
 */
const STATEMENT_ROWS = 50_000;

/**
 * prepareUpdates for a whole load, a turn of the event loop every YIELD_EVERY updates, each array
 * as its literal text, in statements of `statementRows`: node-postgres serialized 200,000
 * relationships' arrays in one go, holding the process about a second, and builds each statement's
 * message in one go. Plain CPU work, done before the revision lock is taken.
 */
async function prepareInTurns(
  updates: readonly RelationshipUpdate[],
  statementRows: number,
): Promise<PreparedUpdates[]> {
  const out: PreparedUpdates[] = [];
  for (let start = 0; start < updates.length; start += statementRows) {
    const pieces: PreparedUpdates[] = [];
    const end = Math.min(start + statementRows, updates.length);
    for (let from = start; from < end; from += YIELD_EVERY) {
      pieces.push(prepareUpdates(updates.slice(from, Math.min(from + YIELD_EVERY, end)), from));
      await nextTurn();
    }
    const literal = async (column: (piece: PreparedUpdates) => readonly unknown[]): Promise<string> => {
      const texts: string[] = [];
      for (const piece of pieces) {
        texts.push(arrayElements(column(piece)));
        await nextTurn();
      }
      return `{${texts.join(",")}}`;
    };
    const close: string[] = [];
    for (let i = 0; i < pieces[0]!.close.length; i++)
      close.push(await literal((p) => p.close[i] as unknown[]));
    const insert: string[] = [];
    for (let i = 0; i < (pieces[0]!.insert?.length ?? 0); i++) {
      insert.push(await literal((p) => p.insert![i] as unknown[]));
    }
    out.push({ close, insert: insert.length > 0 ? insert : undefined });
  }
  return out;
}

/** The whole load in one transaction at one revision, refusing what exists (CREATE). */
async function importCreateOnly(
  ctx: StoreContext,
  relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
  statementRows: number,
): Promise<ImportResult> {
  const all = await collectForCreate(relationships);
  if (all.length === 0) {
    return readClient(ctx, async (client) => {
      if ((await currentSchema(ctx, client)) === undefined) throw noSchema();
      return { revision: await currentRevision(ctx, client), count: 0 };
    });
  }
  const creates: RelationshipUpdate[] = all.map((relationship) => ({ operation: "create", relationship }));
  const prepared = await prepareInTurns(creates, statementRows);
  const { revision } = await writeTransaction(ctx, async (client, revision) => {
    const schema = await currentSchema(ctx, client);
    if (schema === undefined) throw noSchema();
    for (const [i, r] of all.entries()) {
      validateRelationship(schema.schema, r);
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await nextTurn();
    }
    await applyPrepared(ctx, client, revision, creates, prepared);
  });
  return { revision, count: all.length };
}

export async function importRelationships(
  ctx: StoreContext,
  relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const createOnly = options.createOnly === true;
  const batchSize = options.batchSize ?? (createOnly ? STATEMENT_ROWS : DEFAULT_BATCH);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
    throw new StoreError(
      "store/invalid-limit",
      "invalid-argument",
      `batchSize must be an integer from 1 to ${MAX_BATCH}, got ${batchSize}.`,
    );
  }
  if (createOnly) return importCreateOnly(ctx, relationships, batchSize);
  // Refuse at once without a schema, even for an empty input.
  const start = await readClient(ctx, async (client) => {
    const schema = await currentSchema(ctx, client);
    if (schema === undefined) throw noSchema();
    return { schema, revision: await currentRevision(ctx, client) };
  });
  // Validated and serialized before the transaction, so the revision lock is held only to insert.
  const batches: { readonly batch: Relationship[]; prepared: PreparedBatch }[] = [];
  let batch: Relationship[] = [];
  for await (const relationship of relationships) {
    batch.push(relationship);
    if (batch.length >= batchSize) {
      batches.push({ batch, prepared: prepareBatch(start.schema, batch) });
      batch = [];
      // A source already in memory never leaves the microtask queue: a turn for other requests.
      await nextTurn();
    }
  }
  if (batch.length > 0) batches.push({ batch, prepared: prepareBatch(start.schema, batch) });
  if (batches.length === 0) return { revision: start.revision, count: 0 };
  // One transaction, a revision per batch: a failure anywhere rolls the whole import back.
  const { result: last } = await writeTransaction(ctx, async (client, first) => {
    const schema = await currentSchema(ctx, client);
    if (schema === undefined) throw noSchema();
    let revision = first;
    for (const [index, item] of batches.entries()) {
      if (index > 0) {
        // The counter row is locked by this transaction already: each bump is the next revision.
        revision = BigInt((await runRows(client, ctx.sql.lockRevision, []))[0]?.[0] as string);
        await client.query(`INSERT INTO ${ctx.q}.transactions (revision) VALUES ($1)`, [revision]);
      }
      // A schema written since the batches were prepared: validate again under the lock.
      const ready =
        schema.revision === item.prepared.schemaRevision ? item.prepared : prepareBatch(schema, item.batch);
      await importBatch(ctx, client, revision, ready);
    }
    return revision;
  });
  const count = batches.reduce((n, b) => n + b.batch.length, 0);
  if (ctx.channel !== null && batches.length > 1) {
    // The commit announced the first revision; subscribers waiting for the last one hear it too.
    await readClient(ctx, (client) =>
      client.query("SELECT pg_notify($1, $2)", [ctx.channel, String(last)]),
    ).catch(() => undefined);
  }
  if (count >= ANALYZE_AFTER) {
    // Only an optimisation: the import has committed, so a failure here must not report it failed.
    await readClient(ctx, (client) => client.query(`ANALYZE ${ctx.q}.relationships`)).catch(() => undefined);
  }
  return { revision: last, count };
}
