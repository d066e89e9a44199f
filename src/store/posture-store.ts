/**
 * Kept posture reports (src/posture): each report's JSON with the revision it was computed at, so
 * that a later report compares its reach with the previous one (drift). Both backends store the
 * same rows (migration 7) and answer alike; the body is opaque here, the posture module owns it.
 */

export interface StoredPostureReport {
  /** Assigned on save, increasing. */
  readonly id: number;
  /** The revision the report was computed at. */
  readonly revision: bigint;
  /** ms since the epoch when it was saved. */
  readonly createdAt: number;
  /** The report as JSON (src/posture's stable shape). */
  readonly body: string;
}

export interface PostureReportStore {
  /** Keeps a report computed at `revision`; returns its id. */
  save(revision: bigint, body: string, now: number): Promise<number>;
  /**
   * The newest report computed at a revision strictly below `before` (any revision when absent):
   * the one a report at `before` compares itself with.
   */
  previous(before?: bigint): Promise<StoredPostureReport | undefined>;
}

/** The columns in the order rowToPostureReport reads them. */
export const POSTURE_REPORT_COLUMNS = "id, revision, created_at, body";

export function rowToPostureReport(row: readonly unknown[]): StoredPostureReport {
  return {
    id: Number(row[0]),
    revision: BigInt(row[1] as string | number | bigint),
    createdAt: Number(row[2]),
    body: String(row[3]),
  };
}
