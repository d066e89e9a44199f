/**
 * The SQL of the hot paths, written once per store with the PG schema name baked in and run as
 * named (server-side prepared) statements: each connection parses and plans them once.
 */
import { LIVE_REVISION } from "./migrations.js";
import { COLUMNS } from "./rows.js";

export interface Statement {
  readonly name: string;
  readonly text: string;
}

export interface Statements {
  readonly currentRevision: Statement;
  readonly lockRevision: Statement;
  readonly latestSchema: Statement;
  readonly forward: Statement;
  readonly reverse: Statement;
  readonly closeRows: Statement;
  readonly insertRows: Statement;
  readonly changes: Statement;
  readonly schemaChanges: Statement;
  readonly sweep: Statement;
}

const LIVE = LIVE_REVISION.toString();

/** Arrays of the `Columns` shape, in the order of `columnValues`, starting at parameter `$from`. */
function unnestColumns(from: number): string {
  const types = ["text", "text", "text", "text", "text", "text", "text", "jsonb", "timestamptz", "int4"];
  return types.map((t, i) => `$${from + i}::${t}[]`).join(", ");
}

export function buildStatements(q: string): Statements {
  const rels = `${q}.relationships`;
  const visibleR =
    "r.created_rev <= $1 AND r.deleted_rev > $1 AND (r.expires_at IS NULL OR r.expires_at > $2)";
  return {
    currentRevision: { name: "latch_current_revision", text: `SELECT revision FROM ${q}.revision_counter` },
    // Taking the row lock here serializes writers until COMMIT: see revisions in store.ts.
    lockRevision: {
      name: "latch_lock_revision",
      text: `UPDATE ${q}.revision_counter SET revision = revision + 1 RETURNING revision`,
    },
    latestSchema: {
      name: "latch_latest_schema",
      text: `SELECT revision, CASE WHEN revision = $1 THEN NULL ELSE text END FROM ${q}.schemas
             ORDER BY revision DESC LIMIT 1`,
    },
    // A join with the id list rather than `resource_id = ANY(...)`: PostgreSQL then descends the
    // index once per id and reads that object's rows in order, instead of once per (id, relation)
    // pair (measured: 40% fewer buffer reads and faster for 100 ids x 3 relations). Ids are
    // deduplicated by the caller, so the join repeats no row.
    forward: {
      name: "latch_forward",
      text: `SELECT ${COLUMNS.replace(/(\w+)/g, "r.$1")}
             FROM unnest($4::text[]) AS ids(id)
             JOIN ${rels} r ON r.resource_type = $3 AND r.resource_id = ids.id
             WHERE r.relation = ANY($5::text[])
               AND ($6::text IS NULL OR r.subject_type = $6)
               AND ($7::text IS NULL OR r.subject_relation = $7)
               AND ($8::text[] IS NULL OR r.subject_id = ANY($8::text[]))
               AND ${visibleR}`,
    },
    reverse: {
      name: "latch_reverse",
      text: `SELECT ${COLUMNS.replace(/(\w+)/g, "r.$1")}
             FROM unnest($4::text[]) AS ids(id)
             JOIN ${rels} r ON r.subject_type = $3 AND r.subject_id = ids.id AND r.subject_relation = $5
               AND r.resource_type = $6
             WHERE r.relation = ANY($7::text[]) AND ${visibleR}`,
    },
    // Closes the live row of each key at revision $1. Deletes leave expired rows to the sweep;
    // creates and touches close them so the new row can take the live slot. Returns, per closed
    // row, the update's position and whether the row was still visible (a CREATE conflict).
    closeRows: {
      name: "latch_close_rows",
      text: `UPDATE ${rels} AS r SET deleted_rev = $1, deleted_seq = u.seq
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[], $10::bool[])
               AS u(resource_type, resource_id, relation, subject_type, subject_id, subject_relation, seq, is_delete)
             WHERE r.resource_type = u.resource_type AND r.resource_id = u.resource_id AND r.relation = u.relation
               AND r.subject_type = u.subject_type AND r.subject_id = u.subject_id
               AND r.subject_relation = u.subject_relation AND r.deleted_rev = ${LIVE}
               AND (NOT u.is_delete OR r.expires_at IS NULL OR r.expires_at > $2)
             RETURNING u.seq, (r.expires_at IS NULL OR r.expires_at > $2)`,
    },
    insertRows: {
      name: "latch_insert_rows",
      text: `INSERT INTO ${rels} (resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
               caveat_name, caveat_context, expires_at, created_seq, created_rev)
             SELECT *, $1::bigint FROM unnest(${unnestColumns(2)})`,
    },
    // Touches are rows created after $1; deletes are rows closed after $1 that no row created at
    // the same revision replaced (a replaced row is the old half of a TOUCH, not a delete).
    changes: {
      name: "latch_changes",
      text: `SELECT * FROM (
               SELECT 1 AS op, created_rev AS rev, created_seq AS seq, ${COLUMNS} FROM ${rels}
                 WHERE created_rev > $1 AND created_rev <= $2
               UNION ALL
               SELECT 2, d.deleted_rev, d.deleted_seq, ${COLUMNS.replace(/(\w+)/g, "d.$1")} FROM ${rels} d
                 WHERE d.deleted_rev > $1 AND d.deleted_rev <= $2 AND d.deleted_rev <> ${LIVE}
                   AND NOT EXISTS (SELECT 1 FROM ${rels} t
                     WHERE t.resource_type = d.resource_type AND t.resource_id = d.resource_id
                       AND t.relation = d.relation AND t.subject_type = d.subject_type
                       AND t.subject_id = d.subject_id AND t.subject_relation = d.subject_relation
                       AND t.created_rev = d.deleted_rev)
             ) c
             ORDER BY rev, seq, op, resource_type, resource_id, relation, subject_type, subject_id, subject_relation
             LIMIT $3`,
    },
    schemaChanges: {
      name: "latch_schema_changes",
      text: `SELECT revision, text FROM ${q}.schemas WHERE revision > $1 AND revision <= $2 ORDER BY revision`,
    },
    // Several replicas may sweep at once: SKIP LOCKED hands each a disjoint batch, and rows a
    // writer holds are left for the next round. Expired rows are invisible at every revision, so
    // removing them (history included) changes no read.
    sweep: {
      name: "latch_sweep",
      text: `WITH doomed AS (
               SELECT ctid FROM ${rels} WHERE expires_at IS NOT NULL AND expires_at <= $1
               LIMIT $2 FOR UPDATE SKIP LOCKED)
             DELETE FROM ${rels} r USING doomed WHERE r.ctid = doomed.ctid`,
    },
  };
}
