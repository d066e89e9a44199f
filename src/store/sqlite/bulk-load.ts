/**
 * The initial load: a synchronous source into a store with no relationship rows at all.
 *
 * Maintaining the reverse index row by row costs about two thirds of an import (random inserts
 * into a large B-tree, and every commit rewrites the pages they dirtied); building it once after
 * the load is a sort. So this path drops the index, inserts everything, rebuilds the index and
 * derives the changes feed with one INSERT ... SELECT, all in ONE transaction: DDL is
 * transactional in SQLite, so other connections see either the empty store or the complete load
 * (readers in WAL keep their snapshot, writers wait on busy_timeout), and a bad relationship
 * anywhere rolls everything back. The source being synchronous means nothing else can run on this
 * connection meanwhile. Revisions are still allocated per batch, so the changes feed pages the same
 * way as for batched imports.
 */
import type { Relationship, Revision } from "../../core/index.js";
import type { CompiledSchema } from "../../schema/index.js";
import { validateRelationship } from "../validate.js";
import { importBatch } from "./import-batch.js";
import { REVERSE_INDEX_DDL } from "./migrations.js";
import type { WriteContext } from "./write-tx.js";

export function isEmpty(ctx: WriteContext): boolean {
  return ctx.prepared("SELECT 1 FROM relationships LIMIT 1").get() === undefined;
}

export function bulkLoad(
  ctx: WriteContext & { exec(sql: string): void },
  schema: CompiledSchema,
  source: Iterable<Relationship>,
  batchSize: number,
): { revision: Revision; count: number } {
  const first = Number(ctx.current()) + 1;
  let revision = first - 1;
  let count = 0;
  ctx.exec("DROP INDEX relationships_reverse");
  let batch: Relationship[] = [];
  const flush = () => {
    for (const r of batch) validateRelationship(schema, r);
    revision += 1;
    importBatch(ctx.s, batch, revision, false);
    count += batch.length;
    batch = [];
  };
  for (const r of source) {
    batch.push(r);
    if (batch.length >= batchSize) flush();
  }
  if (batch.length > 0) flush();
  const now = Date.now();
  for (let r = first; r <= revision; r++) ctx.s.insertRevision.run(r, now);
  // Every row is from this load (the store was empty): each is a touch at its created revision,
  // including rows a later duplicate in the load replaced.
  ctx
    .prepared(
      `INSERT INTO changes
         SELECT created_rev, row_number() OVER (PARTITION BY created_rev ORDER BY resource_type, resource_id, relation, subject_type, subject_id, subject_relation, deleted_rev) - 1,
                1, resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
                caveat_name, caveat_context, expiration
           FROM relationships`,
    )
    .run();
  ctx.exec(REVERSE_INDEX_DDL);
  return { revision: BigInt(revision), count };
}
