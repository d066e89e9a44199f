/**
 * Which store a command opens: a PostgreSQL database when `--datastore` (or `LATCH_DATASTORE`) is a
 * `postgres://` URL, shared by every replica pointed at it; otherwise a SQLite file, which is the
 * single-process default. One function, so that `serve` and the data commands agree on the rules.
 */

import type { Store } from "../store/index.js";
import type { PoolOptions } from "../store/postgres/index.js";
// The rule alone, from its own file: the backend's index would load the pg package with it.
import { isPostgresUrl } from "../store/postgres/sql-names.js";

export { isPostgresUrl };

export interface DatastoreOptions {
  /** `postgres://user@host:5432/db`, or a SQLite file path; when absent, `db` is used. */
  readonly datastore?: string | undefined;
  /** SQLite file used when no datastore is given. */
  readonly db: string;
  /** PostgreSQL schema holding Latch's tables (default `public`). */
  readonly pgSchema?: string | undefined;
  /** Pool settings for PostgreSQL; ignored for SQLite. */
  readonly pool?: PoolOptions;
  /** `postgres://` URLs of hot standbys of the PostgreSQL datastore (`--datastore-read-replica`). */
  readonly readReplicas?: readonly string[] | undefined;
}

/**
 * The read replica URLs of the repeated flag, or of one string (the environment's, or a config
 * file's), entries separated by commas or whitespace (which a URL holds only percent-encoded).
 */
export function readReplicaUrls(list: readonly string[] | string | undefined): string[] {
  return (typeof list === "string" ? [list] : (list ?? []))
    .flatMap((entry) => entry.split(/[\s,]+/))
    .filter((url) => url !== "");
}

/** What the datastore is, safe for logs: PostgreSQL URLs lose their password. */
export function describeDatastore(options: DatastoreOptions): string {
  const target = chosen(options);
  if (!isPostgresUrl(target)) return target;
  try {
    const url = new URL(target);
    if (url.password !== "") url.password = "***";
    const schema = options.pgSchema ?? "public";
    const replicas = (options.readReplicas ?? []).map(withoutPassword);
    return `${url.toString()} (schema ${schema}${replicas.length === 0 ? "" : `; read replicas ${replicas.join(", ")}`})`;
  } catch {
    return "postgres://(unparsable URL)";
  }
}

function withoutPassword(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return "(unparsable URL)";
  }
}

function chosen(options: DatastoreOptions): string {
  const datastore = options.datastore?.trim();
  return datastore === undefined || datastore === "" ? options.db : datastore;
}

/** True when the options select PostgreSQL. */
export function usesPostgres(options: DatastoreOptions): boolean {
  return isPostgresUrl(chosen(options));
}

export async function openDatastore(options: DatastoreOptions): Promise<Store> {
  const target = chosen(options);
  const replicas = options.readReplicas ?? [];
  // Each backend is loaded only when chosen: pg and better-sqlite3 each take time to load.
  if (isPostgresUrl(target)) {
    const { createPostgresStore } = await import("../store/postgres/index.js");
    return createPostgresStore({
      url: target,
      ...(options.pgSchema === undefined || options.pgSchema === "" ? {} : { schema: options.pgSchema }),
      ...(options.pool === undefined ? {} : { pool: options.pool }),
      ...(replicas.length === 0 ? {} : { readReplicas: replicas }),
    });
  }
  if (replicas.length > 0) {
    throw new Error(
      "--datastore-read-replica needs a PostgreSQL --datastore (postgres://...): read replicas are hot standbys of it; a SQLite file has none",
    );
  }
  const { createSqliteStore } = await import("../store/sqlite/index.js");
  return createSqliteStore({ path: target });
}
