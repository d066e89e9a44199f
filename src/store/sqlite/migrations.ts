/**
 * Versioned migrations, applied in order on open inside one IMMEDIATE transaction, so two
 * processes opening a new file at once cannot both apply them. A file migrated by a newer Latch
 * (a version we do not know) is refused rather than written to.
 */
import type Database from "better-sqlite3";
import { StoreError } from "../errors.js";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Live rows carry deleted_rev = MAX_REVISION. */
export const MAX_REVISION = 9223372036854775807n;

/** The reverse-path index; the bulk loader drops and rebuilds it (see bulk-load.ts). */
export const REVERSE_INDEX_DDL =
  "CREATE INDEX relationships_reverse ON relationships (subject_type, subject_id, subject_relation, resource_type, relation)";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "relationships, revisions, changes, schemas",
    sql: `
      CREATE TABLE store_meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE revisions (
        revision INTEGER PRIMARY KEY,
        committed_at INTEGER NOT NULL
      );

      -- MVCC rows: a row is visible at revision R when created_rev <= R < deleted_rev. A TOUCH
      -- closes the old row and opens a new one, so reads pinned to an old revision keep seeing
      -- the old caveat. Clustered on the forward key (WITHOUT ROWID) so the engine's forward
      -- lookup reads each object's relationships from one contiguous range with no second lookup.
      CREATE TABLE relationships (
        resource_type TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        relation TEXT NOT NULL,
        subject_type TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        subject_relation TEXT NOT NULL,
        deleted_rev INTEGER NOT NULL,
        created_rev INTEGER NOT NULL,
        caveat_name TEXT,
        caveat_context TEXT,
        expiration INTEGER,
        PRIMARY KEY (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, deleted_rev)
      ) WITHOUT ROWID;

      ${REVERSE_INDEX_DDL};

      CREATE INDEX relationships_expiration
        ON relationships (expiration) WHERE expiration IS NOT NULL;

      -- The changes feed: appended in (revision, seq) order, read by range.
      CREATE TABLE changes (
        revision INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        operation INTEGER NOT NULL, -- 1 touch, 2 delete
        resource_type TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        relation TEXT NOT NULL,
        subject_type TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        subject_relation TEXT NOT NULL,
        caveat_name TEXT,
        caveat_context TEXT,
        expiration INTEGER,
        PRIMARY KEY (revision, seq)
      ) WITHOUT ROWID;

      -- Schema history: every schema ever written, at its revision.
      CREATE TABLE schemas (
        revision INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        hash TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "decision log",
    sql: `
      -- The decision audit trail: a hash chain (store/decision-log.ts). body is the record's
      -- canonical JSON, hashed as stored; at and subject are indexed copies of its fields.
      CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX decisions_at ON decisions (at);
      CREATE INDEX decisions_subject ON decisions (subject, seq);
      CREATE TABLE decision_checkpoints (
        seq INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        mac TEXT NOT NULL,
        at INTEGER NOT NULL
      );
      -- The chain's signed end and floor (where pruning last cut); one row once anything was appended.
      CREATE TABLE decision_head (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        floor INTEGER NOT NULL,
        mac TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: "transaction metadata",
    sql: `
      -- A write's metadata (SpiceDB's optional_transaction_metadata), JSON; null for most writes.
      ALTER TABLE revisions ADD COLUMN metadata TEXT;
    `,
  },
  {
    version: 4,
    name: "approvals",
    sql: `
      -- The approval rules file, versioned beside the schema (src/approvals).
      CREATE TABLE approval_rules (
        version INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        written_at INTEGER NOT NULL
      );
      -- Approval requests (store/approval-store.ts). action_key is the canonical resource,
      -- permission, subject and chain: the gate and the dedupe look requests up by it.
      CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        rule_id TEXT NOT NULL,
        action_key TEXT NOT NULL,
        resource TEXT NOT NULL,
        permission TEXT NOT NULL,
        subject TEXT NOT NULL,
        chain TEXT NOT NULL,
        state TEXT NOT NULL,
        message TEXT NOT NULL,
        justification TEXT NOT NULL,
        context TEXT NOT NULL,
        single_use INTEGER NOT NULL,
        valid_for_ms INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        decided_by TEXT,
        decided_at INTEGER,
        reason TEXT,
        valid_until INTEGER,
        consumed_at INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX approvals_action ON approvals (action_key, state);
      CREATE INDEX approvals_resource ON approvals (resource, permission, created_at);
      CREATE INDEX approvals_subject ON approvals (subject, created_at);
      CREATE INDEX approvals_state ON approvals (state, created_at);
    `,
  },
  {
    version: 5,
    name: "approvals across processes",
    sql: `
      -- The witness of the agent's permission when it asked (formatted relationships, JSON).
      ALTER TABLE approvals ADD COLUMN witness TEXT NOT NULL DEFAULT '[]';
      -- The approvals feed: each request and decision takes max(seq) + 1 under the write lock,
      -- so another process on the file reads the changes with seq > its cursor.
      ALTER TABLE approvals ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX approvals_seq ON approvals (seq);
      -- CIBA's poll clock, shared by every process: the last poll and the interval owed.
      ALTER TABLE approvals ADD COLUMN polled_at INTEGER;
      ALTER TABLE approvals ADD COLUMN poll_interval_ms INTEGER;
    `,
  },
  {
    version: 6,
    name: "signals",
    sql: `
      -- Security signals (store/signal-store.ts): each row is a subject's whole state after a
      -- change, at the revision of the write that made it; the state at R is the newest row <= R.
      CREATE TABLE subject_states (
        subject TEXT NOT NULL,
        revision INTEGER NOT NULL,
        suspended INTEGER NOT NULL,
        reason TEXT NOT NULL,
        attributes TEXT NOT NULL,
        PRIMARY KEY (subject, revision)
      ) WITHOUT ROWID;
      CREATE INDEX subject_states_revision ON subject_states (revision);
      -- Received Security Event Tokens; the key refuses a replayed jti.
      CREATE TABLE signals (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        via TEXT NOT NULL,
        events TEXT NOT NULL,
        effects TEXT NOT NULL,
        revision INTEGER NOT NULL,
        PRIMARY KEY (issuer, jti)
      ) WITHOUT ROWID;
      CREATE INDEX signals_received ON signals (received_at);
    `,
  },
  {
    version: 7,
    name: "posture reports",
    sql: `
      -- Kept posture reports (src/posture): the JSON of each with the revision it was computed
      -- at, so that a later report finds the previous one to compute drift against.
      CREATE TABLE posture_reports (
        id INTEGER PRIMARY KEY,
        revision INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX posture_reports_revision ON posture_reports (revision, id);
    `,
  },
  {
    version: 8,
    name: "decision log without the subject index",
    sql: `
      -- No query used it (QueryDecisions by subject also matches onBehalfOf inside the body, an OR
      -- no index serves), yet every append wrote into it where its subject sorts: a page of it per
      -- record in a batch, written to the WAL and checkpointed back, the writer's largest cost.
      DROP INDEX IF EXISTS decisions_subject;
    `,
  },
];

export function applyMigrations(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  // The set applied, not only the highest: migrations merged from parallel branches may number
  // past one that a database has not run yet (a file at 7 still needs a 5 added later).
  const applied = new Set(
    (db.prepare("SELECT version FROM migrations").all() as { version: number }[]).map((r) => r.version),
  );
  const row = { v: Math.max(0, ...applied) };
  const known = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);
  if (row.v > known) {
    throw new StoreError(
      "store/newer-version",
      "failed-precondition",
      `this database was migrated to version ${row.v} by a newer Latch; this one knows up to ${known}. Upgrade Latch to open it.`,
    );
  }
  const record = db.prepare("INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)");
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    db.exec(migration.sql);
    record.run(migration.version, migration.name, new Date().toISOString());
  }
}
