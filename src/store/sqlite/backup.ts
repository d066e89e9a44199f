/**
 * Online backup of a SQLite store: SQLite's backup API (through better-sqlite3) copies the database
 * page by page while the server keeps reading and writing; the copy is one consistent state (pages
 * a writer changes meanwhile are copied again). The copy is then opened and checked: SQLite's
 * integrity check, and the store's own tables answer.
 */
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { StoreError } from "../errors.js";
import { NEWEST_REVISION_SQL } from "./statements.js";

export interface BackupResult {
  readonly bytes: number;
  /** The newest revision the copy holds. */
  readonly revision: bigint;
  /** Live relationships in the copy. */
  readonly relationships: number;
}

export async function backupSqlite(
  source: string,
  destination: string,
  onProgress?: (remainingPages: number, totalPages: number) => void,
): Promise<BackupResult> {
  if (!existsSync(source)) {
    throw new StoreError(
      "store/backup-invalid",
      "invalid-argument",
      `cannot back up ${source}: no such database file. Pass the file latch serve uses (--db).`,
    );
  }
  if (existsSync(destination)) {
    throw new StoreError(
      "store/backup-invalid",
      "invalid-argument",
      `will not overwrite ${destination}: it exists. Choose a new file or remove it first.`,
    );
  }
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    await db.backup(destination, {
      progress: ({ totalPages, remainingPages }) => {
        onProgress?.(remainingPages, totalPages);
        // Pages per step: large enough to be quick, small enough that writers are not held long.
        return 1_000;
      },
    });
  } finally {
    db.close();
  }
  return verifyBackup(destination);
}

/** Opens a backup read-only and checks that it is a whole, readable Latch database. */
export function verifyBackup(path: string): BackupResult {
  const copy = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const check = copy.pragma("integrity_check", { simple: true });
    if (check !== "ok") {
      throw new StoreError(
        "store/backup-failed",
        "internal",
        `the backup ${path} failed its integrity check: ${String(check)}`,
      );
    }
    const revision = copy.prepare(NEWEST_REVISION_SQL).pluck().get() as number;
    const relationships = copy
      .prepare("SELECT count(*) FROM relationships WHERE deleted_rev = 9223372036854775807")
      .pluck()
      .get() as number;
    const pages = copy.pragma("page_count", { simple: true }) as number;
    const size = copy.pragma("page_size", { simple: true }) as number;
    return { bytes: pages * size, revision: BigInt(revision), relationships };
  } finally {
    copy.close();
  }
}
