/**
 * The initial load: a synchronous source into a store with no relationship rows at all.
 *
 * Everything happens in ONE transaction: DDL is transactional in SQLite, so other connections see
 * either the empty store or the complete load (readers in WAL keep their snapshot, writers wait on
 * busy_timeout), and a bad relationship anywhere rolls everything back. The source being
 * synchronous means nothing else can run on this connection meanwhile. Revisions are still
 * allocated per batch, so the changes feed pages the same way as for batched imports.
 *
 * Where the time goes (scale m, 413k relationships), and why the load is shaped like this:
 * - Each statement execution from JS costs about a microsecond whatever it inserts, so rows go in
 *   through multi-row INSERTs with spread arguments: about 45% less CPU than one row per
 *   statement with an array (the string conversions that remain are most of the rest).
 * - The rows go into the changes feed first, which is keyed (revision, seq) and so grows by
 *   appending. The relationships table is then filled by one INSERT ... SELECT ordered by its
 *   primary key: SQLite's sorter plus in-order B-tree appends cost less than random inserts, and
 *   far less than deriving the feed afterwards with a window function (which sorts it again).
 * - Maintaining the reverse index row by row would cost random inserts into a second large B-tree;
 *   dropping it and building it once after the load is one sort.
 *
 * Duplicates in the load keep TOUCH semantics: the last occurrence in a batch wins, and an
 * occurrence in an earlier batch stays as history, closed at the next revision that touched it.
 */
import type { Relationship, Revision } from "../../core/index.js";
import type { CompiledSchema } from "../../schema/index.js";
import { validateRelationship } from "../validate.js";
import { RELATIONSHIP_PARAMS, relationshipParams } from "./import-batch.js";
import { MAX_REVISION, REVERSE_INDEX_DDL } from "./migrations.js";
import { KEY_COLUMNS } from "./rows.js";
import type { WriteContext } from "./write-tx.js";

/** Rows per INSERT into the changes feed: beyond a few dozen the gain per statement is nil. */
const ROWS_PER_INSERT = 64;
/** revision, seq, then the relationship's columns; the operation is a literal (always a touch). */
const CHANGE_PARAMS = 2 + RELATIONSHIP_PARAMS;
const CHANGE_ROW = `(?, ?, 1, ${Array(RELATIONSHIP_PARAMS).fill("?").join(", ")})`;
const DATA_COLUMNS = "caveat_name, caveat_context, expiration";

type BulkContext = WriteContext & { exec(sql: string): void };

export function isEmpty(ctx: WriteContext): boolean {
  return ctx.prepared("SELECT 1 FROM relationships LIMIT 1").get() === undefined;
}

export function bulkLoad(
  ctx: BulkContext,
  schema: CompiledSchema,
  source: Iterable<Relationship>,
  batchSize: number,
): { revision: Revision; count: number } {
  const first = Number(ctx.current()) + 1;
  let revision = first - 1;
  let count = 0;
  ctx.exec("DROP INDEX relationships_reverse");
  const appendMany = ctx.prepared(
    `INSERT INTO changes VALUES ${Array(ROWS_PER_INSERT).fill(CHANGE_ROW).join(", ")}`,
  );
  const appendOne = ctx.prepared(`INSERT INTO changes VALUES ${CHANGE_ROW}`);
  const params = new Array<unknown>(ROWS_PER_INSERT * CHANGE_PARAMS);
  let pending = 0;
  let batch: Relationship[] = [];
  const flush = () => {
    for (const r of batch) validateRelationship(schema, r);
    revision += 1;
    for (let seq = 0; seq < batch.length; seq++) {
      const offset = pending * CHANGE_PARAMS;
      params[offset] = revision;
      params[offset + 1] = seq;
      relationshipParams(params, offset + 2, batch[seq]!);
      if (++pending === ROWS_PER_INSERT) {
        // Spread, not the array: better-sqlite3 reads arguments faster than array elements.
        appendMany.run(...params);
        pending = 0;
      }
    }
    count += batch.length;
    batch = [];
  };
  for (const r of source) {
    batch.push(r);
    if (batch.length >= batchSize) flush();
  }
  if (batch.length > 0) flush();
  for (let i = 0; i < pending; i++) {
    appendOne.run(params.slice(i * CHANGE_PARAMS, (i + 1) * CHANGE_PARAMS));
  }
  const now = Date.now();
  for (let r = first; r <= revision; r++) ctx.s.insertRevision.run(r, now);
  if (count > 0) fillRelationships(ctx, first);
  ctx.exec(REVERSE_INDEX_DDL);
  return { revision: BigInt(revision), count };
}

/**
 * The relationships table from the changes this load appended. Sorted by key with the latest
 * occurrence first, so each key's first row is its live version. A later row with the same key
 * collides with it: from the same revision it is an earlier, overwritten occurrence and is dropped;
 * from an earlier revision it is history, which the no-op update makes countable (the statement's
 * change count then exceeds the table's row count) and `insertHistory` adds.
 */
function fillRelationships(ctx: BulkContext, first: number): void {
  const { changes } = ctx
    .prepared(
      `INSERT INTO relationships (${KEY_COLUMNS}, deleted_rev, created_rev, ${DATA_COLUMNS})
       SELECT ${KEY_COLUMNS}, ${MAX_REVISION}, revision, ${DATA_COLUMNS}
         FROM changes WHERE revision >= ?
        ORDER BY ${KEY_COLUMNS}, revision DESC, seq DESC
       ON CONFLICT DO UPDATE SET created_rev = created_rev WHERE excluded.created_rev < created_rev`,
    )
    .run(first);
  const [rows] = ctx.prepared("SELECT count(*) FROM relationships").get() as [number];
  if (changes > rows) insertHistory(ctx, first);
}

/**
 * Rows for keys the load touched in more than one batch: each earlier batch's last occurrence,
 * closed at the next revision that touched the key. Only loads that repeat a relationship across
 * batches get here, so the scan of the feed is acceptable.
 */
function insertHistory(ctx: BulkContext, first: number): void {
  const superseded = ctx
    .prepared(
      `SELECT ${KEY_COLUMNS}, revision, ${DATA_COLUMNS} FROM changes c
        WHERE revision >= ? AND NOT EXISTS (
          SELECT 1 FROM relationships r
           WHERE (r.resource_type, r.resource_id, r.relation, r.subject_type, r.subject_id, r.subject_relation)
               = (c.resource_type, c.resource_id, c.relation, c.subject_type, c.subject_id, c.subject_relation)
             AND r.created_rev = c.revision)
        ORDER BY ${KEY_COLUMNS}, revision DESC, seq DESC`,
    )
    .all(first) as unknown[][];
  const insert = ctx.prepared(
    `INSERT INTO relationships (${KEY_COLUMNS}, created_rev, ${DATA_COLUMNS}, deleted_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  let key: unknown[] | undefined;
  let next = 0;
  for (const row of superseded) {
    if (key === undefined || !sameKey(key, row)) {
      key = row;
      next = (ctx.s.selectLive.get(row.slice(0, 6)) as [number])[0];
    }
    const created = row[6] as number;
    // Rows of one revision come latest first: only the first of them is that revision's version.
    if (created === next) continue;
    insert.run(...row, next);
    next = created;
  }
}

function sameKey(a: readonly unknown[], b: readonly unknown[]): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
