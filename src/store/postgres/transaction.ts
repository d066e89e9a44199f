/**
 * Write transactions and how revisions are made.
 *
 * Revisions: one counter row, incremented first thing in every write transaction. The UPDATE takes
 * the row lock and holds it until COMMIT, so writers (on every replica) run one at a time and
 * commit in revision order; revisions are gap-free and monotonic. The counter value a reader sees
 * (READ COMMITTED) is always a committed revision, and because revision R+1 cannot start before R
 * commits, every revision up to the one it reads is committed and visible to its next statement.
 * A read pinned to R then filters rows on created_rev <= R < deleted_rev and sees exactly the
 * writes up to R, on any replica. We chose this over PostgreSQL snapshot ids (pg_current_snapshot,
 * SpiceDB's approach) because a plain bigint keeps tokens, the changes feed and the SQLite backend
 * identical, and reads need no snapshot arithmetic; the cost is that writes do not run in
 * parallel, which an authorization store (read-heavy, small writes) can afford.
 */
import type pg from "pg";
import type { Revision } from "../../core/index.js";
import type { TransactionMetadata } from "../types.js";
import { NotRetryable, withClient } from "./connection.js";
import type { StoreContext } from "./context.js";

export interface TransactionResult<T> {
  readonly revision: Revision;
  readonly result: T;
}

/**
 * Runs `work` inside a write transaction at a new revision. A connection lost before COMMIT is
 * retried once (nothing was written); one lost during COMMIT is not (the outcome is unknown and
 * the caller gets `unavailable`, never a false acknowledgement).
 */
export function writeTransaction<T>(
  ctx: StoreContext,
  work: (client: pg.PoolClient, revision: Revision) => Promise<T>,
  metadata?: TransactionMetadata,
): Promise<TransactionResult<T>> {
  return withClient(
    ctx.pool,
    async (client) => {
      // BEGIN with the lock, and the bookkeeping with COMMIT, each go as one simple-protocol
      // round trip: a single-relationship write costs five round trips, not seven.
      let committing = false;
      try {
        const opened = (await client.query(
          `BEGIN; ${ctx.sql.lockRevision.text}`,
        )) as unknown as pg.QueryResult[];
        const revision = BigInt(opened[1]?.rows[0]?.revision as string);
        const result = await work(client, revision);
        const notify =
          ctx.channel === null ? "" : `SELECT pg_notify(${literal(ctx.channel)}, '${revision}');`;
        // Metadata goes as a parameter, so a write with some costs one more round trip.
        let bookkeeping = `INSERT INTO ${ctx.q}.transactions (revision) VALUES (${revision});`;
        if (metadata !== undefined) {
          await client.query(`INSERT INTO ${ctx.q}.transactions (revision, metadata) VALUES ($1, $2)`, [
            revision,
            JSON.stringify(metadata),
          ]);
          bookkeeping = "";
        }
        committing = true;
        await client.query(`${bookkeeping} ${notify} COMMIT`);
        return { revision, result };
      } catch (error) {
        if (committing) {
          // Unknown whether COMMIT ran (lost connection) or the bookkeeping failed first.
          await client.query("ROLLBACK").catch(() => undefined);
          throw new NotRetryable(error);
        }
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    },
    true,
  );
}

/** A string literal for SQL text; only ever applied to names Latch derives itself. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
