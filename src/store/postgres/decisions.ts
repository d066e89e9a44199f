/**
 * The decision log on PostgreSQL, shared by every replica. An append is one transaction that
 * locks the head row (`FOR UPDATE`), inserts the rows in one statement, then the checkpoints, and
 * moves the head: appenders on all replicas take turns on that lock, so there is one chain. Within
 * a replica, concurrent appends are grouped (`groupCommit`): one transaction per turn, not per call.
 */
import type pg from "pg";
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
  groupCommit,
  oneVerifyAtATime,
  pruneCut,
  type RemoteDecisionLog,
  rowToDecision,
  type SignedHead,
  type SignedPoint,
  type StoredRow,
  subjectNeedle,
  trustedHead,
  verifyChain,
} from "../decision-log.js";
import { positiveInt } from "../write-checks.js";
import { NotRetryable, withClient } from "./connection.js";
import type { StoreContext } from "./context.js";

const COLUMNS = "seq, at, subject, body, prev_hash, hash";

/**
 * Whether the record's on-behalf-of chain holds `param`. jsonb refuses a body with the escape
 * \u0000 or a surrogate's (a loggable caveat value can hold them) and would fail the whole query:
 * such a body is searched as text for the quoted subject instead, a superset (subjects need no
 * escaping, so a chain's member always appears quoted), which may return a record that merely
 * mentions the subject elsewhere and never hides one.
 */
const inChain = (param: string) =>
  `CASE WHEN body ~ '\\\\u(0000|[dD][89a-fA-F])' THEN strpos(body, '"' || ${param} || '"') > 0 ELSE (body::jsonb -> 'onBehalfOf') ? ${param} END`;

function toRow(r: unknown[]): StoredRow {
  return {
    seq: Number(r[0]),
    at: Number(r[1]),
    subject: r[2] as string,
    body: r[3] as string,
    prevHash: r[4] as string,
    hash: r[5] as string,
  };
}

/** The head as stored; seq 0 (the migration's row) means nothing was appended yet. */
function headOf(row: unknown[] | undefined): SignedHead | undefined {
  if (row === undefined || (Number(row[0]) === 0 && row[3] === "")) return undefined;
  return { seq: Number(row[0]), hash: row[1] as string, floor: Number(row[2]), mac: row[3] as string };
}

const HEAD = "seq, hash, floor, mac";

async function rows(client: pg.ClientBase, text: string, values: unknown[]): Promise<unknown[][]> {
  return (await client.query<unknown[]>({ text, values, rowMode: "array" })).rows;
}

async function checkpointsOf(client: pg.ClientBase, q: string): Promise<(SignedPoint & { at: number })[]> {
  return (
    await rows(client, `SELECT seq, hash, mac, at FROM ${q}.decision_checkpoints ORDER BY seq`, [])
  ).map((r) => ({ seq: Number(r[0]), hash: r[1] as string, mac: r[2] as string, at: Number(r[3]) }));
}

/** The new rows, their checkpoints and the moved head, inside the caller's transaction. */
async function writeChain(
  client: pg.ClientBase,
  q: string,
  chain: ReturnType<typeof extendChain>,
  at: number,
): Promise<void> {
  // The rows as one JSON text, not as arrays: node-postgres writes a text array's every element
  // through two regex replaces (a body is full of quotes), about 30k instructions a record on the
  // writer thread, where JSON.stringify escapes them in one native pass. json (not jsonb) and
  // text columns: each string comes back exactly as it was.
  await client.query(
    `INSERT INTO ${q}.decisions (${COLUMNS})
     SELECT seq, at, subject, body, "prevHash", hash FROM json_to_recordset($1::json)
       AS t(seq bigint, at bigint, subject text, body text, "prevHash" text, hash text)`,
    [JSON.stringify(chain.rows)],
  );
  const cps = chain.checkpoints;
  if (cps.length > 0) {
    await client.query(
      `INSERT INTO ${q}.decision_checkpoints (seq, hash, mac, at)
       SELECT s, h, m, $4 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(s, h, m)`,
      [cps.map((c) => c.seq), cps.map((c) => c.hash), cps.map((c) => c.mac), at],
    );
  }
  await client.query(
    `UPDATE ${q}.decision_head SET seq = $1, hash = $2, floor = $3, mac = $4 WHERE singleton`,
    [chain.head.seq, chain.head.hash, chain.head.floor, chain.head.mac],
  );
}

/** Deletes the prefix up to the last checkpoint the options allow, inside the caller's transaction. */
async function pruneIn(
  client: pg.ClientBase,
  q: string,
  signer: ChainSigner,
  options: Parameters<DecisionLog["prune"]>[0],
): Promise<number> {
  // The head's lock keeps appenders out while the prefix goes.
  const locked = await rows(client, `SELECT ${HEAD} FROM ${q}.decision_head WHERE singleton FOR UPDATE`, []);
  const from = trustedHead(headOf(locked[0]), signer);
  const lasts: number[] = [];
  if (options.before !== undefined) {
    const r = await rows(client, `SELECT max(seq) FROM ${q}.decisions WHERE at < $1`, [
      options.before.getTime(),
    ]);
    if (r[0]?.[0] != null) lasts.push(Number(r[0][0]));
  }
  if (options.keepLast !== undefined) {
    const r = await rows(client, `SELECT coalesce(max(seq), 0) FROM ${q}.decisions`, []);
    lasts.push(Number(r[0]?.[0] ?? 0) - Math.max(0, Math.floor(options.keepLast)));
  }
  const cut = lasts.length === 0 ? undefined : pruneCut(await checkpointsOf(client, q), Math.min(...lasts));
  if (cut === undefined || cut <= from.floor) return 0;
  const deleted = (await client.query(`DELETE FROM ${q}.decisions WHERE seq <= $1`, [cut])).rowCount ?? 0;
  await client.query(`DELETE FROM ${q}.decision_checkpoints WHERE seq < $1`, [cut]);
  await client.query(`UPDATE ${q}.decision_head SET floor = $1, mac = $2 WHERE singleton`, [
    cut,
    signer.head(from.seq, from.hash, cut),
  ]);
  return deleted;
}

/** Walks the chain in pages, inside the caller's (repeatable-read) transaction. */
async function verifyIn(client: pg.ClientBase, q: string, signer: ChainSigner, seenBefore: number) {
  const points = await checkpointsOf(client, q);
  const head = headOf((await rows(client, `SELECT ${HEAD} FROM ${q}.decision_head`, []))[0]);
  const page = async function* (): AsyncIterable<StoredRow> {
    let after = 0;
    for (;;) {
      const batch = await rows(
        client,
        `SELECT ${COLUMNS} FROM ${q}.decisions WHERE seq > $1 ORDER BY seq LIMIT 5000`,
        [after],
      );
      for (const r of batch) yield toRow(r);
      if (batch.length < 5000) return;
      after = Number(batch[batch.length - 1]![0]);
    }
  };
  return verifyChain(page(), points, head, signer, undefined, undefined, seenBefore);
}

export function createPostgresDecisionLog(
  ctx: StoreContext,
  storeId: string,
  secret: Uint8Array,
  checkpointEvery = DEFAULT_CHECKPOINT_EVERY,
  remote?: RemoteDecisionLog,
): DecisionLog {
  const signer: ChainSigner = createChainSigner(storeId, secret);
  const { q } = ctx;

  const commit = (records: readonly EncodedDecision[]): Promise<readonly ChainRow[]> =>
    withClient(
      ctx.pool,
      async (client) => {
        let committing = false;
        try {
          await client.query("BEGIN");
          const locked = await rows(
            client,
            `SELECT ${HEAD} FROM ${q}.decision_head WHERE singleton FOR UPDATE`,
            [],
          );
          if (locked[0] === undefined) throw new Error("decision_head row is missing");
          const from = trustedHead(headOf(locked[0]), signer);
          const chain = extendChain(from, records, signer, checkpointEvery);
          await writeChain(client, q, chain, ctx.now());
          committing = true;
          await client.query("COMMIT");
          // Committed: no later head may be below this one (see ChainSigner.highest).
          signer.saw(chain.head.seq);
          return chain.rows;
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined);
          // COMMIT sent and the connection lost: the records may be stored; never append twice.
          throw committing ? new NotRetryable(error) : error;
        }
      },
      true,
    );
  const grouped = groupCommit(commit);

  return {
    ...(remote === undefined ? {} : { remote }),
    async append(records) {
      if (records.length === 0) return [];
      return appended(await grouped(records.map(encodeDecision)), records);
    },

    async appendEncoded(records) {
      await grouped(records);
    },

    async read(query: DecisionQuery = {}) {
      const limit = positiveInt(query.limit, "limit") ?? DEFAULT_DECISION_PAGE;
      const where = ["seq > $1"];
      const values: unknown[] = [query.afterSeq ?? 0];
      if (query.since !== undefined) {
        values.push(query.since.getTime());
        where.push(`at >= $${values.length}`);
      }
      if (query.subject !== undefined) {
        // The needle first: strpos costs a fraction of a jsonb parse (8x less over a log, measured).
        values.push(query.subject, subjectNeedle(query.subject));
        const [s, needle] = [`$${values.length - 1}`, `$${values.length}`];
        where.push(`(subject = ${s} OR (strpos(body, ${needle}) > 0 AND ${inChain(s)}))`);
      }
      values.push(limit);
      const text = `SELECT ${COLUMNS} FROM ${q}.decisions WHERE ${where.join(" AND ")} ORDER BY seq LIMIT $${values.length}`;
      return withClient(
        ctx.pool,
        async (client) => (await rows(client, text, values)).map((r) => rowToDecision(toRow(r))),
        true,
      );
    },

    lastSeq() {
      return withClient(
        ctx.pool,
        async (client) =>
          Number((await rows(client, `SELECT coalesce(max(seq), 0) FROM ${q}.decisions`, []))[0]?.[0] ?? 0),
        true,
      );
    },

    checkpoints() {
      return withClient(
        ctx.pool,
        async (client) => (await checkpointsOf(client, q)).map(({ seq, hash, at }) => ({ seq, hash, at })),
        true,
      );
    },

    prune(options) {
      return withClient(
        ctx.pool,
        async (client) => {
          await client.query("BEGIN");
          try {
            const deleted = await pruneIn(client, q, signer, options);
            await client.query("COMMIT");
            return deleted;
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
        },
        true,
      );
    },

    verify: oneVerifyAtATime(() =>
      withClient(
        ctx.pool,
        async (client) => {
          // One snapshot for the whole walk: rows, checkpoints and head agree with each other.
          // The mark before it begins (its first read): see verifyChain's `seenBefore`.
          const seenBefore = signer.highest;
          await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
          try {
            const report = await verifyIn(client, q, signer, seenBefore);
            await client.query("COMMIT");
            return report;
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
        },
        true,
      ),
    ),
  };
}
