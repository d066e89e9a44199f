/**
 * Approvals on PostgreSQL, shared by every replica. Each state change is one `UPDATE ... WHERE
 * state = <the state it leaves> ... RETURNING`: row locks make exactly one of any number of
 * concurrent deciders or consumers, on any replica, see its row change. Creating takes a
 * transaction-scoped advisory lock on the action, so two replicas asked for the same action at
 * once hand out one id.
 */
import {
  APPROVAL_COLUMNS,
  type ApprovalStore,
  approvalActionKey,
  approvalParams,
  DEFAULT_APPROVAL_PAGE,
  listFilter,
  rowToApproval,
} from "../approval-store.js";
import { positiveInt } from "../write-checks.js";
import { NotRetryable, withClient } from "./connection.js";
import type { StoreContext } from "./context.js";

/** Lock class for `pg_advisory_xact_lock(int, int)`: "approval request". */
const CREATE_LOCK_CLASS = 0x4170_7072; // "Appr"

/** `?` placeholders as `$1, $2, ...`. */
function toDollar(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export function createPostgresApprovals(ctx: StoreContext): ApprovalStore {
  const { pool, q } = ctx;
  const query = (text: string, values: unknown[]) =>
    withClient(
      pool,
      async (client) => (await client.query<unknown[]>({ text, values, rowMode: "array" })).rows,
      true,
    );
  const one = async (text: string, values: unknown[], now: number) => {
    const row = (await query(text, values))[0];
    return row === undefined ? undefined : rowToApproval(row, now);
  };
  const columns = APPROVAL_COLUMNS;

  return {
    async writeRules(text, now) {
      const rows = await withClient(
        pool,
        async (client) => {
          await client.query("BEGIN");
          try {
            await client.query(`LOCK TABLE ${q}.approval_rules IN EXCLUSIVE MODE`);
            const r = await client.query<unknown[]>({
              text: `INSERT INTO ${q}.approval_rules (version, text, written_at) SELECT coalesce(max(version), 0) + 1, $1, $2 FROM ${q}.approval_rules RETURNING version`,
              values: [text, now],
              rowMode: "array",
            });
            await client.query("COMMIT");
            return r.rows;
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
        },
        true,
      );
      return Number(rows[0]![0]);
    },
    async readRules() {
      const row = (
        await query(
          `SELECT version, text, written_at FROM ${q}.approval_rules ORDER BY version DESC LIMIT 1`,
          [],
        )
      )[0];
      return row === undefined
        ? undefined
        : { version: Number(row[0]), text: String(row[1]), writtenAt: Number(row[2]) };
    },
    async create(a) {
      const key = approvalActionKey(a);
      return withClient(
        pool,
        async (client) => {
          await client.query("BEGIN");
          try {
            await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [CREATE_LOCK_CLASS, key]);
            const found = await client.query<unknown[]>({
              text: `SELECT ${columns} FROM ${q}.approvals WHERE action_key = $1 AND state = 'pending' AND expires_at > $2 ORDER BY created_at DESC LIMIT 1`,
              values: [key, a.createdAt],
              rowMode: "array",
            });
            let result: { approval: ReturnType<typeof rowToApproval>; created: boolean };
            if (found.rows[0] !== undefined) {
              result = { approval: rowToApproval(found.rows[0], a.createdAt), created: false };
            } else {
              const inserted = await client.query<unknown[]>({
                text: `INSERT INTO ${q}.approvals (${columns}) VALUES (${Array.from({ length: 20 }, (_, i) => `$${i + 1}`).join(", ")}) RETURNING ${columns}`,
                values: approvalParams(a, a.singleUse),
                rowMode: "array",
              });
              result = { approval: rowToApproval(inserted.rows[0]!, a.createdAt), created: true };
            }
            try {
              await client.query("COMMIT");
            } catch (error) {
              throw new NotRetryable(error);
            }
            return result;
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
        },
        true,
      );
    },
    get(id, now) {
      return one(`SELECT ${columns} FROM ${q}.approvals WHERE id = $1`, [id], now);
    },
    findApproved(action, now) {
      return one(
        `SELECT ${columns} FROM ${q}.approvals WHERE action_key = $1 AND state = 'approved' AND valid_until > $2 ORDER BY decided_at DESC LIMIT 1`,
        [approvalActionKey(action), now],
        now,
      );
    },
    async list(filter, now) {
      const limit = positiveInt(filter.limit, "limit") ?? DEFAULT_APPROVAL_PAGE;
      const { where, params } = listFilter(filter, now);
      const sql = toDollar(
        `SELECT ${columns} FROM ${q}.approvals ${where} ORDER BY created_at DESC, id LIMIT ?`,
      );
      return (await query(sql, [...params, limit])).map((r) => rowToApproval(r, now));
    },
    decide(d) {
      const state = d.approve ? "approved" : "denied";
      // Not retried on a lost connection: the first attempt may have committed.
      return withClient(
        pool,
        async (client) => {
          const r = await client.query<unknown[]>({
            text: `UPDATE ${q}.approvals SET state = $1, decided_by = $2, decided_at = $3, reason = $4, valid_until = CASE WHEN $1 = 'approved' THEN $3 + valid_for_ms END WHERE id = $5 AND state = 'pending' AND expires_at > $3 RETURNING ${columns}`,
            values: [state, d.decidedBy, d.now, d.reason, d.id],
            rowMode: "array",
          });
          return r.rows[0] === undefined ? undefined : rowToApproval(r.rows[0], d.now);
        },
        false,
      );
    },
    consume(id, now) {
      return withClient(
        pool,
        async (client) => {
          const r = await client.query({
            text: `UPDATE ${q}.approvals SET state = 'consumed', consumed_at = $1 WHERE id = $2 AND state = 'approved' AND valid_until > $1 RETURNING id`,
            values: [now, id],
          });
          return r.rowCount === 1;
        },
        false,
      );
    },
  };
}
