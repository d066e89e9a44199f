/**
 * The decision log's long reads on SQLite, in pieces between which the event loop turns.
 * better-sqlite3 runs each statement to its end in this thread, so one statement over a log of a
 * million records holds every other request for seconds (bench/audit-read-stall.ts): verify
 * walks the chain page by page from one snapshot, and a filtered read scans a range of seqs per
 * statement.
 */
import type Database from "better-sqlite3";
import {
  type ChainSigner,
  type SignedHead,
  type SignedPoint,
  type StoredRow,
  subjectNeedle,
  type VerifyReport,
  verifyChain,
} from "../decision-log.js";
import { nextTurn } from "../next-turn.js";

export type Row = [number, number, string, string, string, string];
export const COLUMNS = "seq, at, subject, body, prev_hash, hash";

export const toRow = (r: Row): StoredRow => ({
  seq: r[0],
  at: r[1],
  subject: r[2],
  body: r[3],
  prevHash: r[4],
  hash: r[5],
});

export interface LongReadSettings {
  /** Rows verify reads and hashes between two turns (about 3.3 µs a row here: 2,000 in 7 ms). */
  readonly verifyPageRows: number;
  /**
   * Seqs one statement of a filtered read covers: about 0.45 µs a row that does not match (read,
   * the needle searched), so 4,096 take about 2 ms; matches fill the page and end the read sooner.
   */
  readonly scanRangeRows: number;
  /** Where a long read lets the event loop turn (tests drive it). */
  readonly pause: () => Promise<void>;
}

export const DEFAULT_LONG_READS: LongReadSettings = {
  verifyPageRows: 2_000,
  scanRangeRows: 4_096,
  pause: nextTurn,
};

/**
 * Verify on a read-only connection of its own: its read transaction, begun before the first
 * statement and held across the turns, keeps one WAL snapshot, so rows, checkpoints and head agree
 * however many appends and prunes commit meanwhile on other connections (the serving one cannot
 * hold a transaction across awaits: the store's writes on it would nest inside). The snapshot holds
 * back WAL checkpoints past it while the walk lasts (about 3.5 s a million records). Memory: one page
 * of rows, and the checkpoints (one per `checkpointEvery` records), all of which verifyChain takes.
 */
export async function verifyOnSnapshot(
  reader: Database.Database,
  signer: ChainSigner,
  settings: LongReadSettings,
): Promise<VerifyReport> {
  // Before the snapshot begins (its first read, below); see verifyChain's `seenBefore`.
  const seenBefore = signer.highest;
  try {
    reader.exec("BEGIN");
    // The first read begins the snapshot; everything after, across the turns, reads that state.
    const points: SignedPoint[] = [];
    const checkpoints = reader.prepare(
      "SELECT seq, hash, mac FROM decision_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?",
    );
    for await (const batch of pagesAfter<SignedPoint>(checkpoints, settings, (p) => p.seq))
      points.push(...batch);
    const head = reader
      .prepare("SELECT seq, hash, floor, mac FROM decision_head WHERE singleton = 1")
      .get() as SignedHead | undefined;
    const page = reader.prepare(`SELECT ${COLUMNS} FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?`).raw();
    const pages = async function* (): AsyncIterable<StoredRow> {
      for await (const batch of pagesAfter<Row>(page, settings, (r) => r[0]))
        for (const r of batch) yield toRow(r);
    };
    return await verifyChain(pages(), points, head, signer, settings.pause, undefined, seenBefore);
  } finally {
    // Closing ends the read transaction (nothing was written: a rollback).
    reader.close();
  }
}

/**
 * A table's rows past each page's last seq, a page per turn of the event loop (the checkpoints:
 * a million records have 10,000 of them; the records themselves).
 */
async function* pagesAfter<T>(
  stmt: Database.Statement,
  settings: LongReadSettings,
  seqOf: (row: T) => number,
): AsyncIterable<T[]> {
  for (let after = 0; ; await settings.pause()) {
    const batch = stmt.all(after, settings.verifyPageRows) as T[];
    yield batch;
    if (batch.length < settings.verifyPageRows) return;
    after = seqOf(batch[batch.length - 1]!);
  }
}

/**
 * Rows read at once in one transaction on the serving connection, walked with a turn every page:
 * the fallback of a `:memory:` database, which no second connection can open. Its whole log is in
 * memory already (the copy at most doubles it), and only the read, not the hashing, holds the loop.
 */
export async function* inPages(rows: readonly StoredRow[], settings: LongReadSettings) {
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % settings.verifyPageRows === 0) await settings.pause();
    yield rows[i]!;
  }
}

export interface ScanQuery {
  readonly afterSeq: number;
  readonly since?: Date | undefined;
  readonly subject?: string | undefined;
  readonly limit: number;
}

/** The subject column, or `onBehalfOf` (json_each) where the body holds the needle (subjectNeedle). */
const SUBJECT_FILTER =
  "(subject = ? OR (instr(body, ?) > 0 AND EXISTS (SELECT 1 FROM json_each(body, '$.onBehalfOf') WHERE value = ?)))";

/** The statement of one range, for the filters a query has (four shapes, prepared once each). */
function rangeStatement(db: Database.Database, cache: Map<string, Database.Statement>, q: ScanQuery) {
  const key = `${q.since !== undefined}/${q.subject !== undefined}`;
  let stmt = cache.get(key);
  if (stmt === undefined) {
    const where = ["seq > ?", "seq <= ?"];
    if (q.since !== undefined) where.push("at >= ?");
    if (q.subject !== undefined) where.push(SUBJECT_FILTER);
    const sql = `SELECT ${COLUMNS} FROM decisions WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`;
    stmt = db.prepare(sql).raw();
    cache.set(key, stmt);
  }
  return stmt;
}

function filterParams(q: ScanQuery): unknown[] {
  const params: unknown[] = [];
  if (q.since !== undefined) params.push(q.since.getTime());
  if (q.subject !== undefined) params.push(q.subject, subjectNeedle(q.subject), q.subject);
  return params;
}

/**
 * A filtered read: one statement per range of `scanRangeRows` seqs, a turn between two, until
 * the page is full or the range reaches the log's end as it was when the read began. Records
 * appended meanwhile are left to the next read (the caller's cursor reaches them), as a single
 * statement begun then would have; a prune meanwhile removes only records not yet returned.
 * Results come in seq order, each at most once, as one statement's would.
 */
export function createScan(db: Database.Database, settings: LongReadSettings) {
  // Two subqueries: SQLite reads a lone min() or max() off the index's end, both in one SELECT by a full scan.
  const bounds = db
    .prepare("SELECT (SELECT min(seq) FROM decisions), (SELECT max(seq) FROM decisions)")
    .raw();
  const cache = new Map<string, Database.Statement>();
  return async (q: ScanQuery): Promise<Row[]> => {
    const [first, last] = bounds.get() as [number | null, number | null];
    // A cursor from before a prune starts at the oldest kept record, not at a range of nothing.
    let after = Math.max(q.afterSeq, (first ?? 1) - 1);
    const end = last ?? 0;
    const stmt = rangeStatement(db, cache, q);
    const params = filterParams(q);
    const found: Row[] = [];
    while (after < end) {
      const to = Math.min(end, after + settings.scanRangeRows);
      for (const r of stmt.all(after, to, ...params, q.limit - found.length) as Row[]) found.push(r);
      after = to;
      if (found.length >= q.limit || after >= end) break;
      await settings.pause();
    }
    return found;
  };
}
