/**
 * Approvals on SQLite. Every state change is one UPDATE guarded by the state it leaves (`WHERE
 * state = 'pending'`, `'approved'`): SQLite's write lock serializes writers, also across
 * processes on one file, so exactly one decider or consumer sees its row change.
 */
import type Database from "better-sqlite3";
import {
  APPROVAL_COLUMNS,
  type ApprovalStore,
  approvalActionKey,
  approvalParams,
  DEFAULT_APPROVAL_PAGE,
  listFilter,
  type NewApproval,
  rowToApproval,
} from "../approval-store.js";
import { positiveInt } from "../write-checks.js";

export function createSqliteApprovals(db: Database.Database): ApprovalStore {
  const s = {
    writeRules: db.prepare(
      "INSERT INTO approval_rules (version, text, written_at) SELECT coalesce(max(version), 0) + 1, ?, ? FROM approval_rules RETURNING version",
    ),
    readRules: db.prepare(
      "SELECT version, text, written_at FROM approval_rules ORDER BY version DESC LIMIT 1",
    ),
    pending: db
      .prepare(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE action_key = ? AND state = 'pending' AND expires_at > ? ORDER BY created_at DESC LIMIT 1`,
      )
      .raw(),
    insert: db.prepare(`INSERT INTO approvals (${APPROVAL_COLUMNS}) VALUES (${"?, ".repeat(19)}?)`),
    get: db.prepare(`SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE id = ?`).raw(),
    approved: db
      .prepare(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE action_key = ? AND state = 'approved' AND valid_until > ? ORDER BY decided_at DESC LIMIT 1`,
      )
      .raw(),
    decide: db.prepare(
      "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, reason = ?, valid_until = CASE WHEN ? = 'approved' THEN ? + valid_for_ms END WHERE id = ? AND state = 'pending' AND expires_at > ?",
    ),
    consume: db.prepare(
      "UPDATE approvals SET state = 'consumed', consumed_at = ? WHERE id = ? AND state = 'approved' AND valid_until > ?",
    ),
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

  return {
    async writeRules(text, now) {
      return (s.writeRules.get(text, now) as { version: number }).version;
    },
    async readRules() {
      const row = s.readRules.get() as { version: number; text: string; written_at: number } | undefined;
      return row === undefined
        ? undefined
        : { version: row.version, text: row.text, writtenAt: row.written_at };
    },
    async create(approval) {
      return create.immediate(approval, approval.createdAt);
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
      const changed = s.decide.run(state, d.decidedBy, d.now, d.reason, state, d.now, d.id, d.now).changes;
      return changed === 1 ? get(d.id, d.now) : undefined;
    },
    async consume(id, now) {
      return s.consume.run(now, id, now).changes === 1;
    },
  };
}
