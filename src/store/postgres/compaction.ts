/**
 * History compaction for the PostgreSQL store (the plan is in ../history.ts).
 *
 * Only one replica compacts at a time: a run holds a session-level advisory lock on one connection
 * for its whole length and skips (reports `skipped: "locked"`) when another replica holds it. A
 * lost connection releases the lock with it. Each delete is its own short statement of at most
 * `batchSize` rows (SKIP LOCKED leaves rows a writer holds for the next round), so writers and
 * readers never wait on a long transaction. The changes feed is derived from the relationship rows
 * (statements.ts), so deleting versions closed at or before the horizon also removes those changes.
 */
import type pg from "pg";
import type { Revision } from "../../core/index.js";
import {
  type CompactionOptions,
  type CompactionReport,
  type CompactionState,
  type HistoryHorizon,
  horizonOf,
  readState,
  resolveCompaction,
  STATE_KEYS,
} from "../history.js";
import { toStoreError } from "./connection.js";
import type { StoreContext } from "./context.js";
import { LIVE_REVISION } from "./migrations.js";

/** Lock class for `pg_try_advisory_lock(int, int)`: "Latch GC", apart from the migrations' class. */
const GC_LOCK_CLASS = 0x4c47_4300; // "LGC"

interface Counts {
  relationshipVersions: number;
  changes: number;
  schemas: number;
  revisions: number;
}

export async function readCompactionState(
  ctx: StoreContext,
  client: pg.ClientBase,
): Promise<CompactionState> {
  const rows = await client.query<{ key: string; value: string }>(
    `SELECT key, value FROM ${ctx.q}.metadata WHERE key LIKE 'gc\\_%'`,
  );
  const map = new Map(rows.rows.map((r) => [r.key, r.value]));
  return readState((key) => map.get(key));
}

export async function readHorizon(ctx: StoreContext): Promise<HistoryHorizon | undefined> {
  const client = await ctx.pool.connect().catch((error: unknown) => {
    throw toStoreError(error);
  });
  try {
    return horizonOf(await readCompactionState(ctx, client));
  } catch (error) {
    throw toStoreError(error);
  } finally {
    client.release();
  }
}

async function count(client: pg.ClientBase, text: string, horizon: Revision): Promise<number> {
  const result = await client.query<{ n: string }>(text, [horizon]);
  return Number(result.rows[0]?.n ?? 0);
}

/** Deletes in batches until a batch comes back short; returns how many rows in all. */
async function deleteBatches(client: pg.ClientBase, text: string, values: unknown[]): Promise<number> {
  const batch = values[values.length - 1] as number;
  let total = 0;
  for (;;) {
    const removed = (await client.query(text, values)).rowCount ?? 0;
    total += removed;
    if (removed < batch) return total;
  }
}

function sql(ctx: StoreContext) {
  const rels = `${ctx.q}.relationships`;
  // The literal keeps the partial index relationships_deleted usable with a parameter bound.
  const closed = `deleted_rev <= $1 AND deleted_rev <> ${LIVE_REVISION}`;
  const superseded = `revision < (SELECT max(revision) FROM ${ctx.q}.schemas WHERE revision <= $1)`;
  return {
    target: `SELECT max(revision)::text AS r FROM ${ctx.q}.transactions WHERE committed_at <= to_timestamp($1::float8 / 1000)`,
    countVersions: `SELECT count(*) AS n FROM ${rels} WHERE ${closed}`,
    countSchemas: `SELECT count(*) AS n FROM ${ctx.q}.schemas WHERE ${superseded}`,
    countRevisions: `SELECT count(*) AS n FROM ${ctx.q}.transactions WHERE revision < $1`,
    deleteVersions: `WITH doomed AS (
        SELECT ctid FROM ${rels} WHERE ${closed} LIMIT $2 FOR UPDATE SKIP LOCKED)
      DELETE FROM ${rels} r USING doomed WHERE r.ctid = doomed.ctid`,
    deleteSchemas: `DELETE FROM ${ctx.q}.schemas WHERE ${superseded}`,
    deleteRevisions: `DELETE FROM ${ctx.q}.transactions WHERE revision IN (
        SELECT revision FROM ${ctx.q}.transactions WHERE revision < $1 ORDER BY revision LIMIT $2)`,
    setKey: `INSERT INTO ${ctx.q}.metadata (key, value) VALUES ($1, $2)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    vacuum: `VACUUM ${rels}, ${ctx.q}.transactions`,
  };
}

type Sql = ReturnType<typeof sql>;

async function apply(client: pg.ClientBase, s: Sql, horizon: Revision, batch: number, counts: Counts) {
  const versions = await deleteBatches(client, s.deleteVersions, [horizon, batch]);
  counts.relationshipVersions += versions;
  counts.changes += versions;
  counts.schemas += (await client.query(s.deleteSchemas, [horizon])).rowCount ?? 0;
  counts.revisions += await deleteBatches(client, s.deleteRevisions, [horizon, batch]);
  await client.query(s.setKey, [STATE_KEYS.applied, horizon.toString()]);
  // Deleted rows free no space until a vacuum marks it reusable; under steady churn autovacuum's
  // thresholds come too late and the tables bloat (gc-bench: 123x at 1M touches without this).
  // A plain VACUUM takes no exclusive lock; it runs outside any transaction, as it must.
  if (versions > 0) await client.query(s.vacuum);
}

async function publish(client: pg.ClientBase, s: Sql, horizon: Revision, now: number, windowMs: number) {
  await client.query("BEGIN");
  try {
    await client.query(s.setKey, [STATE_KEYS.horizon, horizon.toString()]);
    await client.query(s.setKey, [STATE_KEYS.publishedAt, String(now)]);
    await client.query(s.setKey, [STATE_KEYS.windowMs, String(windowMs)]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

function report(state: CompactionState, counts: Counts, dryRun: boolean): CompactionReport {
  return {
    dryRun,
    horizon: state.horizon,
    applied: state.applied,
    ...(state.horizon > state.applied && !dryRun ? { pending: state.horizon } : {}),
    ...counts,
  };
}

async function runLocked(
  ctx: StoreContext,
  client: pg.ClientBase,
  options: CompactionOptions,
): Promise<CompactionReport> {
  const o = resolveCompaction(options);
  const s = sql(ctx);
  const counts: Counts = { relationshipVersions: 0, changes: 0, schemas: 0, revisions: 0 };
  const before = await readCompactionState(ctx, client);
  const found = (await client.query<{ r: string | null }>(s.target, [o.now - o.windowMs])).rows[0]?.r;
  const next = found === null || found === undefined ? 0n : BigInt(found);
  if (o.dryRun) {
    const h = next > before.horizon ? next : before.horizon;
    counts.relationshipVersions = await count(client, s.countVersions, h);
    // The feed is derived from the rows: each closed version is the change that closed it.
    counts.changes = counts.relationshipVersions;
    counts.schemas = await count(client, s.countSchemas, h);
    counts.revisions = await count(client, s.countRevisions, h);
    return report({ ...before, horizon: h }, counts, true);
  }
  let state = before;
  if (state.horizon > state.applied && state.publishedAt <= o.now - o.graceMs) {
    await apply(client, s, state.horizon, o.batchSize, counts);
    state = await readCompactionState(ctx, client);
  }
  if (next > state.horizon && state.horizon <= state.applied) {
    await publish(client, s, next, o.now, o.windowMs);
    if (o.graceMs === 0) await apply(client, s, next, o.batchSize, counts);
    state = await readCompactionState(ctx, client);
  }
  return report(state, counts, false);
}

export async function compactPostgres(
  ctx: StoreContext,
  schemaName: string,
  options: CompactionOptions = {},
): Promise<CompactionReport> {
  const client = await ctx.pool.connect().catch((error: unknown) => {
    throw toStoreError(error);
  });
  let broken = false;
  try {
    const locked = await client.query<{ ok: boolean }>(
      "SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok",
      [GC_LOCK_CLASS, schemaName],
    );
    if (locked.rows[0]?.ok !== true) {
      const state = await readCompactionState(ctx, client);
      resolveCompaction(options);
      return {
        ...report(state, { relationshipVersions: 0, changes: 0, schemas: 0, revisions: 0 }, false),
        dryRun: options.dryRun === true,
        skipped: "locked",
      };
    }
    try {
      return await runLocked(ctx, client, options);
    } finally {
      // A failed unlock (a lost connection) must not hide the run's own error; the lock goes with
      // the connection, which is then destroyed below.
      await client
        .query("SELECT pg_advisory_unlock($1::int, hashtext($2))", [GC_LOCK_CLASS, schemaName])
        .catch(() => {
          broken = true;
        });
    }
  } catch (error) {
    broken = true;
    throw toStoreError(error);
  } finally {
    // A connection that failed may still hold the lock: destroy it rather than pool it.
    client.release(broken);
  }
}
