/** Kept posture reports on SQLite (store/posture-store.ts). */
import type Database from "better-sqlite3";
import { POSTURE_REPORT_COLUMNS, type PostureReportStore, rowToPostureReport } from "../posture-store.js";
import type { WriteGate } from "./write-gate.js";

export function createSqlitePostureReports(db: Database.Database, gate: WriteGate): PostureReportStore {
  const s = {
    insert: db.prepare(
      "INSERT INTO posture_reports (revision, created_at, body) VALUES (?, ?, ?) RETURNING id",
    ),
    before: db
      .prepare(
        `SELECT ${POSTURE_REPORT_COLUMNS} FROM posture_reports WHERE revision < ? ORDER BY revision DESC, id DESC LIMIT 1`,
      )
      .raw(),
    newest: db
      .prepare(
        `SELECT ${POSTURE_REPORT_COLUMNS} FROM posture_reports ORDER BY revision DESC, id DESC LIMIT 1`,
      )
      .raw(),
  };
  return {
    async save(revision, body, now) {
      await gate();
      return (s.insert.get(revision, now, body) as { id: number }).id;
    },
    async previous(before) {
      const row = (before === undefined ? s.newest.get() : s.before.get(before)) as unknown[] | undefined;
      return row === undefined ? undefined : rowToPostureReport(row);
    },
  };
}
