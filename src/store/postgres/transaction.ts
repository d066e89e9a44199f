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
import { NotRetryable, withClient } from "./connection.js";
import { run, runRows, type StoreContext } from "./context.js";

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
): Promise<TransactionResult<T>> {
  return withClient(
    ctx.pool,
    async (client) => {
      await client.query("BEGIN");
      let committing = false;
      try {
        const rows = await runRows(client, ctx.sql.lockRevision, []);
        const revision = BigInt(rows[0]?.[0] as string);
        const result = await work(client, revision);
        await run(client, ctx.sql.recordTransaction, [revision, ctx.channel]);
        committing = true;
        await client.query("COMMIT");
        return { revision, result };
      } catch (error) {
        if (committing) throw new NotRetryable(error);
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    },
    true,
  );
}
