/** Reads pinned to a revision: by filter with cursors, forward and reverse lookups, export. */
import type pg from "pg";
import type { Relationship, Revision } from "../../core/index.js";
import {
  checkFilter,
  cursorAfter,
  encodeCursor,
  type ForwardQuery,
  type PageOptions,
  type ReadPage,
  type RelationshipFilter,
  type RelationshipKey,
  type ReverseQuery,
  StoreError,
} from "../index.js";
import { withClient } from "./connection.js";
import { nowParam, runRows, type StoreContext } from "./context.js";
import { COLUMNS, fromRow } from "./rows.js";
import { filterPredicates, Params, visibleAt } from "./sql-filter.js";

const KEY = "resource_type, resource_id, relation, subject_type, subject_id, subject_relation";

/** Runs a read on the primary: the current revision, the changes feed, what writes need. */
export function readClient<T>(ctx: StoreContext, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(ctx.pool, work, true);
}

/** Runs a read pinned to `revision`: on a read replica that holds it, else on the primary. */
export function readClientAt<T>(
  ctx: StoreContext,
  revision: Revision,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return ctx.reads === undefined ? readClient(ctx, work) : ctx.reads.run(revision, work);
}

export async function currentRevision(ctx: StoreContext, client: pg.ClientBase): Promise<Revision> {
  const rows = await runRows(client, ctx.sql.currentRevision, []);
  return BigInt(rows[0]?.[0] as string);
}

/** A revision a read may be pinned to: one that exists (a later one could still change). */
export async function checkedRevision(
  ctx: StoreContext,
  client: pg.ClientBase,
  requested: Revision | undefined,
): Promise<Revision> {
  const current = await currentRevision(ctx, client);
  if (requested === undefined) return current;
  if (typeof requested !== "bigint" || requested < 0n) {
    throw new StoreError(
      "revision/invalid",
      "invalid-argument",
      `revision must be a non-negative bigint, got ${String(requested)}.`,
    );
  }
  if (requested > current) {
    throw new StoreError(
      "revision/unknown",
      "failed-precondition",
      `revision ${requested} does not exist yet (the store is at ${current}); a read cannot be pinned to the future.`,
      { revision: requested.toString(), current: current.toString() },
    );
  }
  return requested;
}

function unique(ids: readonly string[]): readonly string[] {
  if (ids.length < 2) return ids;
  const set = new Set(ids);
  return set.size === ids.length ? ids : [...set];
}

function toKey(row: readonly unknown[]): RelationshipKey {
  return [row[0], row[1], row[2], row[3], row[4], row[5]] as unknown as RelationshipKey;
}

async function selectPage(
  ctx: StoreContext,
  client: pg.ClientBase,
  filter: RelationshipFilter | undefined,
  revision: Revision,
  after: RelationshipKey | undefined,
  limit: number | undefined,
): Promise<unknown[][]> {
  const p = new Params();
  const where = filter === undefined ? [] : filterPredicates(filter, p);
  where.push(visibleAt(p.add(revision), p.add(nowParam(ctx))));
  if (after !== undefined) where.push(`(${KEY}) > (${after.map((k) => p.add(k)).join(", ")})`);
  const bounded = limit === undefined ? "" : ` LIMIT ${p.add(limit)}`;
  const text = `SELECT ${COLUMNS} FROM ${ctx.q}.relationships WHERE ${where.join(" AND ")} ORDER BY ${KEY}${bounded}`;
  const result = await client.query<unknown[]>({ text, values: p.values, rowMode: "array" });
  return result.rows;
}

export async function readRelationships(
  ctx: StoreContext,
  filter: RelationshipFilter,
  at: Revision,
  options: PageOptions = {},
): Promise<ReadPage> {
  checkFilter(filter);
  const limit = options.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new StoreError(
      "store/invalid-limit",
      "invalid-argument",
      `limit must be a positive integer, got ${limit}.`,
    );
  }
  const after = options.cursor === undefined ? undefined : cursorAfter(options.cursor, filter, at);
  return readClientAt(ctx, at, async (client) => {
    const revision = await checkedRevision(ctx, client, at);
    const rows = await selectPage(
      ctx,
      client,
      filter,
      revision,
      after,
      limit === undefined ? undefined : limit + 1,
    );
    const more = limit !== undefined && rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const relationships = page.map((row) => fromRow(row));
    const last = page[page.length - 1];
    if (!more || last === undefined) return { relationships, revision };
    return { relationships, revision, cursor: encodeCursor({ revision, after: toKey(last) }, filter) };
  });
}

export async function lookupForward(
  ctx: StoreContext,
  query: ForwardQuery,
  revision: Revision,
): Promise<readonly Relationship[]> {
  if (query.resourceIds.length === 0 || query.relations.length === 0) return [];
  if (query.subjectIds !== undefined && query.subjectIds.length === 0) return [];
  const rows = await readClientAt(ctx, revision, (client) =>
    runRows(client, ctx.sql.forward, [
      revision,
      nowParam(ctx),
      query.resourceType,
      unique(query.resourceIds),
      query.relations,
      query.subjectType ?? null,
      query.subjectRelation === undefined
        ? null
        : query.subjectRelation === "..."
          ? ""
          : query.subjectRelation,
      query.subjectIds ?? null,
    ]),
  );
  return rows.map((row) => fromRow(row));
}

export async function lookupReverse(
  ctx: StoreContext,
  query: ReverseQuery,
  revision: Revision,
): Promise<readonly Relationship[]> {
  if (query.subjectIds.length === 0 || query.relations.length === 0) return [];
  const rows = await readClientAt(ctx, revision, (client) =>
    runRows(client, ctx.sql.reverse, [
      revision,
      nowParam(ctx),
      query.subjectType,
      unique(query.subjectIds),
      query.subjectRelation === "..." ? "" : query.subjectRelation,
      query.resourceType,
      query.relations,
    ]),
  );
  return rows.map((row) => fromRow(row));
}

export interface ExportOptions {
  readonly pageSize?: number;
  /**
   * Awaited before each page after the first (which the caller guards itself): throws when the
   * revision has since fallen behind the history horizon, whose rows compaction may be deleting.
   */
  readonly beforePage?: () => Promise<void> | undefined;
}

/** Every visible relationship at a revision, in key order, fetched a page at a time. */
export async function* exportRelationships(
  ctx: StoreContext,
  revision: Revision,
  options: ExportOptions = {},
): AsyncIterable<Relationship> {
  const pageSize = options.pageSize ?? 5_000;
  const at = await readClientAt(ctx, revision, (client) => checkedRevision(ctx, client, revision));
  let after: RelationshipKey | undefined;
  for (;;) {
    if (after !== undefined) await options.beforePage?.();
    const rows = await readClientAt(ctx, at, (client) =>
      selectPage(ctx, client, undefined, at, after, pageSize),
    );
    for (const row of rows) yield fromRow(row);
    const last = rows[rows.length - 1];
    if (rows.length < pageSize || last === undefined) return;
    after = toKey(last);
  }
}
