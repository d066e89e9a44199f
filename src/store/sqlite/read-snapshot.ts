/**
 * The hot-path reader: a second connection to a database file whose lookups share one read
 * transaction until the event loop turns. On a WAL file, starting and ending a read transaction
 * around every statement (SQLite's autocommit) costs about 7 µs of locking and shared-memory
 * work, more than the indexed read itself; a check makes several reads within one turn.
 *
 * Why a snapshot may serve a read at revision R: rows are versioned (created_rev, deleted_rev),
 * so any database state taken after R committed answers "visible at R" exactly as the newest one.
 * The snapshot remembers the newest revision it holds and is renewed when asked for a later one
 * (a write by this process or another one) and by each `newest()` (the serving path's "what is
 * current", which must see other processes' commits). It is released on the next turn of the event loop, so
 * it never holds back checkpoints for long. `:memory:` databases cannot be shared between
 * connections and have no such cost: they read through the main connection, in autocommit.
 */
import Database from "better-sqlite3";
import type { Revision } from "../../core/index.js";
import { NEWEST_REVISION_SQL } from "./statements.js";

export interface ReadSnapshot {
  readonly db: Database.Database;
  /** Runs `read` inside a read transaction that has revision `revision`. */
  at<T>(revision: Revision, read: () => T): T;
  /**
   * The newest committed revision, from a read transaction started now (a held one may predate
   * another process's commit), which the reads that follow in this turn then share. The serving
   * path asks this connection rather than the write connection: each connection empties its page
   * cache at its first read after another connection's commit (a compaction thread's), so a check
   * that also read through the write connection paid for two emptied caches instead of one.
   */
  newest(): Revision;
  /**
   * Ends the held read transaction now rather than on the next turn. Called before the store's
   * relationship writes and each compaction step commit (the decision log, approvals and signals
   * commit without it: rarer, and the snapshot goes at the next turn anyway): a checkpoint cannot copy the WAL past a snapshot some reader still holds, and a WAL
   * that is never wholly copied is never restarted, so under steady checks and writes it would
   * grow without end (gc-bench: 3.9 GB of WAL beside 28 MB of database at 1M touches).
   */
  release(): void;
  close(): void;
}

export function createReadSnapshot(main: Database.Database, path: string): ReadSnapshot {
  if (path === ":memory:" || path === "" || main.memory) {
    const current = main.prepare(NEWEST_REVISION_SQL).pluck();
    return {
      db: main,
      at: (_revision, read) => read(),
      newest: () => BigInt(current.get() as number),
      release: () => {},
      close: () => {},
    };
  }
  const db = new Database(path);
  try {
    db.pragma("busy_timeout = 5000");
    db.pragma("cache_size = -65536");
    // No memory-mapped reads (SQLite's default, mmap_size 0). In WAL mode a connection that finds
    // another connection's commit at its next read transaction empties its page cache and also
    // unmaps the whole database file (pagerBeginReadTransaction in sqlite3.c), then maps it again
    // and takes a page fault on each page it touches; munmap in a process whose other threads
    // are running (the compaction thread, V8's) waits for their TLBs to be flushed. Every write
    // and every compaction commit costs the next check that. Measured under gc-bench's churn
    // (bench/gc-count.ts, alternating, load 10-12): the first statement after a compaction
    // commit 42-70 µs at p50 with mmap, 25-27 µs without; after a write 121-132 against 61-64 µs;
    // checks between commits unchanged (19 µs p50), their pages being in the page cache.
  } catch (error) {
    db.close();
    throw error;
  }
  const begin = db.prepare("BEGIN");
  const end = db.prepare("COMMIT");
  const newest = db.prepare(NEWEST_REVISION_SQL).pluck();
  let held: Revision | undefined;
  let release: ReturnType<typeof setImmediate> | undefined;
  const finish = () => {
    release = undefined;
    if (held !== undefined && db.inTransaction) end.run();
    held = undefined;
  };
  const renew = (): Revision => {
    if (release !== undefined) clearImmediate(release);
    finish();
    begin.run();
    // The first read takes the snapshot; it also tells which revisions the snapshot holds.
    const revision = BigInt(newest.get() as number);
    held = revision;
    release = setImmediate(finish);
    return revision;
  };
  return {
    db,
    at(revision, read) {
      if (held === undefined || revision > held || !db.inTransaction) renew();
      return read();
    },
    newest: renew,
    release() {
      if (release !== undefined) clearImmediate(release);
      finish();
    },
    close() {
      if (release !== undefined) clearImmediate(release);
      release = undefined;
      if (db.open) {
        if (db.inTransaction) end.run();
        db.close();
      }
      held = undefined;
    },
  };
}
