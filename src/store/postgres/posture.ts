/** Kept posture reports on PostgreSQL (store/posture-store.ts), shared by every replica. */
import { POSTURE_REPORT_COLUMNS, type PostureReportStore, rowToPostureReport } from "../posture-store.js";
import { withClient } from "./connection.js";
import type { StoreContext } from "./context.js";

export function createPostgresPostureReports(ctx: StoreContext): PostureReportStore {
  const { pool, q } = ctx;
  const query = (text: string, values: unknown[]) =>
    withClient(
      pool,
      async (client) => (await client.query<unknown[]>({ text, values, rowMode: "array" })).rows,
      true,
    );
  return {
    async save(revision, body, now) {
      const rows = await query(
        `INSERT INTO ${q}.posture_reports (revision, created_at, body) VALUES ($1, $2, $3) RETURNING id`,
        [revision.toString(), now, body],
      );
      return Number(rows[0]![0]);
    },
    async previous(before) {
      const rows =
        before === undefined
          ? await query(
              `SELECT ${POSTURE_REPORT_COLUMNS} FROM ${q}.posture_reports ORDER BY revision DESC, id DESC LIMIT 1`,
              [],
            )
          : await query(
              `SELECT ${POSTURE_REPORT_COLUMNS} FROM ${q}.posture_reports WHERE revision < $1 ORDER BY revision DESC, id DESC LIMIT 1`,
              [before.toString()],
            );
      return rows[0] === undefined ? undefined : rowToPostureReport(rows[0]);
    },
  };
}
