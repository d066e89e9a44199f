/**
 * The bodies of write transactions and of the changes read. Each runs inside a transaction the
 * store opened (BEGIN IMMEDIATE for writes), so validation, preconditions and updates see one state.
 */
import type Database from "better-sqlite3";
import { clipJson, type Revision } from "../../core/index.js";
import { describeRelationship } from "../describe.js";
import { StoreError } from "../errors.js";
import { relationshipKey, serializeContext } from "../row-keys.js";
import type {
  Change,
  ChangesPage,
  Precondition,
  RelationshipFilter,
  RelationshipUpdate,
  SchemaChange,
} from "../types.js";
import { checkFilter, deleteOverLimit } from "../write-checks.js";
import {
  KEY_COLUMNS,
  keyOfRow,
  type RawRow,
  REL_COLUMNS,
  rowToRelationship,
  visibleMatches,
} from "./rows.js";
import type { Statements } from "./statements.js";

export interface WriteContext {
  readonly s: Statements;
  prepared(sql: string): Database.Statement<unknown[], unknown>;
  current(): Revision;
}

/** What an import needs besides: the bulk loader drops and builds an index. */
export type ImportContext = WriteContext & { exec(sql: string): void };

/** An import under way inside a transaction (import-rows.ts): chunks of flat rows in, then its last revision. */
export interface ImportSink {
  add(rows: readonly unknown[]): void;
  finish(): { revision: Revision; count: number };
}

export const TOUCH = 1;
export const DELETE = 2;

export function checkPreconditions(
  ctx: WriteContext,
  preconditions: readonly Precondition[],
  revision: Revision,
  now: number,
): void {
  for (const [index, pre] of preconditions.entries()) {
    checkFilter(pre.filter);
    const { where, params } = visibleMatches(pre.filter, revision, now);
    const found = ctx.prepared(`SELECT 1 FROM relationships WHERE ${where} LIMIT 1`).get(params);
    const matched = found !== undefined;
    if (matched !== (pre.operation === "must-match")) {
      // The filter as the caller sent it, each name clipped: a name can be a megabyte long.
      const filter = JSON.stringify(pre.filter, clipJson);
      throw new StoreError(
        "write/precondition-failed",
        "failed-precondition",
        `precondition failed: ${pre.operation === "must-match" ? "no relationship matches" : "a relationship matches"} ${filter}; nothing was written.`,
        // The same details as the PostgreSQL store's, so callers can name the failed precondition.
        { index, operation: pre.operation, filter: JSON.parse(filter) as unknown },
      );
    }
  }
}

/** Updates validated against the schema (validate.ts `validateUpdates`), in the same transaction. */
export function applyUpdates(
  ctx: WriteContext,
  updates: readonly RelationshipUpdate[],
  preconditions: readonly Precondition[],
): Revision {
  const now = Date.now();
  const current = ctx.current();
  checkPreconditions(ctx, preconditions, current, now);
  const revision = current + 1n;
  const rev = Number(revision);
  ctx.s.insertRevision.run(rev, now);
  let seq = 0;
  for (const { operation, relationship: r } of updates) {
    const ids = relationshipKey(r);
    const existing = ctx.s.selectLive.get(ids) as
      | [number, string | null, string | null, number | null]
      | undefined;
    const live = existing !== undefined && (existing[3] === null || existing[3] > now);
    if (operation === "create" && live) {
      throw new StoreError(
        "relationship/already-exists",
        "already-exists",
        `${describeRelationship(r)} already exists; CREATE refuses to replace it. Use TOUCH to upsert; nothing was written.`,
        { relationship: describeRelationship(r) },
      );
    }
    if (existing !== undefined) ctx.s.closeLive.run(rev, ...ids);
    if (operation === "delete") {
      if (live) ctx.s.insertChange.run(rev, seq++, DELETE, ...ids, existing[1], existing[2], existing[3]);
      continue;
    }
    const caveat = r.caveat?.name ?? null;
    const context = serializeContext(r);
    const expiration = r.expiration?.getTime() ?? null;
    ctx.s.insertRelationship.run(...ids, rev, caveat, context, expiration);
    ctx.s.insertChange.run(rev, seq++, TOUCH, ...ids, caveat, context, expiration);
  }
  return revision;
}

export function applyDeleteByFilter(
  ctx: WriteContext,
  filter: RelationshipFilter,
  limit: number | undefined,
  preconditions: readonly Precondition[],
  failOverLimit = false,
): { revision: Revision; deleted: number } {
  const now = Date.now();
  const current = ctx.current();
  checkPreconditions(ctx, preconditions, current, now);
  const { where, params } = visibleMatches(filter, current, now);
  let sql = `SELECT ${REL_COLUMNS} FROM relationships WHERE ${where} ORDER BY ${KEY_COLUMNS}`;
  if (limit !== undefined) {
    sql += " LIMIT ?";
    // One more than the limit tells whether the delete would leave matches behind.
    params.push(failOverLimit ? limit + 1 : limit);
  }
  const rows = ctx.prepared(sql).all(params) as RawRow[];
  if (limit !== undefined && rows.length > limit) throw deleteOverLimit(limit);
  const revision = current + 1n;
  const rev = Number(revision);
  ctx.s.insertRevision.run(rev, now);
  let seq = 0;
  for (const row of rows) {
    const key = keyOfRow(row);
    ctx.s.closeLive.run(rev, ...key);
    ctx.s.insertChange.run(rev, seq++, DELETE, ...key, row[6], row[7], row[8]);
  }
  return { revision, deleted: rows.length };
}

export function readChangesPage(
  ctx: WriteContext,
  after: Revision,
  limit: number,
  within: number | undefined,
): ChangesPage {
  if (within !== undefined && within > 0) return readSlice(ctx, after, limit, within);
  const current = ctx.current();
  let rows = ctx.s.changesRange.all(after, current, limit + 1) as RawRow[];
  let reached = current;
  if (rows.length > limit) {
    // Pages end on a revision boundary, so `reached` can be passed back without losing changes.
    const cut = BigInt(rows[limit]![0] as string);
    rows = rows.slice(0, limit).filter((row) => BigInt(row[0] as string) < cut);
    reached = cut - 1n;
    if (rows.length === 0) {
      if (within !== undefined) return readSlice(ctx, after, limit, 0);
      rows = ctx.s.changesOfRevision.all(cut) as RawRow[];
      reached = cut;
    }
  }
  return changesPage(ctx, after, reached, rows.map(toChange));
}

/**
 * A slice of the first revision after `after` that has changes, from its change `within` on: a
 * revision too large for a page, read a page at a time so that no read holds the thread for all
 * of it (a delete by filter can make one of hundreds of thousands of changes).
 */
function readSlice(ctx: WriteContext, after: Revision, limit: number, within: number): ChangesPage {
  const revision = ctx.s.nextChangedRevision.get(after) as number | undefined;
  if (revision === undefined) return changesPage(ctx, after, ctx.current(), []);
  const rows = ctx.s.changesSlice.all(revision, within, limit + 1) as RawRow[];
  if (rows.length <= limit) {
    return changesPage(
      ctx,
      after,
      BigInt(revision),
      rows.map((row) => toChange(row.slice(1))),
    );
  }
  const next = rows[limit]![0] as number;
  const changes = rows.slice(0, limit).map((row) => toChange(row.slice(1)));
  return { changes, schemaChanges: [], revision: after, within: next };
}

function toChange(row: RawRow): Change {
  return {
    revision: BigInt(row[0] as string),
    operation: row[1] === TOUCH ? "touch" : "delete",
    relationship: rowToRelationship(row.slice(2)),
  };
}

/** `changes` with the schema changes and metadata of the revisions after `after` up to `reached`. */
function changesPage(ctx: WriteContext, after: Revision, reached: Revision, changes: Change[]): ChangesPage {
  const schemaChanges: SchemaChange[] = (ctx.s.schemaChanges.all(after, reached) as RawRow[]).map((row) => ({
    revision: BigInt(row[0] as number),
    schemaText: row[1] as string,
  }));
  const metadata = (ctx.s.metadataRange.all(after, reached) as RawRow[]).map((row) => ({
    revision: BigInt(row[0] as number),
    metadata: JSON.parse(row[1] as string) as Record<string, unknown>,
  }));
  return {
    changes,
    schemaChanges,
    revision: reached > after ? reached : after,
    ...(metadata.length > 0 ? { metadata } : {}),
  };
}
