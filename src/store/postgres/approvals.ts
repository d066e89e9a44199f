/**
 * Approvals on PostgreSQL, shared by every replica. Each state change is one `UPDATE ... WHERE
 * state = <the state it leaves> ... RETURNING`: row locks make exactly one of any number of
 * concurrent deciders or consumers, on any replica, see its row change. Creating takes a
 * transaction-scoped advisory lock on the action, so two replicas asked for the same action at
 * once hand out one id.
 *
 * The feed across replicas: each request and decision takes the next number from the
 * `approval_seq` row (its lock, held to COMMIT, makes the numbers commit in order) and NOTIFYs it
 * on the schema's approvals channel; replicas LISTEN (listen.ts) and poll that row when LISTEN is
 * down, then read `seq > cursor`.
 */
import type pg from "pg";
import {
  APPROVAL_CHANGES_PAGE,
  APPROVAL_COLUMN_COUNT,
  APPROVAL_COLUMNS,
  type ApprovalStore,
  approvalActionKey,
  approvalParams,
  DEFAULT_APPROVAL_PAGE,
  listFilter,
  nextPoll,
  type PollOutcome,
  rowToApproval,
} from "../approval-store.js";
import { positiveInt } from "../write-checks.js";
import { NotRetryable, withClient } from "./connection.js";
import type { StoreContext } from "./context.js";
import type { ChangeListener } from "./listen.js";

/** Lock class for `pg_advisory_xact_lock(int, int)`: "approval request". */
const CREATE_LOCK_CLASS = 0x4170_7072; // "Appr"

/** `?` placeholders as `$1, $2, ...`. */
function toDollar(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** SQL string literal for a channel name Latch derives itself. */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** One read outside a transaction, rows as arrays. */
const rowsOf = (pool: pg.Pool, text: string, values: unknown[]) =>
  withClient(
    pool,
    async (client) => (await client.query<unknown[]>({ text, values, rowMode: "array" })).rows,
    true,
  );

/** The approval rules: their versioned text. */
function approvalRules(ctx: StoreContext): Pick<ApprovalStore, "writeRules" | "readRules"> {
  const { pool, q } = ctx;
  return {
    async writeRules(text, now, validate) {
      const rows = await withClient(
        pool,
        async (client) => {
          await client.query("BEGIN");
          try {
            // Conflicts with the SHARE lock a schema write takes before reading the rules
            // (schema-ops.ts): whichever comes second reads what the first committed.
            await client.query(`LOCK TABLE ${q}.approval_rules IN EXCLUSIVE MODE`);
            if (validate !== undefined) {
              const schema = await client.query<unknown[]>({
                text: `SELECT text FROM ${q}.schemas ORDER BY revision DESC LIMIT 1`,
                rowMode: "array",
              });
              validate(schema.rows[0] === undefined ? undefined : String(schema.rows[0][0]));
            }
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
        await rowsOf(
          pool,
          `SELECT version, text, written_at FROM ${q}.approval_rules ORDER BY version DESC LIMIT 1`,
          [],
        )
      )[0];
      return row === undefined
        ? undefined
        : { version: Number(row[0]), text: String(row[1]), writtenAt: Number(row[2]) };
    },
  };
}

/** The feed of approval changes other replicas follow. */
function approvalFeed(
  ctx: StoreContext,
  listener: ChangeListener,
): Pick<ApprovalStore, "latestChange" | "changesSince" | "subscribe"> {
  const { pool, q } = ctx;
  return {
    async latestChange() {
      return Number((await rowsOf(pool, `SELECT seq FROM ${q}.approval_seq`, []))[0]![0]);
    },
    async changesSince(cursor, limit, now) {
      const rows = await rowsOf(
        pool,
        `SELECT ${APPROVAL_COLUMNS}, seq FROM ${q}.approvals WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [cursor, Math.min(limit, APPROVAL_CHANGES_PAGE)],
      );
      return {
        approvals: rows.map((r) => rowToApproval(r, now)),
        cursor: rows.length === 0 ? cursor : Number(rows[rows.length - 1]![APPROVAL_COLUMN_COUNT]),
      };
    },
    subscribe(fn) {
      return listener.subscribe((seq) => fn(Number(seq)));
    },
  };
}

/**
 * `channel`: where changes are NOTIFYed (null: not announced, as by the audit trail's own store);
 * `listener`: the replica's LISTEN on it, with polling as the fallback.
 */
export function createPostgresApprovals(
  ctx: StoreContext,
  channel: string | null,
  listener: ChangeListener,
): ApprovalStore {
  const { pool, q } = ctx;
  /** Takes the next feed number (and the counter row's lock, to COMMIT) inside a transaction. */
  const nextSeq = async (client: pg.PoolClient): Promise<number> =>
    Number(
      (
        await client.query<unknown[]>({
          text: `UPDATE ${q}.approval_seq SET seq = seq + 1 RETURNING seq`,
          rowMode: "array",
        })
      ).rows[0]![0],
    );
  const commitAnnouncing = (client: pg.PoolClient, seq: number) =>
    client.query(`${channel === null ? "" : `SELECT pg_notify(${literal(channel)}, '${seq}');`} COMMIT`);
  const query = (text: string, values: unknown[]) => rowsOf(pool, text, values);
  const one = async (text: string, values: unknown[], now: number) => {
    const row = (await query(text, values))[0];
    return row === undefined ? undefined : rowToApproval(row, now);
  };
  const columns = APPROVAL_COLUMNS;

  return {
    ...approvalRules(ctx),
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
            let seq: number | undefined;
            if (found.rows[0] !== undefined) {
              result = { approval: rowToApproval(found.rows[0], a.createdAt), created: false };
            } else {
              seq = await nextSeq(client);
              const inserted = await client.query<unknown[]>({
                text: `INSERT INTO ${q}.approvals (${columns}, seq) VALUES (${Array.from({ length: APPROVAL_COLUMN_COUNT + 1 }, (_, i) => `$${i + 1}`).join(", ")}) RETURNING ${columns}`,
                values: [...approvalParams(a, a.singleUse), seq],
                rowMode: "array",
              });
              result = { approval: rowToApproval(inserted.rows[0]!, a.createdAt), created: true };
            }
            try {
              await (seq === undefined ? client.query("COMMIT") : commitAnnouncing(client, seq));
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
          await client.query("BEGIN");
          try {
            const seq = await nextSeq(client);
            const r = await client.query<unknown[]>({
              text: `UPDATE ${q}.approvals SET state = $1, decided_by = $2, decided_at = $3, reason = $4, valid_until = CASE WHEN $1 = 'approved' THEN $3 + valid_for_ms END, seq = $6 WHERE id = $5 AND state = 'pending' AND expires_at > $3 RETURNING ${columns}`,
              values: [state, d.decidedBy, d.now, d.reason, d.id, seq],
              rowMode: "array",
            });
            if (r.rows[0] === undefined) {
              await client.query("ROLLBACK");
              return undefined;
            }
            await commitAnnouncing(client, seq);
            return rowToApproval(r.rows[0], d.now);
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
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
    poll(id, now, clock) {
      return withClient(
        pool,
        async (client): Promise<PollOutcome | undefined> => {
          await client.query("BEGIN");
          try {
            // FOR UPDATE: two replicas polling one request at once advance its clock one after the other.
            const r = await client.query<unknown[]>({
              text: `SELECT ${columns}, polled_at, poll_interval_ms FROM ${q}.approvals WHERE id = $1 FOR UPDATE`,
              values: [id],
              rowMode: "array",
            });
            const row = r.rows[0];
            const approval = row === undefined ? undefined : rowToApproval(row, now);
            if (row === undefined || approval === undefined || approval.state !== "pending") {
              await client.query("ROLLBACK");
              return approval && { approval };
            }
            const at = row[APPROVAL_COLUMN_COUNT];
            const interval = row[APPROVAL_COLUMN_COUNT + 1];
            const next = nextPoll(
              at === null ? null : Number(at),
              interval === null ? null : Number(interval),
              now,
              clock,
            );
            await client.query(
              `UPDATE ${q}.approvals SET polled_at = $1, poll_interval_ms = $2 WHERE id = $3`,
              [next.polledAt, next.intervalMs, id],
            );
            try {
              await client.query("COMMIT");
            } catch (error) {
              // Perhaps committed: a retry would count as a second poll at once.
              throw new NotRetryable(error);
            }
            return next.sinceMs === undefined
              ? { approval }
              : { approval, slowDown: { sinceMs: next.sinceMs, intervalMs: next.intervalMs } };
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
        },
        true,
      );
    },
    ...approvalFeed(ctx, listener),
  };
}
