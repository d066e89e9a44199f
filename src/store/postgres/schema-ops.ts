/** Schema history and the changes feed. */
import type { Revision } from "../../core/index.js";
import { compileSchema } from "../../schema/index.js";
import {
  type Change,
  type ChangesPage,
  findOrphans,
  type ShapeCount,
  type StoredSchema,
  type WriteSchemaOptions,
  wouldOrphanError,
} from "../index.js";
import { nowParam, runRows, type StoreContext } from "./context.js";
import { LIVE_REVISION } from "./migrations.js";
import { checkedRevision, currentRevision, readClient, readClientAt } from "./read.js";
import { fromRow } from "./rows.js";
import { writeTransaction } from "./transaction.js";

export async function readSchema(ctx: StoreContext, revision: Revision): Promise<StoredSchema | undefined> {
  return readClientAt(ctx, revision, async (client) => {
    const at = await checkedRevision(ctx, client, revision);
    const rows = await client.query<unknown[]>({
      text: `SELECT text, revision FROM ${ctx.q}.schemas WHERE revision <= $1 ORDER BY revision DESC LIMIT 1`,
      values: [at],
      rowMode: "array",
    });
    const row = rows.rows[0];
    return row === undefined ? undefined : { text: row[0] as string, revision: BigInt(row[1] as string) };
  });
}

export async function writeSchema(
  ctx: StoreContext,
  text: string,
  options: WriteSchemaOptions = {},
): Promise<Revision> {
  // Compiling first keeps the revision lock free while a bad schema is reported.
  const schema = compileSchema(text);
  const { revision } = await writeTransaction(ctx, async (client, revision) => {
    if (options.validateRules !== undefined) {
      // SHARE conflicts with the EXCLUSIVE lock a rules write takes (approvals.ts): a rules write
      // in flight commits first and is read here; one arriving later waits for this COMMIT and
      // then validates against this schema.
      await client.query(`LOCK TABLE ${ctx.q}.approval_rules IN SHARE MODE`);
      const rules = await client.query<unknown[]>({
        text: `SELECT version, text, written_at FROM ${ctx.q}.approval_rules ORDER BY version DESC LIMIT 1`,
        rowMode: "array",
      });
      const row = rules.rows[0];
      options.validateRules(
        row === undefined
          ? undefined
          : { version: Number(row[0]), text: String(row[1]), writtenAt: Number(row[2]) },
        schema,
      );
    }
    const rows = await client.query<unknown[]>({
      text: `SELECT resource_type, relation, subject_type, subject_relation, subject_id = '*', caveat_name,
                    expires_at IS NOT NULL, count(*)
               FROM ${ctx.q}.relationships
              WHERE deleted_rev = ${LIVE_REVISION} AND (expires_at IS NULL OR expires_at > $1)
              GROUP BY 1, 2, 3, 4, 5, 6, 7`,
      values: [nowParam(ctx)],
      rowMode: "array",
    });
    const shapes: ShapeCount[] = rows.rows.map((r) => ({
      resourceType: r[0] as string,
      relation: r[1] as string,
      subjectType: r[2] as string,
      subjectRelation: r[3] === "" ? undefined : (r[3] as string),
      wildcard: r[4] as boolean,
      caveatName: r[5] === "" ? undefined : (r[5] as string),
      hasExpiration: r[6] as boolean,
      count: Number(r[7]),
    }));
    const orphans = findOrphans(schema, shapes);
    if (orphans.length > 0) throw wouldOrphanError(orphans);
    await client.query(`INSERT INTO ${ctx.q}.schemas (revision, text) VALUES ($1, $2)`, [revision, text]);
  });
  ctx.compiled = { revision, schema };
  return revision;
}

/**
 * Changes after `after`, whole revisions at a time: a page never ends inside a revision (the
 * caller resumes from a revision, not from a position within one), so a revision with more
 * changes than `limit` comes back complete in a page of its own.
 */
export async function changesSince(ctx: StoreContext, after: Revision, limit = 1_000): Promise<ChangesPage> {
  return readClient(ctx, async (client) => {
    const upto = await currentRevision(ctx, client);
    if (after >= upto) return { changes: [], schemaChanges: [], revision: after > upto ? after : upto };
    let rows = await runRows(client, ctx.sql.changes, [after, upto, limit + 1]);
    let reached = upto;
    if (rows.length > limit) {
      const lastRevision = BigInt(rows[limit - 1]?.[1] as string);
      const firstRevision = BigInt(rows[0]?.[1] as string);
      if (firstRevision === lastRevision) {
        // One revision fills the page: return all of it.
        rows = await runRows(client, ctx.sql.changes, [after, firstRevision, null]);
        reached = firstRevision;
      } else {
        // Drop the revision the limit cut through; the next page starts with it.
        reached = BigInt(rows[limit]?.[1] as string) - 1n;
        rows = rows.filter((row) => BigInt(row[1] as string) <= reached);
      }
    }
    const changes: Change[] = rows.map((row) => ({
      revision: BigInt(row[1] as string),
      operation: row[0] === 1 ? "touch" : "delete",
      relationship: fromRow(row, 3),
    }));
    const schemaRows = await runRows(client, ctx.sql.schemaChanges, [after, reached]);
    const schemaChanges = schemaRows.map((row) => ({
      revision: BigInt(row[0] as string),
      schemaText: row[1] as string,
    }));
    const metadataRows = await client.query<{ revision: string; metadata: Record<string, unknown> }>(
      `SELECT revision::text AS revision, metadata FROM ${ctx.q}.transactions
        WHERE revision > $1 AND revision <= $2 AND metadata IS NOT NULL ORDER BY revision`,
      [after, reached],
    );
    const metadata = metadataRows.rows.map((row) => ({
      revision: BigInt(row.revision),
      metadata: row.metadata,
    }));
    return { changes, schemaChanges, revision: reached, ...(metadata.length > 0 ? { metadata } : {}) };
  });
}

export async function sweepExpired(ctx: StoreContext, limit = 1_000): Promise<number> {
  return readClient(ctx, async (client) => {
    const result = await client.query({
      name: ctx.sql.sweep.name,
      text: ctx.sql.sweep.text,
      values: [nowParam(ctx), limit],
    });
    return result.rowCount ?? 0;
  });
}
