/**
 * Versioned migrations for the PostgreSQL datastore. Every replica runs them on start (and
 * `latch migrate` runs them ahead of a deploy); a transaction-scoped advisory lock keyed on the
 * PG schema name makes concurrent starts queue up instead of racing on `CREATE SCHEMA` or on a
 * half-applied version. PostgreSQL DDL is transactional, so a failed migration leaves nothing.
 */
import type pg from "pg";
import { StoreError } from "../errors.js";
import { quoteIdent } from "./sql-names.js";

/** Lock class for `pg_advisory_xact_lock(int, int)`: an arbitrary constant that marks "Latch migrations". */
const MIGRATION_LOCK_CLASS = 0x4c61_7463; // "Latc"

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements with `{schema}` standing for the quoted PG schema name. */
  readonly statements: readonly string[];
}

/** Upper bound of `deleted_rev`: a live row. Kept in SQL as a literal so partial indexes match. */
export const LIVE_REVISION = 9223372036854775807n;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    statements: [
      // Key/value facts shared by every replica: the store identity and the token secret.
      `CREATE TABLE {schema}.metadata (key text PRIMARY KEY, value text NOT NULL)`,
      `INSERT INTO {schema}.metadata (key, value) VALUES
         ('store_id', gen_random_uuid()::text),
         ('token_secret', encode(sha256(gen_random_uuid()::text::bytea || clock_timestamp()::text::bytea), 'hex'))`,
      // One row whose lock serializes writers; see revisions.ts for why.
      `CREATE TABLE {schema}.revision_counter (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         revision bigint NOT NULL)`,
      `INSERT INTO {schema}.revision_counter (revision) VALUES (0)`,
      `CREATE TABLE {schema}.transactions (
         revision bigint PRIMARY KEY,
         committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
      `CREATE TABLE {schema}.schemas (
         revision bigint PRIMARY KEY,
         text text NOT NULL)`,
      // MVCC rows: visible at revision R when created_rev <= R < deleted_rev. The *_seq columns
      // keep the order of updates inside one transaction for the changes feed. COLLATE "C" gives
      // byte order, the same as SQLite, and lets LIKE 'prefix%' use the btree.
      `CREATE TABLE {schema}.relationships (
         resource_type text COLLATE "C" NOT NULL,
         resource_id text COLLATE "C" NOT NULL,
         relation text COLLATE "C" NOT NULL,
         subject_type text COLLATE "C" NOT NULL,
         subject_id text COLLATE "C" NOT NULL,
         subject_relation text COLLATE "C" NOT NULL DEFAULT '',
         caveat_name text COLLATE "C" NOT NULL DEFAULT '',
         caveat_context jsonb,
         expires_at timestamptz,
         created_rev bigint NOT NULL,
         created_seq integer NOT NULL DEFAULT 0,
         deleted_rev bigint NOT NULL DEFAULT ${LIVE_REVISION},
         deleted_seq integer NOT NULL DEFAULT 0)`,
      // Forward path, ordered reads and the live-key constraint in one index: live rows all carry
      // deleted_rev = LIVE_REVISION, so uniqueness over (key, deleted_rev) allows one live row per
      // relationship while keeping its history (a key is deleted at most once per revision).
      `CREATE UNIQUE INDEX relationships_forward ON {schema}.relationships
         (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, deleted_rev)`,
      `CREATE INDEX relationships_reverse ON {schema}.relationships
         (subject_type, subject_id, subject_relation, resource_type, relation)`,
      // Rows arrive in revision order, so a BRIN range index serves the changes feed at almost no
      // cost to imports.
      `CREATE INDEX relationships_created ON {schema}.relationships USING brin (created_rev)`,
      `CREATE INDEX relationships_deleted ON {schema}.relationships (deleted_rev)
         WHERE deleted_rev <> ${LIVE_REVISION}`,
      `CREATE INDEX relationships_expiring ON {schema}.relationships (expires_at)
         WHERE expires_at IS NOT NULL`,
    ],
  },
  {
    version: 2,
    name: "decision log",
    statements: [
      // The decision audit trail, a hash chain (store/decision-log.ts). body is the record's
      // canonical JSON as hashed (text, not jsonb, which would reorder it); at and subject are
      // indexed copies of its fields.
      `CREATE TABLE {schema}.decisions (
         seq bigint PRIMARY KEY,
         at bigint NOT NULL,
         subject text COLLATE "C" NOT NULL,
         body text NOT NULL,
         prev_hash text NOT NULL,
         hash text NOT NULL)`,
      `CREATE INDEX decisions_at ON {schema}.decisions (at)`,
      `CREATE INDEX decisions_subject ON {schema}.decisions (subject, seq)`,
      `CREATE TABLE {schema}.decision_checkpoints (
         seq bigint PRIMARY KEY,
         hash text NOT NULL,
         mac text NOT NULL,
         at bigint NOT NULL)`,
      // The chain's signed end and floor (where pruning last cut). Its row lock serializes appenders on every replica, apart from
      // the revision counter, so auditing never waits for relationship writes.
      `CREATE TABLE {schema}.decision_head (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         seq bigint NOT NULL,
         hash text NOT NULL,
         floor bigint NOT NULL,
         mac text NOT NULL)`,
      `INSERT INTO {schema}.decision_head (seq, hash, floor, mac) VALUES (0, '${"0".repeat(64)}', 0, '')`,
    ],
  },
  {
    version: 3,
    name: "transaction metadata",
    // A write's metadata (SpiceDB's optional_transaction_metadata); null for most writes.
    statements: ["ALTER TABLE {schema}.transactions ADD COLUMN metadata jsonb"],
  },
  {
    version: 4,
    name: "approvals",
    statements: [
      // The approval rules file, versioned beside the schema (src/approvals).
      `CREATE TABLE {schema}.approval_rules (
         version integer PRIMARY KEY,
         text text NOT NULL,
         written_at bigint NOT NULL)`,
      // Approval requests (store/approval-store.ts); action_key is the canonical resource,
      // permission, subject and chain that the gate and the dedupe look up.
      `CREATE TABLE {schema}.approvals (
         id text PRIMARY KEY,
         rule_id text NOT NULL,
         action_key text COLLATE "C" NOT NULL,
         resource text COLLATE "C" NOT NULL,
         permission text NOT NULL,
         subject text COLLATE "C" NOT NULL,
         chain text NOT NULL,
         state text NOT NULL,
         message text NOT NULL,
         justification text NOT NULL,
         context text NOT NULL,
         single_use boolean NOT NULL,
         valid_for_ms bigint NOT NULL,
         created_at bigint NOT NULL,
         expires_at bigint NOT NULL,
         decided_by text,
         decided_at bigint,
         reason text,
         valid_until bigint,
         consumed_at bigint)`,
      `CREATE INDEX approvals_action ON {schema}.approvals (action_key, state)`,
      `CREATE INDEX approvals_resource ON {schema}.approvals (resource, permission, created_at)`,
      `CREATE INDEX approvals_subject ON {schema}.approvals (subject, created_at)`,
      `CREATE INDEX approvals_state ON {schema}.approvals (state, created_at)`,
    ],
  },
  {
    version: 5,
    name: "approvals across replicas",
    statements: [
      // The witness of the agent's permission when it asked (formatted relationships, JSON).
      "ALTER TABLE {schema}.approvals ADD COLUMN witness text NOT NULL DEFAULT '[]'",
      // The approvals feed: each request and decision takes the next number from one counter
      // row, whose lock (held to COMMIT) makes the numbers commit in order, so a replica reading
      // `seq > cursor` never skips one that commits later (store/postgres/approvals.ts).
      "ALTER TABLE {schema}.approvals ADD COLUMN seq bigint NOT NULL DEFAULT 0",
      `CREATE TABLE {schema}.approval_seq (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         seq bigint NOT NULL)`,
      "INSERT INTO {schema}.approval_seq (seq) VALUES (0)",
      "CREATE INDEX approvals_seq ON {schema}.approvals (seq)",
      // CIBA's poll clock, shared by every replica: the last poll and the interval owed.
      "ALTER TABLE {schema}.approvals ADD COLUMN polled_at bigint",
      "ALTER TABLE {schema}.approvals ADD COLUMN poll_interval_ms bigint",
    ],
  },
  {
    version: 6,
    name: "signals",
    statements: [
      // Security signals (store/signal-store.ts): each row is a subject's whole state after a
      // change, at the revision of the write that made it; the state at R is the newest row <= R.
      `CREATE TABLE {schema}.subject_states (
         subject text COLLATE "C" NOT NULL,
         revision bigint NOT NULL,
         suspended boolean NOT NULL,
         reason text NOT NULL,
         attributes text NOT NULL,
         PRIMARY KEY (subject, revision))`,
      `CREATE INDEX subject_states_revision ON {schema}.subject_states (revision)`,
      // Received Security Event Tokens; the key refuses a replayed jti on every replica.
      `CREATE TABLE {schema}.signals (
         issuer text COLLATE "C" NOT NULL,
         jti text COLLATE "C" NOT NULL,
         received_at bigint NOT NULL,
         via text NOT NULL,
         events text NOT NULL,
         effects text NOT NULL,
         revision bigint NOT NULL,
         PRIMARY KEY (issuer, jti))`,
      `CREATE INDEX signals_received ON {schema}.signals (received_at)`,
    ],
  },
  {
    version: 7,
    name: "posture reports",
    statements: [
      // Kept posture reports (src/posture): each report's JSON with the revision it was computed
      // at, so that a later report finds the previous one to compute drift against.
      `CREATE TABLE {schema}.posture_reports (
         id bigserial PRIMARY KEY,
         revision bigint NOT NULL,
         created_at bigint NOT NULL,
         body text NOT NULL)`,
      `CREATE INDEX posture_reports_revision ON {schema}.posture_reports (revision, id)`,
    ],
  },
  {
    version: 8,
    name: "decision log without the subject index",
    statements: [
      // As SQLite's migration 8: no query used it (QueryDecisions by subject also matches
      // onBehalfOf inside the body, an OR no btree serves) and every append wrote into it.
      `DROP INDEX IF EXISTS {schema}.decisions_subject`,
    ],
  },
];

/** How long a migration waits for a table lock. */
const MIGRATION_LOCK_TIMEOUT = "5s";

export const LATEST_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/**
 * Applies the missing migrations in one transaction under the advisory lock. Returns the
 * versions applied (empty when already current). Refuses a database migrated by a newer Latch.
 */
export async function applyMigrations(client: pg.ClientBase, schema: string): Promise<number[]> {
  const q = quoteIdent(schema);
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [MIGRATION_LOCK_CLASS, schema]);
    // After the advisory lock (waiting for another replica's migrations is fine): a migration that
    // waits for a table's lock (a DROP INDEX behind a long export) queues every later reader and
    // writer of that table behind it, a stalled audit trail, in sync mode every Check. Better a
    // start that fails with the lock's timeout, to be tried again.
    await client.query(`SET LOCAL lock_timeout = '${MIGRATION_LOCK_TIMEOUT}'`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${q}.latch_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query<{ version: number }>(`SELECT version FROM ${q}.latch_migrations`);
    const applied = new Set(done.rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > LATEST_VERSION) {
      throw new StoreError(
        "store/newer-version",
        "failed-precondition",
        `the database schema ${schema} is at migration ${newest}, newer than this Latch (${LATEST_VERSION}); upgrade Latch`,
        { schema, databaseVersion: newest, codeVersion: LATEST_VERSION },
      );
    }
    const ran: number[] = [];
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.statements) {
        await client.query(statement.replaceAll("{schema}", q));
      }
      await client.query(`INSERT INTO ${q}.latch_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      ran.push(migration.version);
    }
    await client.query("COMMIT");
    return ran;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}
