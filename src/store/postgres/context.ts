/** What every part of the PostgreSQL store shares: the pool, its SQL, the clock and the schema cache. */
import type pg from "pg";
import type { Revision } from "../../core/index.js";
import type { CompiledSchema } from "../../schema/index.js";
import { compileSchema } from "../../schema/index.js";
import { StoreError } from "../index.js";
import type { ReadRouter } from "./read-replicas.js";
import type { Statement, Statements } from "./statements.js";

export interface StoreContext {
  readonly pool: pg.Pool;
  /** Quoted PG schema name. */
  readonly q: string;
  readonly sql: Statements;
  /** NOTIFY channel, or null when writes do not notify. */
  readonly channel: string | null;
  /** Milliseconds since the epoch; expiration is judged against it. */
  readonly now: () => number;
  /** Where reads at a revision run (read replicas, else the primary); set once the store is open. */
  reads: ReadRouter | undefined;
  /** Last schema compiled by this replica, reused while the stored schema revision is unchanged. */
  compiled: { readonly revision: Revision; readonly schema: CompiledSchema } | undefined;
}

export function run<R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.ClientBase,
  statement: Statement,
  values: readonly unknown[],
): Promise<pg.QueryResult<R>> {
  return client.query<R>({ name: statement.name, text: statement.text, values: values as unknown[] });
}

export function runRows(
  client: pg.ClientBase,
  statement: Statement,
  values: readonly unknown[],
): Promise<unknown[][]> {
  return client
    .query<unknown[]>({
      name: statement.name,
      text: statement.text,
      values: values as unknown[],
      rowMode: "array",
    })
    .then((r) => r.rows);
}

export function nowParam(ctx: StoreContext): string {
  return new Date(ctx.now()).toISOString();
}

/**
 * The schema at the latest stored revision, compiled once per schema revision. Called inside a
 * write transaction after the revision lock, so no schema write can slip in between.
 */
export async function currentSchema(
  ctx: StoreContext,
  client: pg.ClientBase,
): Promise<{ readonly revision: Revision; readonly schema: CompiledSchema } | undefined> {
  const rows = await runRows(client, ctx.sql.latestSchema, [ctx.compiled?.revision ?? -1n]);
  const row = rows[0];
  if (row === undefined) return undefined;
  const revision = BigInt(row[0] as string);
  if (ctx.compiled !== undefined && ctx.compiled.revision === revision) return ctx.compiled;
  const compiled = { revision, schema: compileSchema(row[1] as string) };
  ctx.compiled = compiled;
  return compiled;
}

export async function requireSchema(ctx: StoreContext, client: pg.ClientBase): Promise<CompiledSchema> {
  const current = await currentSchema(ctx, client);
  if (current === undefined) throw noSchema();
  return current.schema;
}

export function noSchema(): StoreError {
  return new StoreError(
    "schema/missing",
    "failed-precondition",
    "no schema has been written to this store yet: relationships are validated against it. Write a schema first.",
  );
}
