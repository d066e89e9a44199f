/**
 * Approvals on SQLite. Every state change is one UPDATE guarded by the state it leaves (`WHERE
 * state = 'pending'`, `'approved'`): SQLite's write lock serializes writers, also across
 * processes on one file, so exactly one decider or consumer sees its row change.
 *
 * The feed: each request and decision takes `max(seq) + 1` under that lock, so numbers commit in
 * order. Changes through this store are announced at once; another process's are found by
 * polling `max(seq)` (one indexed read per interval, only while someone listens).
 */
import type Database from "better-sqlite3";
import {
  APPROVAL_CHANGES_PAGE,
  APPROVAL_COLUMN_COUNT,
  APPROVAL_COLUMNS,
  type ApprovalStore,
  approvalActionKey,
  approvalParams,
  DEFAULT_APPROVAL_PAGE,
  listFilter,
  type NewApproval,
  nextPoll,
  type PollClock,
  type PollOutcome,
  rowToApproval,
  type SchemaValidator,
} from "../approval-store.js";
import { positiveInt } from "../write-checks.js";
import type { WriteGate } from "./write-gate.js";

const NEXT_SEQ = "(SELECT coalesce(max(seq), 0) + 1 FROM approvals)";

export function createSqliteApprovals(db: Database.Database, pollMs: number, gate: WriteGate): ApprovalStore {
  const s = {
    writeRules: db.prepare(
      "INSERT INTO approval_rules (version, text, written_at) SELECT coalesce(max(version), 0) + 1, ?, ? FROM approval_rules RETURNING version",
    ),
    readRules: db.prepare(
      "SELECT version, text, written_at FROM approval_rules ORDER BY version DESC LIMIT 1",
    ),
    latestSchema: db.prepare("SELECT text FROM schemas ORDER BY revision DESC LIMIT 1").pluck(),
    pending: db
      .prepare(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE action_key = ? AND state = 'pending' AND expires_at > ? ORDER BY created_at DESC LIMIT 1`,
      )
      .raw(),
    insert: db.prepare(
      `INSERT INTO approvals (${APPROVAL_COLUMNS}, seq) VALUES (${"?, ".repeat(APPROVAL_COLUMN_COUNT)}${NEXT_SEQ})`,
    ),
    get: db.prepare(`SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE id = ?`).raw(),
    clock: db.prepare("SELECT polled_at, poll_interval_ms FROM approvals WHERE id = ?").raw(),
    setClock: db.prepare("UPDATE approvals SET polled_at = ?, poll_interval_ms = ? WHERE id = ?"),
    approved: db
      .prepare(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE action_key = ? AND state = 'approved' AND valid_until > ? ORDER BY decided_at DESC LIMIT 1`,
      )
      .raw(),
    decide: db.prepare(
      `UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, reason = ?, valid_until = CASE WHEN ? = 'approved' THEN ? + valid_for_ms END, seq = ${NEXT_SEQ} WHERE id = ? AND state = 'pending' AND expires_at > ?`,
    ),
    consume: db.prepare(
      "UPDATE approvals SET state = 'consumed', consumed_at = ? WHERE id = ? AND state = 'approved' AND valid_until > ?",
    ),
    latest: db.prepare("SELECT coalesce(max(seq), 0) FROM approvals").pluck(),
    changes: db
      .prepare(`SELECT ${APPROVAL_COLUMNS}, seq FROM approvals WHERE seq > ? ORDER BY seq LIMIT ?`)
      .raw(),
  };
  const create = db.transaction((a: NewApproval, now: number) => {
    const existing = s.pending.get(approvalActionKey(a), now) as unknown[] | undefined;
    if (existing !== undefined) return { approval: rowToApproval(existing, now), created: false };
    s.insert.run(approvalParams(a, a.singleUse ? 1 : 0));
    return { approval: rowToApproval(s.get.get(a.id) as unknown[], now), created: true };
  });
  const get = (id: string, now: number) => {
    const row = s.get.get(id) as unknown[] | undefined;
    return row === undefined ? undefined : rowToApproval(row, now);
  };
  // Under the write lock, so that no schema write lands between the check and the insert.
  const writeRules = db.transaction((text: string, now: number, validate: SchemaValidator | undefined) => {
    validate?.(s.latestSchema.get() as string | undefined);
    return (s.writeRules.get(text, now) as { version: number }).version;
  });
  const poll = db.transaction((id: string, now: number, clock: PollClock): PollOutcome | undefined => {
    const approval = get(id, now);
    if (approval === undefined || approval.state !== "pending") return approval && { approval };
    const [polledAt, interval] = s.clock.get(id) as [number | null, number | null];
    const next = nextPoll(polledAt, interval, now, clock);
    s.setClock.run(next.polledAt, next.intervalMs, id);
    return next.sinceMs === undefined
      ? { approval }
      : { approval, slowDown: { sinceMs: next.sinceMs, intervalMs: next.intervalMs } };
  });
  const feed = createLocalFeed(
    () => s.latest.get() as number,
    pollMs,
    () => db.open,
  );

  return {
    async writeRules(text, now, validate) {
      await gate();
      return writeRules.immediate(text, now, validate);
    },
    async readRules() {
      const row = s.readRules.get() as { version: number; text: string; written_at: number } | undefined;
      return row === undefined
        ? undefined
        : { version: row.version, text: row.text, writtenAt: row.written_at };
    },
    async create(approval) {
      await gate();
      const result = create.immediate(approval, approval.createdAt);
      if (result.created) feed.changed();
      return result;
    },
    async get(id, now) {
      return get(id, now);
    },
    async findApproved(action, now) {
      const row = s.approved.get(approvalActionKey(action), now) as unknown[] | undefined;
      return row === undefined ? undefined : rowToApproval(row, now);
    },
    async list(query, now) {
      const limit = positiveInt(query.limit, "limit") ?? DEFAULT_APPROVAL_PAGE;
      const { where, params } = listFilter(query, now);
      const sql = `SELECT ${APPROVAL_COLUMNS} FROM approvals ${where} ORDER BY created_at DESC, id LIMIT ?`;
      return (
        db
          .prepare(sql)
          .raw()
          .all(...params, limit) as unknown[][]
      ).map((r) => rowToApproval(r, now));
    },
    async decide(d) {
      const state = d.approve ? "approved" : "denied";
      await gate();
      const changed = s.decide.run(state, d.decidedBy, d.now, d.reason, state, d.now, d.id, d.now).changes;
      if (changed !== 1) return undefined;
      feed.changed();
      return get(d.id, d.now);
    },
    async consume(id, now) {
      await gate();
      return s.consume.run(now, id, now).changes === 1;
    },
    async poll(id, now, clock) {
      await gate();
      return poll.immediate(id, now, clock);
    },
    async latestChange() {
      return s.latest.get() as number;
    },
    async changesSince(cursor, limit, now) {
      const rows = s.changes.all(cursor, Math.min(limit, APPROVAL_CHANGES_PAGE)) as unknown[][];
      return {
        approvals: rows.map((r) => rowToApproval(r, now)),
        cursor: rows.length === 0 ? cursor : Number(rows[rows.length - 1]![APPROVAL_COLUMN_COUNT]),
      };
    },
    subscribe: (listener) => feed.subscribe(listener),
  };
}

/**
 * Tells listeners the latest change: at once after a change through this store, and whenever
 * polling `latest` finds another process's (only while someone listens).
 */
function createLocalFeed(latest: () => number, pollMs: number, open: () => boolean) {
  const listeners = new Set<(cursor: number) => void>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let seen = 0;
  const tell = (cursor: number) => {
    seen = cursor;
    for (const listener of [...listeners]) {
      try {
        listener(cursor);
      } catch {
        // A listener's failure must not fail the write that already committed, nor the others.
      }
    }
  };
  return {
    changed() {
      if (listeners.size > 0 && open()) tell(latest());
    },
    subscribe(listener: (cursor: number) => void): () => void {
      listeners.add(listener);
      if (timer === undefined && open()) {
        seen = latest();
        timer = setInterval(() => {
          if (!open()) return;
          const now = latest();
          if (now !== seen) tell(now);
        }, pollMs);
        timer.unref();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer !== undefined) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
  };
}
