/**
 * Security signals on PostgreSQL, shared by every replica. `record` runs in a relationship write
 * transaction (transaction.ts): it takes the next revision under the revision lock and notifies
 * the other replicas like any write; the (issuer, jti) primary key refuses a replay, on whichever
 * replica it arrives, and rolls the whole transaction back.
 */
import {
  DEFAULT_SIGNAL_PAGE,
  foldStateChanges,
  replayed,
  rowToSignal,
  rowToState,
  SIGNAL_COLUMNS,
  type SignalStore,
  type SubjectState,
  signalRow,
} from "../signal-store.js";
import { positiveInt } from "../write-checks.js";
import { withClient } from "./connection.js";
import type { StoreContext } from "./context.js";
import { currentRevision } from "./read.js";
import { writeTransaction } from "./transaction.js";

const STATE_COLUMNS = "subject, revision, suspended, reason, attributes";

export function createPostgresSignals(ctx: StoreContext): SignalStore {
  const { pool, q } = ctx;
  const rows = (text: string, values: unknown[]) =>
    withClient(
      pool,
      async (client) => (await client.query<unknown[]>({ text, values, rowMode: "array" })).rows,
      true,
    );

  return {
    async seen(issuer, jti) {
      return (
        (await rows(`SELECT 1 FROM ${q}.signals WHERE issuer = $1 AND jti = $2`, [issuer, jti])).length > 0
      );
    },
    async record(signal, changes) {
      const { revision } = await writeTransaction(ctx, async (client, revision) => {
        const inserted = await client.query(
          `INSERT INTO ${q}.signals (${SIGNAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
          signalRow(signal, revision),
        );
        if (inserted.rowCount !== 1) throw replayed(signal);
        const subjects = [...new Set(changes.map((c) => c.subject))];
        const before = new Map<string, SubjectState>();
        if (subjects.length > 0) {
          const latest = await client.query<unknown[]>({
            text: `SELECT DISTINCT ON (subject) ${STATE_COLUMNS} FROM ${q}.subject_states
                   WHERE subject = ANY($1::text[]) ORDER BY subject, revision DESC`,
            values: [subjects],
            rowMode: "array",
          });
          for (const row of latest.rows) {
            const state = rowToState(row);
            before.set(state.subject, state);
          }
        }
        for (const state of foldStateChanges(changes, (subject) => before.get(subject))) {
          await client.query(
            `INSERT INTO ${q}.subject_states (${STATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`,
            [state.subject, revision, state.suspended, state.reason, JSON.stringify(state.attributes)],
          );
        }
      });
      return revision;
    },
    async statesSince(after) {
      return withClient(
        pool,
        async (client) => {
          // The counter first: every revision up to it is committed (transaction.ts), so the rows
          // read next include every state change up to it.
          const revision = await currentRevision(ctx, client);
          const found = await client.query<unknown[]>({
            text: `SELECT ${STATE_COLUMNS} FROM ${q}.subject_states WHERE revision > $1 AND revision <= $2 ORDER BY revision`,
            values: [after, revision],
            rowMode: "array",
          });
          return { rows: found.rows.map(rowToState), revision };
        },
        true,
      );
    },
    async list(query) {
      const limit = positiveInt(query.limit, "limit") ?? DEFAULT_SIGNAL_PAGE;
      const found = await rows(
        `SELECT ${SIGNAL_COLUMNS} FROM ${q}.signals ORDER BY received_at DESC, revision DESC LIMIT $1`,
        [limit],
      );
      return found.map(rowToSignal);
    },
  };
}
