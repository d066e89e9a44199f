/** Relationship writes: validated, checked against preconditions, applied at one revision. */
import type pg from "pg";
import { clipJson, type Relationship, type Revision } from "../../core/index.js";
import {
  checkFilter,
  describeRelationship,
  type Precondition,
  type RelationshipFilter,
  type RelationshipUpdate,
  relationshipKey,
  StoreError,
  validateUpdates,
} from "../index.js";
import { nowParam, requireSchema, run, runRows, type StoreContext } from "./context.js";
import { LIVE_REVISION } from "./migrations.js";
import { columnValues, emptyColumns, pushColumns } from "./rows.js";
import { filterPredicates, Params } from "./sql-filter.js";

export async function checkPreconditions(
  ctx: StoreContext,
  client: pg.ClientBase,
  preconditions: readonly Precondition[],
): Promise<void> {
  for (const [index, precondition] of preconditions.entries()) {
    checkFilter(precondition.filter);
    const p = new Params();
    const where = filterPredicates(precondition.filter, p);
    const now = p.add(nowParam(ctx));
    const sql = `SELECT 1 FROM ${ctx.q}.relationships WHERE ${where.join(" AND ")}
      AND deleted_rev = ${LIVE_REVISION} AND (expires_at IS NULL OR expires_at > ${now}) LIMIT 1`;
    const matched = (await client.query(sql, p.values)).rowCount === 1;
    if (matched !== (precondition.operation === "must-match")) {
      throw new StoreError(
        "write/precondition-failed",
        "failed-precondition",
        `precondition ${index + 1} failed: ${precondition.operation === "must-match" ? "no relationship matches" : "a relationship matches"} its filter. Nothing was written.`,
        {
          index,
          operation: precondition.operation,
          // Each name clipped: a name in a filter can be a megabyte long.
          filter: JSON.parse(JSON.stringify(precondition.filter, clipJson)) as unknown,
        },
      );
    }
  }
}

/**
 * Applies validated updates at `revision` with two set-based statements whatever their number:
 * close the live rows they replace or delete, then insert the new rows.
 */
export async function applyUpdates(
  ctx: StoreContext,
  client: pg.ClientBase,
  revision: Revision,
  updates: readonly RelationshipUpdate[],
): Promise<void> {
  await applyPrepared(ctx, client, revision, updates, [prepareUpdates(updates)]);
}

/** The array parameters of applyUpdates' two statements, each an array or its literal text. */
export interface PreparedUpdates {
  /** closeRows': the six key columns, the updates' seqs and whether each deletes. */
  readonly close: readonly unknown[];
  /** insertRows' columns (`columnValues`); undefined when every update deletes. */
  readonly insert: readonly unknown[] | undefined;
}

/** `updates` as statement parameters, their seqs counted from `firstSeq`. */
export function prepareUpdates(updates: readonly RelationshipUpdate[], firstSeq = 0): PreparedUpdates {
  const keys: string[][] = [[], [], [], [], [], []];
  const seqs: number[] = [];
  const isDelete: boolean[] = [];
  const inserts = emptyColumns();
  for (const [i, update] of updates.entries()) {
    const seq = firstSeq + i;
    for (const [k, part] of relationshipKey(update.relationship).entries()) keys[k]?.push(part);
    seqs.push(seq);
    isDelete.push(update.operation === "delete");
    if (update.operation !== "delete") pushColumns(inserts, update.relationship, seq);
  }
  return {
    close: [...keys, seqs, isDelete],
    insert: inserts.seq.length > 0 ? columnValues(inserts) : undefined,
  };
}

/** Runs the statements of `updates` prepared in parts (seqs counted over all): every close, then every insert. */
export async function applyPrepared(
  ctx: StoreContext,
  client: pg.ClientBase,
  revision: Revision,
  updates: readonly RelationshipUpdate[],
  parts: readonly PreparedUpdates[],
): Promise<void> {
  if (updates.length === 0) return;
  const now = nowParam(ctx);
  for (const part of parts) {
    const closed = await runRows(client, ctx.sql.closeRows, [revision, now, ...part.close]);
    for (const [seq, visible] of closed) {
      const update = updates[seq as number];
      if (update?.operation === "create" && visible === true) throw alreadyExists(update.relationship);
    }
  }
  for (const part of parts) {
    if (part.insert !== undefined) await run(client, ctx.sql.insertRows, [revision, ...part.insert]);
  }
}

export function alreadyExists(r: Relationship): StoreError {
  const text = describeRelationship(r);
  return new StoreError(
    "relationship/already-exists",
    "already-exists",
    `${text} already exists: CREATE refuses an existing relationship. Use TOUCH to write it whether or not it exists.`,
    { relationship: text },
  );
}

export async function writeUpdates(
  ctx: StoreContext,
  client: pg.ClientBase,
  revision: Revision,
  updates: readonly RelationshipUpdate[],
  preconditions: readonly Precondition[],
): Promise<void> {
  const schema = await requireSchema(ctx, client);
  validateUpdates(schema, updates);
  await checkPreconditions(ctx, client, preconditions);
  await applyUpdates(ctx, client, revision, updates);
}

/** Closes up to `limit` visible rows matching `filter` at `revision`; returns how many. */
export async function deleteMatching(
  ctx: StoreContext,
  client: pg.ClientBase,
  revision: Revision,
  filter: RelationshipFilter,
  limit: number | undefined,
): Promise<number> {
  const p = new Params();
  const rev = p.add(revision);
  const where = filterPredicates(filter, p);
  const now = p.add(nowParam(ctx));
  const bounded = limit === undefined ? "" : `LIMIT ${p.add(limit)}`;
  const sql = `UPDATE ${ctx.q}.relationships SET deleted_rev = ${rev}, deleted_seq = 0
    WHERE ctid IN (SELECT ctid FROM ${ctx.q}.relationships WHERE ${where.join(" AND ")}
      AND deleted_rev = ${LIVE_REVISION} AND (expires_at IS NULL OR expires_at > ${now}) ${bounded})`;
  const result = await client.query(sql, p.values);
  return result.rowCount ?? 0;
}
