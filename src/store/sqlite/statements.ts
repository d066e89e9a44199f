/** Every fixed statement of the SQLite store, prepared once per connection. */
import type Database from "better-sqlite3";
import { MAX_REVISION } from "./migrations.js";
import { REL_COLUMNS } from "./rows.js";

type Stmt = Database.Statement<unknown[], unknown>;

const IDENTITY =
  "resource_type = ? AND resource_id = ? AND relation = ? AND subject_type = ? AND subject_id = ? AND subject_relation = ?";
const LIVE = `deleted_rev = ${MAX_REVISION}`;
const REL_INSERT_COLUMNS =
  "resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev, caveat_name, caveat_context, expiration, deleted_rev";

const REL_ROW = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ${MAX_REVISION})`;
const CHANGE_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/** Rows per multi-row INSERT into the changes feed: beyond a few dozen the gain per statement is nil. */
export const CHANGES_PER_INSERT = 64;
/** The newest committed revision (0 before the first). */
export const NEWEST_REVISION_SQL = "SELECT coalesce(max(revision), 0) FROM revisions";

export interface Statements {
  readonly currentRevision: Stmt;
  readonly insertRevision: Stmt;
  readonly setRevisionMetadata: Stmt;
  readonly metadataRange: Stmt;
  readonly latestSchemaRevision: Stmt;
  readonly latestSchema: Stmt;
  readonly schemaAt: Stmt;
  readonly insertSchema: Stmt;
  readonly selectLive: Stmt;
  readonly closeLive: Stmt;
  readonly updateLiveInPlace: Stmt;
  readonly insertRelationship: Stmt;
  readonly insertChange: Stmt;
  /** `CHANGES_PER_INSERT` change rows in one statement (imports). */
  readonly insertChanges: Stmt;
  readonly changesRange: Stmt;
  readonly changesOfRevision: Stmt;
  /** A slice of one revision's changes from a `seq` on, with each row's `seq` first. */
  readonly changesSlice: Stmt;
  /** The first revision after `?` with relationship changes. */
  readonly nextChangedRevision: Stmt;
  readonly schemaChanges: Stmt;
  readonly liveShapes: Stmt;
  readonly sweep: Stmt;
  readonly exportPage: Stmt;
  readonly exportFirstPage: Stmt;
}

/**
 * Statements built from SQL text at run time (filters), each prepared once per connection; a read
 * returns its rows as arrays, as every reader here expects.
 */
export function statementCache(db: Database.Database): (sql: string) => Stmt {
  const prepared = new Map<string, Stmt>();
  return (sql) => {
    let stmt = prepared.get(sql);
    if (stmt === undefined) {
      stmt = db.prepare(sql);
      if (stmt.reader) stmt.raw();
      prepared.set(sql, stmt);
    }
    return stmt;
  };
}

export function prepareStatements(db: Database.Database): Statements {
  const changeColumns = `CAST(revision AS TEXT), operation, ${REL_COLUMNS}`;
  return {
    currentRevision: db.prepare(NEWEST_REVISION_SQL).pluck(),
    insertRevision: db.prepare("INSERT INTO revisions (revision, committed_at) VALUES (?, ?)"),
    setRevisionMetadata: db.prepare("UPDATE revisions SET metadata = ? WHERE revision = ?"),
    metadataRange: db
      .prepare(
        "SELECT revision, metadata FROM revisions WHERE revision > ? AND revision <= ? AND metadata IS NOT NULL ORDER BY revision",
      )
      .raw(),
    latestSchemaRevision: db.prepare("SELECT revision FROM schemas ORDER BY revision DESC LIMIT 1").pluck(),
    latestSchema: db.prepare("SELECT text, revision FROM schemas ORDER BY revision DESC LIMIT 1").raw(),
    schemaAt: db
      .prepare("SELECT text, revision FROM schemas WHERE revision <= ? ORDER BY revision DESC LIMIT 1")
      .raw(),
    insertSchema: db.prepare("INSERT INTO schemas (revision, text, hash) VALUES (?, ?, ?)"),
    selectLive: db
      .prepare(
        `SELECT created_rev, caveat_name, caveat_context, expiration FROM relationships WHERE ${IDENTITY} AND ${LIVE}`,
      )
      .raw(),
    closeLive: db.prepare(`UPDATE relationships SET deleted_rev = ? WHERE ${IDENTITY} AND ${LIVE}`),
    updateLiveInPlace: db.prepare(
      `UPDATE relationships SET caveat_name = ?, caveat_context = ?, expiration = ? WHERE ${IDENTITY} AND ${LIVE}`,
    ),
    insertRelationship: db.prepare(`INSERT INTO relationships (${REL_INSERT_COLUMNS}) VALUES ${REL_ROW}`),
    insertChange: db.prepare(`INSERT INTO changes VALUES ${CHANGE_ROW}`),
    insertChanges: db.prepare(
      `INSERT INTO changes VALUES ${Array(CHANGES_PER_INSERT).fill(CHANGE_ROW).join(", ")}`,
    ),
    changesRange: db
      .prepare(
        `SELECT ${changeColumns} FROM changes WHERE revision > ? AND revision <= ? ORDER BY revision, seq LIMIT ?`,
      )
      .raw(),
    changesOfRevision: db
      .prepare(`SELECT ${changeColumns} FROM changes WHERE revision = ? ORDER BY seq`)
      .raw(),
    changesSlice: db
      .prepare(
        `SELECT seq, ${changeColumns} FROM changes WHERE revision = ? AND seq >= ? ORDER BY seq LIMIT ?`,
      )
      .raw(),
    nextChangedRevision: db
      .prepare("SELECT revision FROM changes WHERE revision > ? ORDER BY revision, seq LIMIT 1")
      .pluck(),
    schemaChanges: db
      .prepare("SELECT revision, text FROM schemas WHERE revision > ? AND revision <= ? ORDER BY revision")
      .raw(),
    liveShapes: db
      .prepare(
        `SELECT resource_type, relation, subject_type, subject_relation, subject_id = '*', caveat_name,
                expiration IS NOT NULL, count(*)
           FROM relationships
          WHERE ${LIVE} AND (expiration IS NULL OR expiration > ?)
          GROUP BY 1, 2, 3, 4, 5, 6, 7`,
      )
      .raw(),
    sweep: db.prepare(
      `DELETE FROM relationships
        WHERE (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, deleted_rev) IN (
          SELECT resource_type, resource_id, relation, subject_type, subject_id, subject_relation, deleted_rev
            FROM relationships WHERE expiration IS NOT NULL AND expiration <= ? LIMIT ?)`,
    ),
    exportPage: db
      .prepare(
        `SELECT ${REL_COLUMNS} FROM relationships
          WHERE (resource_type, resource_id, relation, subject_type, subject_id, subject_relation) > (?, ?, ?, ?, ?, ?)
            AND created_rev <= ? AND deleted_rev > ? AND (expiration IS NULL OR expiration > ?)
          ORDER BY resource_type, resource_id, relation, subject_type, subject_id, subject_relation LIMIT ?`,
      )
      .raw(),
    exportFirstPage: db
      .prepare(
        `SELECT ${REL_COLUMNS} FROM relationships
          WHERE created_rev <= ? AND deleted_rev > ? AND (expiration IS NULL OR expiration > ?)
          ORDER BY resource_type, resource_id, relation, subject_type, subject_id, subject_relation LIMIT ?`,
      )
      .raw(),
  };
}
