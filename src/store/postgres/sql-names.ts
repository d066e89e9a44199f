/** Identifier quoting for the PG schema name, the one piece of SQL text built from configuration. */

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A PG schema name Latch accepts: a plain identifier, so it quotes and logs unambiguously. */
export function isValidSchemaName(name: string): boolean {
  return SCHEMA_NAME.test(name);
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** LISTEN/NOTIFY channel: one per PG schema so stores sharing a database do not wake each other. */
export function changesChannel(schema: string): string {
  // Identifiers stop at 63 bytes; LISTEN and pg_notify must agree on the truncated name.
  return schema === "public" ? "latch_changes" : `latch_changes_${schema}`.slice(0, 63);
}

/** The approvals feed's channel (store/postgres/approvals.ts), one per PG schema as well. */
export function approvalsChannel(schema: string): string {
  return schema === "public" ? "latch_approvals" : `latch_approvals_${schema}`.slice(0, 63);
}

/** Whether a `--datastore` value names PostgreSQL (anything else is a SQLite path). */
export function isPostgresUrl(datastore: string): boolean {
  return /^postgres(ql)?:\/\//i.test(datastore);
}
