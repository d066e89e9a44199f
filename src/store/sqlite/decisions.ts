/**
 * The decision log on SQLite. An append is one IMMEDIATE transaction that reads the head, inserts
 * the rows and checkpoints and moves the head: the write lock serializes appenders, also those of
 * other processes on the same file.
 */
import type Database from "better-sqlite3";
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
  pruneCut,
  type RemoteDecisionLog,
  rowToDecision,
  type SignedHead,
  type SignedPoint,
  type StoredRow,
  trustedHead,
  verifyChain,
} from "../decision-log.js";
import { positiveInt } from "../write-checks.js";

type Row = [number, number, string, string, string, string];
/** Most rows per multi-row INSERT: one statement per row cost more than the row itself. */
const INSERT_ROWS = 50;
const COLUMNS = "seq, at, subject, body, prev_hash, hash";

/**
 * An INSERT of `rows` rows. OR FAIL, not the default ABORT: a multi-row statement that may abort
 * keeps a statement journal (a copy of each page it touches first, about 3k instructions a row
 * here) to undo its own rows; an append is one transaction, rolled back whole on any error, so
 * that undo is never needed (and no row can conflict: seq follows the head, under the write lock).
 */
const insertSql = (rows: number) =>
  `INSERT OR FAIL INTO decisions (${COLUMNS}) VALUES ${Array(rows).fill("(?, ?, ?, ?, ?, ?)").join(", ")}`;
const toRow = (r: Row): StoredRow => ({
  seq: r[0],
  at: r[1],
  subject: r[2],
  body: r[3],
  prevHash: r[4],
  hash: r[5],
});

export function createSqliteDecisionLog(
  db: Database.Database,
  storeId: string,
  secret: Uint8Array,
  checkpointEvery = DEFAULT_CHECKPOINT_EVERY,
  remote?: RemoteDecisionLog,
): DecisionLog {
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
      return appended(append.immediate(records.map(encodeDecision)), records);
    },

    async appendEncoded(records) {
      if (records.length > 0) append.immediate(records);
    },

    async read(query: DecisionQuery = {}) {
      const limit = positiveInt(query.limit, "limit") ?? DEFAULT_DECISION_PAGE;
      const where = ["seq > ?"];
      const params: unknown[] = [query.afterSeq ?? 0];
      if (query.since !== undefined) {
        where.push("at >= ?");
        params.push(query.since.getTime());
      }
      if (query.subject !== undefined) {
        where.push("(subject = ? OR EXISTS (SELECT 1 FROM json_each(body, '$.onBehalfOf') WHERE value = ?))");
        params.push(query.subject, query.subject);
      }
      params.push(limit);
      const sql = `SELECT ${COLUMNS} FROM decisions WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`;
      const rows = db.prepare(sql).raw().all(params) as Row[];
      return rows.map((r) => rowToDecision(toRow(r)));
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

    async verify() {
      const read = db.transaction(() => {
        const points = s.checkpoints.all() as SignedPoint[];
        const rows: StoredRow[] = [];
        let after = 0;
        for (;;) {
          const page = s.page.all(after, 10_000) as Row[];
          for (const r of page) rows.push(toRow(r));
          if (page.length < 10_000) break;
          after = page[page.length - 1]![0];
        }
        return { points, head: head(), rows };
      });
      // One read transaction: the walk sees one consistent snapshot of rows, checkpoints and head.
      const { points, head: signedHead, rows } = read.deferred();
      return verifyChain(iterate(rows), points, signedHead, signer);
    },
  };
}

async function* iterate<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}
