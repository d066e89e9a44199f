/**
 * History compaction for the SQLite store (the plan is in ../history.ts). Every delete runs in a
 * short IMMEDIATE transaction of at most `batchSize` changes, so writers wait for one batch at
 * most; two processes on one file may both run it: each batch is idempotent.
 *
 * The changes feed drives the deletes: a relationship version is closed at revision D only by a
 * write that also appended a change for its key at D (a TOUCH or a DELETE; closing an expired row
 * appends none, but expired rows are invisible at every revision and the expiry sweep removes
 * them). So the changes at or before the horizon name every key with versions to delete, and each
 * key's versions are one range of the primary key; no index on deleted_rev is needed.
 *
 * Space: SQLite reuses the pages the deletes free (freelist) for later writes, so the file stops
 * growing once compaction keeps up. The WAL is restarted by the checkpoints at commit, as long as
 * no read snapshot of this process is held across a commit: each batch releases it first.
 */
import type Database from "better-sqlite3";
import type { Revision } from "../../core/index.js";
import {
  type CompactionOptions,
  type CompactionReport,
  type CompactionState,
  type HistoryHorizon,
  horizonOf,
  readState,
  resolveCompaction,
  STATE_KEYS,
} from "../history.js";
import { nextTurn } from "../next-turn.js";

type Stmt = Database.Statement<unknown[], unknown>;

const KEY = "resource_type, resource_id, relation, subject_type, subject_id, subject_relation";
const KEY_MATCH =
  "resource_type = ? AND resource_id = ? AND relation = ? AND subject_type = ? AND subject_id = ? AND subject_relation = ?";

interface Counts {
  relationshipVersions: number;
  changes: number;
  schemas: number;
  revisions: number;
}

/** What the caller of a run in another thread learns and decides (compaction-thread.ts). */
export interface CompactionHooks {
  /**
   * Awaited after a horizon is published and before any row below `horizon` is deleted: a
   * serving connection elsewhere must hold it (or a later one) as its cached horizon before then,
   * so it never answers below one whose rows are going. The hook may return at once when the
   * serving side already holds it (the thread's last report carried it).
   */
  beforeApply?(horizon: Revision): Promise<void>;
  /** Checked between batches: true ends the run early (its report shows the horizon pending). */
  stopped?(): boolean;
}

export interface SqliteCompaction {
  /** The published horizon, read now (synchronous: one small query). */
  horizon(): HistoryHorizon | undefined;
  /** Yields to the event loop between batches, so requests in this process are served meanwhile. */
  run(options?: CompactionOptions, hooks?: CompactionHooks): Promise<CompactionReport>;
}

/** `releaseReads` ends this process's held read snapshot before each write (read-snapshot.ts). */
export function createSqliteCompaction(db: Database.Database, releaseReads: () => void): SqliteCompaction {
  const stmt = (sql: string): Stmt => db.prepare(sql);
  const s = {
    state: stmt("SELECT key, CAST(value AS TEXT) FROM store_meta WHERE key LIKE 'gc\\_%' ESCAPE '\\'").raw(),
    setKey: stmt(
      "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    target: stmt("SELECT max(revision) FROM revisions WHERE committed_at <= ?").pluck(),
    countVersions: stmt("SELECT count(*) FROM relationships WHERE deleted_rev <= ?").pluck(),
    countChanges: stmt("SELECT count(*) FROM changes WHERE revision <= ?").pluck(),
    countSchemas: stmt(
      "SELECT count(*) FROM schemas WHERE revision < (SELECT max(revision) FROM schemas WHERE revision <= ?)",
    ).pluck(),
    countRevisions: stmt("SELECT count(*) FROM revisions WHERE revision < ?").pluck(),
    oldChanges: stmt(
      `SELECT revision, seq, ${KEY} FROM changes WHERE revision <= ? ORDER BY revision, seq LIMIT ?`,
    ).raw(),
    deleteVersions: stmt(`DELETE FROM relationships WHERE ${KEY_MATCH} AND deleted_rev <= ?`),
    deleteChanges: stmt("DELETE FROM changes WHERE revision < ? OR (revision = ? AND seq <= ?)"),
    deleteSchemas: stmt(
      "DELETE FROM schemas WHERE revision < (SELECT max(revision) FROM schemas WHERE revision <= ?)",
    ),
    deleteRevisions: stmt(
      "DELETE FROM revisions WHERE revision IN (SELECT revision FROM revisions WHERE revision < ? ORDER BY revision LIMIT ?)",
    ),
  };

  const state = (): CompactionState => {
    const rows = new Map(s.state.all() as [string, string][]);
    return readState((key) => rows.get(key));
  };

  /** One batch of changes at or before `horizon` and the versions they name; how many changes. */
  const changesBatch = (horizon: number, batchSize: number, counts: Counts): number => {
    const rows = s.oldChanges.all(horizon, batchSize) as unknown[][];
    const last = rows[rows.length - 1];
    if (last === undefined) return 0;
    const seen = new Set<string>();
    for (const row of rows) {
      const key = row.slice(2);
      const id = JSON.stringify(key);
      if (seen.has(id)) continue;
      seen.add(id);
      counts.relationshipVersions += s.deleteVersions.run(...key, horizon).changes;
    }
    counts.changes += s.deleteChanges.run(last[0], last[0], last[1]).changes;
    return rows.length;
  };

  /** Publishes `horizon` unless one as late is published already; inside a write transaction. */
  const publishIn = (horizon: Revision, now: number, windowMs: number): boolean => {
    const current = state();
    if (current.horizon >= horizon || current.horizon > current.applied) return false;
    s.setKey.run(STATE_KEYS.horizon, horizon.toString());
    s.setKey.run(STATE_KEYS.publishedAt, String(now));
    s.setKey.run(STATE_KEYS.windowMs, String(windowMs));
    return true;
  };

  /**
   * One transaction of at most a batch of changes and a batch of revisions; true once the horizon
   * is wholly applied, which it then records, and `then` (the next publication) rides on the same
   * commit. Few commits matter beyond their cost: each makes this process's read connection drop
   * its page cache, so the checks after it read cold pages.
   */
  const step = db.transaction(
    (horizon: Revision, batchSize: number, counts: Counts, then: () => void): boolean => {
      const h = Number(horizon);
      if (changesBatch(h, batchSize, counts) === batchSize) return false;
      counts.schemas += s.deleteSchemas.run(h).changes;
      const revisions = s.deleteRevisions.run(h, batchSize).changes;
      counts.revisions += revisions;
      if (revisions === batchSize) return false;
      // Only ever forward: another process may have applied a later horizon meanwhile.
      if (state().applied < horizon) s.setKey.run(STATE_KEYS.applied, horizon.toString());
      then();
      return true;
    },
  );

  /** Deletes everything the horizon hides, batch by batch, yielding between them; false: stopped. */
  const apply = async (
    horizon: Revision,
    batchSize: number,
    counts: Counts,
    then: () => void,
    hooks: CompactionHooks,
  ): Promise<boolean> => {
    await hooks.beforeApply?.(horizon);
    for (;;) {
      if (hooks.stopped?.() === true) return false;
      releaseReads();
      if (step.immediate(horizon, batchSize, counts, then)) return true;
      await nextTurn();
    }
  };

  const target = (now: number, windowMs: number): Revision => {
    const revision = s.target.get(now - windowMs) as number | null;
    return revision === null ? 0n : BigInt(revision);
  };

  return {
    horizon: () => horizonOf(state()),
    async run(options = {}, hooks = {}) {
      const o = resolveCompaction(options);
      const before = state();
      const next = target(o.now, o.windowMs);
      const counts: Counts = { relationshipVersions: 0, changes: 0, schemas: 0, revisions: 0 };
      if (o.dryRun) {
        const h = Math.max(Number(next), Number(before.horizon));
        counts.relationshipVersions = s.countVersions.get(h) as number;
        counts.changes = s.countChanges.get(h) as number;
        counts.schemas = s.countSchemas.get(h) as number;
        counts.revisions = s.countRevisions.get(h) as number;
        return { dryRun: true, horizon: BigInt(h), applied: before.applied, ...counts };
      }
      let published = false;
      const publishNext = () => {
        if (next > 0n) published = publishIn(next, o.now, o.windowMs);
      };
      let finished = true;
      if (before.horizon > before.applied && before.publishedAt <= o.now - o.graceMs) {
        finished = await apply(before.horizon, o.batchSize, counts, publishNext, hooks);
      } else if (before.horizon <= before.applied) {
        releaseReads();
        db.transaction(publishNext).immediate();
      }
      if (finished && published && o.graceMs === 0) await apply(next, o.batchSize, counts, () => {}, hooks);
      const after = state();
      return {
        dryRun: false,
        horizon: after.horizon,
        applied: after.applied,
        ...(after.horizon > after.applied ? { pending: after.horizon } : {}),
        ...counts,
      };
    },
  };
}
