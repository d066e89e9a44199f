/**
 * Opening a SQLite database for the store: pragmas, migrations, store identity.
 *
 * Durability: WAL with synchronous=NORMAL (the default here). A commit appends to the WAL file
 * through write(2) before better-sqlite3 returns, so once a write is acknowledged the bytes are in
 * the operating system's page cache: killing the process (even kill -9) cannot lose them, and the
 * next open replays the WAL. Only an OS crash or power loss can roll back the last transactions
 * (never corrupt the file), because NORMAL skips the fsync on each commit; `synchronous: "full"`
 * adds that fsync for machines where that matters, at a cost of a disk flush per write.
 *
 * Two processes on one file: both may open it. WAL lets readers run alongside one writer. Writers
 * are serialized, not refused: every write transaction starts with BEGIN IMMEDIATE (it takes the
 * write lock before reading anything, so two writers can never deadlock upgrading a read lock), and
 * a writer that finds the lock taken waits up to `busy_timeout` ms before failing with
 * SQLITE_BUSY. Revisions are allocated inside that lock from the table itself (never from a
 * per-process counter) and the compiled schema is re-checked by revision in each transaction, so
 * the processes never hand out the same revision or validate against a stale schema. This relies
 * on POSIX locks and shared memory: one machine, a local file system (not NFS).
 */
import Database from "better-sqlite3";
import { newStoreId, newTokenSecret } from "../revision-token.js";
import { applyMigrations } from "./migrations.js";

export interface ConnectionOptions {
  readonly path: string;
  readonly synchronous?: "normal" | "full";
  readonly busyTimeoutMs?: number;
  /** Page cache size in KiB (default 64 MiB). */
  readonly cacheSizeKib?: number;
}

export interface Connection {
  readonly db: Database.Database;
  readonly storeId: string;
  readonly tokenSecret: Buffer;
}

export function openConnection(options: ConnectionOptions): Connection {
  const db = new Database(options.path);
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5_000))}`);
    if (options.path !== ":memory:" && options.path !== "") db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
    db.pragma(`cache_size = -${Math.max(1024, Math.floor(options.cacheSizeKib ?? 65_536))}`);
    db.pragma("temp_store = MEMORY");
    const init = db.transaction(() => {
      applyMigrations(db);
      const insert = db.prepare("INSERT OR IGNORE INTO store_meta (key, value) VALUES (?, ?)");
      insert.run("store_id", newStoreId());
      insert.run("token_secret", newTokenSecret());
      const get = db.prepare("SELECT value FROM store_meta WHERE key = ?").pluck();
      return { storeId: String(get.get("store_id")), tokenSecret: get.get("token_secret") as Buffer };
    });
    const { storeId, tokenSecret } = init.immediate();
    return { db, storeId, tokenSecret };
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * A read-only connection to a file the store has open, for a read that spans turns of the event
 * loop in a read transaction of its own (the decision log's verify). Read-only: it never takes the
 * write lock, not even for the migrations `openConnection` runs (the store ran them). SQLite's
 * default page cache (2 MiB), not the serving connection's 64: it reads each page once.
 */
export function openReader(options: ConnectionOptions): Database.Database {
  const db = new Database(options.path, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5_000))}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
