/**
 * The decision log on SQLite. An append is one IMMEDIATE transaction that reads the head, inserts
 * the rows and checkpoints and moves the head: the write lock serializes appenders, also those of
 * other processes on the same file.
 */
import type Database from "better-sqlite3";
import { LatchError } from "../../core/index.js";
import {
  appended,
  type ChainRow,
  type ChainSigner,
  createChainSigner,
  DEFAULT_CHECKPOINT_EVERY,
  DEFAULT_DECISION_PAGE,
  type DecisionLog,
  type DecisionQuery,
  type EncodedDecision,
  encodeDecision,
  extendChain,
  oneVerifyAtATime,
  pruneCut,
  type RemoteDecisionLog,
  rowToDecision,
  type SignedHead,
  type SignedPoint,
  trustedHead,
  verifyChain,
} from "../decision-log.js";
import { positiveInt } from "../write-checks.js";
import {
  COLUMNS,
  createScan,
  DEFAULT_LONG_READS,
  inPages,
  type LongReadSettings,
  type Row,
  toRow,
  verifyOnSnapshot,
} from "./decision-reads.js";

/** Most rows per multi-row INSERT: one statement per row cost more than the row itself. */
const INSERT_ROWS = 50;

/**
 * An INSERT of `rows` rows. OR FAIL, not the default ABORT: a multi-row statement that may abort
 * keeps a statement journal (a copy of each page it touches first, about 3k instructions a row
 * here) to undo its own rows; an append is one transaction, rolled back whole on any error, so
 * that undo is never needed (and no row can conflict: seq follows the head, under the write lock).
 */
const insertSql = (rows: number) =>
  `INSERT OR FAIL INTO decisions (${COLUMNS}) VALUES ${Array(rows).fill("(?, ?, ?, ?, ?, ?)").join(", ")}`;
export interface SqliteDecisionLogOptions {
  readonly checkpointEvery?: number | undefined;
  readonly remote?: RemoteDecisionLog | undefined;
  /**
   * Opens a read-only connection of its own to the same file, for verify's snapshot; absent for
   * `:memory:`, which no other connection can open.
   */
  readonly openReader?: (() => Database.Database) | undefined;
  /** Page and range sizes of the long reads, and how they let the event loop turn (tests). */
  readonly longReads?: Partial<LongReadSettings> | undefined;
}

/** The long reads' settings; a size below one would make a read walk nothing forever. */
function longReadsOf(given: Partial<LongReadSettings> | undefined): LongReadSettings {
  const settings = { ...DEFAULT_LONG_READS, ...given };
  for (const key of ["verifyPageRows", "scanRangeRows"] as const) {
    const value = settings[key];
    if (!Number.isSafeInteger(value) || value < 1)
      throw new LatchError(
        "audit/invalid-option",
        "invalid-argument",
        `decision log ${key} \`${String(value)}\` is not a positive integer`,
        { option: key },
      );
  }
  return settings;
}

export function createSqliteDecisionLog(
  db: Database.Database,
  storeId: string,
  secret: Uint8Array,
  options: SqliteDecisionLogOptions = {},
): DecisionLog {
  const { remote, openReader } = options;
  const checkpointEvery = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  const longReads = longReadsOf(options.longReads);
  const scan = createScan(db, longReads);
  const signer: ChainSigner = createChainSigner(storeId, secret);
  const s = {
    head: db.prepare("SELECT seq, hash, floor, mac FROM decision_head WHERE singleton = 1"),
    checkpoint: db.prepare("INSERT INTO decision_checkpoints (seq, hash, mac, at) VALUES (?, ?, ?, ?)"),
    setHead: db.prepare(
      "INSERT INTO decision_head (singleton, seq, hash, floor, mac) VALUES (1, ?, ?, ?, ?) ON CONFLICT (singleton) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, floor = excluded.floor, mac = excluded.mac",
    ),
    checkpoints: db.prepare("SELECT seq, hash, mac, at FROM decision_checkpoints ORDER BY seq"),
    page: db.prepare(`SELECT ${COLUMNS} FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?`).raw(),
    lastBefore: db.prepare("SELECT max(seq) FROM decisions WHERE at < ?").pluck(),
    last: db.prepare("SELECT max(seq) FROM decisions").pluck(),
    deleteRows: db.prepare("DELETE FROM decisions WHERE seq <= ?"),
    deleteCheckpoints: db.prepare("DELETE FROM decision_checkpoints WHERE seq < ?"),
  };
  const head = (): SignedHead | undefined => s.head.get() as SignedHead | undefined;
  /** The rows of a committed append: its head is the least any later head may be. */
  const committed = (rows: readonly ChainRow[]): readonly ChainRow[] => {
    if (rows.length > 0) signer.saw(rows[rows.length - 1]!.seq);
    return rows;
  };

  const append = db.transaction((records: readonly EncodedDecision[]): readonly ChainRow[] => {
    const from = trustedHead(head(), signer);
    const chain = extendChain(from, records, signer, checkpointEvery);
    insertRows(chain.rows);
    const now = Date.now();
    for (const cp of chain.checkpoints) s.checkpoint.run(cp.seq, cp.hash, cp.mac, now);
    if (chain.rows.length > 0)
      s.setHead.run(chain.head.seq, chain.head.hash, chain.head.floor, chain.head.mac);
    return chain.rows;
  });

  /**
   * The INSERT of n rows, prepared when first needed, at index n - 1: a batch's last rows are one
   * statement too (a statement run per row costs several times a row's share of a multi-row one).
   */
  const inserts: Database.Statement[] = [];
  const insertRows = (rows: readonly ChainRow[]) => {
    for (let i = 0; i < rows.length; i += INSERT_ROWS) {
      const n = Math.min(INSERT_ROWS, rows.length - i);
      const values: unknown[] = [];
      for (let k = i; k < i + n; k++) {
        const r = rows[k]!;
        values.push(r.seq, r.at, r.subject, r.body, r.prevHash, r.hash);
      }
      inserts[n - 1] ??= db.prepare(insertSql(n));
      // Spread, not the array: better-sqlite3 reads an array's values one API call each (about
      // 400 instructions), arguments straight off the stack.
      inserts[n - 1]!.run(...values);
    }
  };

  const prune = db.transaction((lastDropped: number): number => {
    const from = trustedHead(head(), signer);
    const cut = pruneCut(s.checkpoints.all() as { seq: number }[], lastDropped);
    if (cut === undefined || cut <= from.floor) return 0;
    const deleted = s.deleteRows.run(cut).changes;
    s.deleteCheckpoints.run(cut);
    s.setHead.run(from.seq, from.hash, cut, signer.head(from.seq, from.hash, cut));
    return deleted;
  });

  return {
    ...(remote === undefined ? {} : { remote }),

    async append(records) {
      if (records.length === 0) return [];
      return appended(committed(append.immediate(records.map(encodeDecision))), records);
    },

    async appendEncoded(records) {
      if (records.length > 0) committed(append.immediate(records));
    },

    async read(query: DecisionQuery = {}) {
      const limit = positiveInt(query.limit, "limit") ?? DEFAULT_DECISION_PAGE;
      const afterSeq = query.afterSeq ?? 0;
      // A filter may pass over any number of records before the page fills: in ranges, with turns.
      const rows =
        query.subject === undefined && query.since === undefined
          ? (s.page.all(afterSeq, limit) as Row[])
          : await scan({ afterSeq, since: query.since, subject: query.subject, limit });
      return rows.map((r) => rowToDecision(toRow(r)));
    },

    async lastSeq() {
      return (s.last.get() as number | null) ?? 0;
    },

    async checkpoints() {
      return (s.checkpoints.all() as { seq: number; hash: string; at: number }[]).map(
        ({ seq, hash, at }) => ({
          seq,
          hash,
          at,
        }),
      );
    },

    async prune(options) {
      const lasts: number[] = [];
      if (options.before !== undefined) {
        const last = s.lastBefore.get(options.before.getTime()) as number | null;
        if (last !== null) lasts.push(last);
      }
      if (options.keepLast !== undefined) {
        const keep = Math.max(0, Math.floor(options.keepLast));
        const last = (s.last.get() as number | null) ?? 0;
        lasts.push(last - keep);
      }
      if (lasts.length === 0) return 0;
      // Both limits must allow a record's deletion: the more careful one wins.
      return prune.immediate(Math.min(...lasts));
    },

    verify: oneVerifyAtATime(async () => {
      // A reader of its own holds its snapshot across turns only in WAL mode: in rollback-journal
      // mode its shared lock would keep this connection's writers waiting (synchronously) behind it.
      if (openReader !== undefined && db.pragma("journal_mode", { simple: true }) === "wal")
        return verifyOnSnapshot(openReader(), signer, longReads);
      // `:memory:` (or a file not in WAL mode): one transaction on this connection is the only
      // snapshot there is (inPages).
      const read = db.transaction(() => {
        const points = s.checkpoints.all() as SignedPoint[];
        const rows = (s.page.all(0, -1) as Row[]).map(toRow);
        return { points, head: head(), rows };
      });
      const { points, head: signedHead, rows } = read.deferred();
      return verifyChain(inPages(rows, longReads), points, signedHead, signer, longReads.pause);
    }),
  };
}
