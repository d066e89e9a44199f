import { MAX_REVISION, REVERSE_INDEX_DDL } from "./migrations.js";
import { KEY_COLUMNS, RELATIONSHIP_PARAMS } from "./rows.js";
import type { ImportContext, ImportSink, WriteContext } from "./write-tx.js";

/** Rows per INSERT into the changes feed: beyond a few dozen the gain per statement is nil. */
const ROWS_PER_INSERT = 64;
/** revision, seq, then the relationship's columns; the operation is a literal (always a touch). */
const CHANGE_PARAMS = 2 + RELATIONSHIP_PARAMS;
const CHANGE_ROW = `(?, ?, 1, ${Array(RELATIONSHIP_PARAMS).fill("?").join(", ")})`;
const DATA_COLUMNS = "caveat_name, caveat_context, expiration";

export function isEmpty(ctx: WriteContext): boolean {
  return ctx.prepared("SELECT 1 FROM relationships LIMIT 1").get() === undefined;
}

/** The bulk load as an import (import-rows.ts): validated flat rows in, the tables built at `finish`. */
export function bulkLoad(ctx: ImportContext, batchSize: number): ImportSink {
  const first = Number(ctx.current()) + 1;
  let revision = first - 1;
  let seq = batchSize;
  let count = 0;
  ctx.exec("DROP INDEX relationships_reverse");
  const appendMany = ctx.prepared(
    `INSERT INTO changes VALUES ${Array(ROWS_PER_INSERT).fill(CHANGE_ROW).join(", ")}`,
  );
  const appendOne = ctx.prepared(`INSERT INTO changes VALUES ${CHANGE_ROW}`);
  const params = new Array<unknown>(ROWS_PER_INSERT * CHANGE_PARAMS);
  let pending = 0;
  return {
    add(rows) {
      for (let at = 0; at < rows.length; at += RELATIONSHIP_PARAMS) {
        if (seq === batchSize) {
          revision += 1;
          seq = 0;
        }
        const offset = pending * CHANGE_PARAMS;
        params[offset] = revision;
        params[offset + 1] = seq++;
        for (let i = 0; i < RELATIONSHIP_PARAMS; i++) params[offset + 2 + i] = rows[at + i];
        if (++pending === ROWS_PER_INSERT) {
          // Spread, not the array: better-sqlite3 reads arguments faster than array elements.
          appendMany.run(...params);
          pending = 0;
        }
        count += 1;
      }
    },
    finish() {
      for (let i = 0; i < pending; i++) {
        appendOne.run(params.slice(i * CHANGE_PARAMS, (i + 1) * CHANGE_PARAMS));
      }
      pending = 0;
      const now = Date.now();
      for (let r = first; r <= revision; r++) ctx.s.insertRevision.run(r, now);
      if (count > 0) fillRelationships(ctx, first);
      ctx.exec(REVERSE_INDEX_DDL);
      return { revision: BigInt(revision), count };
    },
  };
}

/**
 * The relationships table from the changes this load appended. Sorted by key with the latest
 * occurrence first, so each key's first row is its live version. A later row with the same key
 * collides with it: from the same revision it is an earlier, overwritten occurrence and is dropped;
 * from an earlier revision it is history, which the no-op update makes countable (the statement's
 * change count then exceeds the table's row count) and `insertHistory` adds.
 */
function fillRelationships(ctx: ImportContext, first: number): void {
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
function insertHistory(ctx: ImportContext, first: number): void {
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
