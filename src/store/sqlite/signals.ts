/**
 * Security signals on SQLite. `record` is one IMMEDIATE transaction: the write lock serializes it
 * with every relationship write (also across processes on one file), so the revision it takes is
 * the next one and the (issuer, jti) key refuses a replay atomically.
 */
import type Database from "better-sqlite3";
import type { Revision } from "../../core/index.js";
import {
  DEFAULT_SIGNAL_PAGE,
  foldStateChanges,
  type NewSignal,
  replayed,
  rowToSignal,
  rowToState,
  SIGNAL_COLUMNS,
  type SignalStore,
  type SubjectStateChange,
  signalRow,
} from "../signal-store.js";
import { positiveInt } from "../write-checks.js";
import { NEWEST_REVISION_SQL } from "./statements.js";
import type { WriteGate } from "./write-gate.js";

export function createSqliteSignals(
  db: Database.Database,
  committed: (revision: Revision) => void,
  gate: WriteGate,
): SignalStore {
  const s = {
    current: db.prepare(NEWEST_REVISION_SQL).pluck(),
    insertRevision: db.prepare("INSERT INTO revisions (revision, committed_at) VALUES (?, ?)"),
    seen: db.prepare("SELECT 1 FROM signals WHERE issuer = ? AND jti = ?").pluck(),
    insertSignal: db.prepare(`INSERT INTO signals (${SIGNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    latestState: db
      .prepare(
        "SELECT subject, revision, suspended, reason, attributes FROM subject_states WHERE subject = ? ORDER BY revision DESC LIMIT 1",
      )
      .raw(),
    insertState: db.prepare(
      "INSERT INTO subject_states (subject, revision, suspended, reason, attributes) VALUES (?, ?, ?, ?, ?)",
    ),
    since: db
      .prepare(
        "SELECT subject, revision, suspended, reason, attributes FROM subject_states WHERE revision > ? AND revision <= ? ORDER BY revision",
      )
      .raw(),
    list: db
      .prepare(`SELECT ${SIGNAL_COLUMNS} FROM signals ORDER BY received_at DESC, revision DESC LIMIT ?`)
      .raw(),
  };
  const record = db.transaction((signal: NewSignal, changes: readonly SubjectStateChange[]): Revision => {
    if (s.seen.get(signal.issuer, signal.jti) !== undefined) throw replayed(signal);
    const revision = BigInt(s.current.get() as number) + 1n;
    const rev = Number(revision);
    s.insertRevision.run(rev, signal.receivedAt);
    s.insertSignal.run(...signalRow(signal, rev));
    const states = foldStateChanges(changes, (subject) => {
      const row = s.latestState.get(subject) as unknown[] | undefined;
      return row === undefined ? undefined : rowToState(row);
    });
    for (const state of states) {
      s.insertState.run(
        state.subject,
        rev,
        state.suspended ? 1 : 0,
        state.reason,
        JSON.stringify(state.attributes),
      );
    }
    return revision;
  });
  const since = db.transaction((after: Revision) => {
    const revision = BigInt(s.current.get() as number);
    return { rows: (s.since.all(after, revision) as unknown[][]).map(rowToState), revision };
  });

  return {
    async seen(issuer, jti) {
      return s.seen.get(issuer, jti) !== undefined;
    },
    async record(signal, changes) {
      await gate();
      const revision = record.immediate(signal, changes);
      committed(revision);
      return revision;
    },
    async statesSince(after) {
      return since.deferred(after);
    },
    async list(query) {
      const limit = positiveInt(query.limit, "limit") ?? DEFAULT_SIGNAL_PAGE;
      return (s.list.all(limit) as unknown[][]).map(rowToSignal);
    },
  };
}
