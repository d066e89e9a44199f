/**
 * The decision log's chain: what a record is, how it is encoded and hashed, how checkpoints are
 * signed and how a stored chain is verified. Every backend stores the same rows and calls these
 * functions, so a chain written by SQLite verifies like one written by PostgreSQL.
 *
 * The chain. Record n (sequence numbers start at 1, gap-free) stores `body`, its canonical JSON
 * (below), and `hash` = hex SHA-256 of `"latch-decision-v1\n" + n + "\n" + prev + "\n" + body`,
 * where `prev` is the hash of record n-1 (64 zeros for record 1). Editing a body, deleting or
 * reordering records breaks a hash or a link, and the walk names the first record where it breaks.
 *
 * Checkpoints and the head. Every `checkpointEvery` records the append also stores a checkpoint
 * (seq, hash) and, with every append, the head (the last seq and hash), each with an HMAC-SHA256
 * keyed by a key derived from the store's token secret. Truncating the end of the chain is caught
 * against the head and the checkpoints; pruning keeps the checkpoint it cut at, from which verify
 * starts. The key lives in the datastore, so the signatures prove the log untouched by anyone who
 * could edit its rows but not read the store's secret; against a database administrator, keep the
 * head hash elsewhere (`latch audit verify` prints it).
 *
 * Canonical JSON: objects with their keys sorted by code unit, no whitespace, `undefined` members
 * left out, strings and finite numbers as JSON.stringify writes them, bigints as decimal strings.
 */
import crypto, { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { StoreError } from "./errors.js";
import { nextTurn } from "./next-turn.js";

export type DecisionAnswer = "ALLOWED" | "DENIED" | "CONDITIONAL" | "APPROVAL_REQUIRED";

/** One caveat evaluated for a decision: its name and what it came to. */
export interface DecisionCaveat {
  readonly name: string;
  readonly result: "true" | "false" | "missing" | "error";
}

/** What is recorded of one decision. Objects and subjects are written as `type:id[#relation]`. */
export interface DecisionRecord {
  /** ISO 8601 instant (UTC) of the decision. */
  readonly time: string;
  readonly requestId?: string;
  /** The caller's name (never a secret). */
  readonly caller?: string;
  /** Which call decided: `check`, `check-bulk`, `lookup-resources`. */
  readonly operation: string;
  readonly subject: string;
  /** The principals the subject acted for, nearest first. */
  readonly onBehalfOf?: readonly string[];
  /** How the subject's own grants counted, when the request said (`not-required`: delegated only). */
  readonly subjectGrants?: string;
  readonly resource: string;
  readonly permission: string;
  readonly answer: DecisionAnswer;
  /** Caveat parameters a CONDITIONAL answer lacks. */
  readonly missing?: readonly string[];
  readonly caveats?: readonly DecisionCaveat[];
  /** The request's caveat context, values redacted unless loggable. */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly consistency?: string;
  /** The revision decided at, in decimal. */
  readonly revision?: string;
  /** The approval that made the answer ALLOWED, or (with operation `approval-*`) the one a step was on. */
  readonly approvalId?: string;
  /** The approval rule that gated the action (src/approvals). */
  readonly approvalRule?: string;
  /** Time the decision took, in microseconds. */
  readonly latencyUs?: number;
  /** Relationships that proved an ALLOWED answer. */
  readonly witness?: readonly string[];
  /** Why a gate on the seam answered DENIED (e.g. outside an actor token's scope). */
  readonly reason?: string;
  /**
   * Recorded only because it was drawn in the audit `sample` of plain decisions (no chain, not
   * DENIED): the log holds a share of those, not all of them.
   */
  readonly sampled?: boolean;
}

/** A record as stored: its place in the chain. */
export interface StoredDecision {
  readonly seq: number;
  readonly record: DecisionRecord;
  readonly prevHash: string;
  readonly hash: string;
}

export interface DecisionCheckpoint {
  readonly seq: number;
  readonly hash: string;
  /** ms since the epoch when it was written. */
  readonly at: number;
}

export interface DecisionQuery {
  /** Records with seq greater than this (paging). */
  readonly afterSeq?: number;
  /** Records at or after this time. */
  readonly since?: Date;
  /** Records whose subject is exactly this, or whose chain holds it. */
  readonly subject?: string;
  /** Most records to return (default 1,000). */
  readonly limit?: number;
}

export interface PruneOptions {
  /** Delete records older than this. */
  readonly before?: Date;
  /** Keep at least this many of the newest records. */
  readonly keepLast?: number;
}

export type VerifyProblem =
  | "edited"
  | "missing"
  | "out-of-order"
  | "truncated"
  | "bad-checkpoint"
  | "bad-head";

export interface VerifyReport {
  readonly ok: boolean;
  /** Records walked. */
  readonly records: number;
  readonly firstSeq?: number | undefined;
  readonly lastSeq?: number | undefined;
  /** The signed head: the chain's last seq and hash. */
  readonly head?: { readonly seq: number; readonly hash: string } | undefined;
  /** Present when not ok: the first bad record (or checkpoint) and why. */
  readonly problem?: { readonly seq: number; readonly kind: VerifyProblem; readonly message: string };
}

/**
 * The decision log of a datastore: appended in a hash chain, one writer at a time (across
 * replicas on PostgreSQL), read in sequence order.
 */
export interface DecisionLog {
  /** Appends the records, in order, in one transaction; resolves once they are committed. */
  append(records: readonly DecisionRecord[]): Promise<readonly StoredDecision[]>;
  /**
   * `append` for records already in their stored form, as `encodeDecision` gives it or as the
   * audit writer thread builds it straight from a captured batch (audit/record.ts), so that no
   * record object is built, checked and encoded for it. Nothing is returned: the writer needs nothing.
   * Both backends have it; a log without it (a wrapper) is given records through `append`.
   */
  appendEncoded?(records: readonly EncodedDecision[]): Promise<void>;
  /** Records in sequence order, filtered. */
  read(query?: DecisionQuery): Promise<readonly StoredDecision[]>;
  /** The kept checkpoints, oldest first. */
  checkpoints(): Promise<readonly DecisionCheckpoint[]>;
  /**
   * The newest record's seq (0 when empty), read off the index: what a short filtered read has
   * scanned to, so a watch by a rare subject moves past records it has read instead of reading
   * them again at every poll. Optional: a log without it (a wrapper) is read again from the cursor.
   */
  lastSeq?(): Promise<number>;
  /**
   * Deletes the oldest records, a whole prefix up to a checkpoint (kept as the new anchor), so
   * that verify still passes; returns how many records were deleted.
   */
  prune(options: PruneOptions): Promise<number>;
  /** Walks the chain from the oldest kept record and names the first bad one. */
  verify(): Promise<VerifyReport>;
  /**
   * How another thread opens this same log on a connection of its own (the audit trail appends
   * from a writer thread); absent where no other connection can reach it (SQLite `:memory:`).
   */
  readonly remote?: RemoteDecisionLog;
}

/**
 * Plain data (it crosses to a worker thread): `module` is the URL of the backend module whose
 * loading registers the opener named `backend` (`registerDecisionLogOpener`), and `options` is
 * what that opener takes. No secret: the opener reads the store's own from the datastore.
 */
export interface RemoteDecisionLog {
  readonly backend: string;
  readonly module: string;
  readonly options: unknown;
}

/** A log opened on a connection of its own, closed with it. */
export interface OpenedDecisionLog {
  readonly log: DecisionLog;
  close(): Promise<void>;
}

type DecisionLogOpener = (options: unknown) => Promise<OpenedDecisionLog>;

/**
 * Backends register their opener when their module loads. A registry rather than an export by
 * name, because the bundle (scripts/bundle.mjs) moves a backend into a chunk whose exports are
 * renamed: loading the chunk by its own URL still runs the registration.
 */
const openers = new Map<string, DecisionLogOpener>();

export function registerDecisionLogOpener(backend: string, open: DecisionLogOpener): void {
  openers.set(backend, open);
}

/** Opens, in this thread, the log another thread described (`DecisionLog.remote`). */
export async function openRemoteDecisionLog(remote: RemoteDecisionLog): Promise<OpenedDecisionLog> {
  if (!openers.has(remote.backend)) await import(remote.module);
  const open = openers.get(remote.backend);
  if (open === undefined)
    throw new Error(`no decision log opener \`${remote.backend}\` in module ${remote.module}`);
  return open(remote.options);
}

export const GENESIS_HASH = "0".repeat(64);

/** Records between two checkpoints, unless a store is configured otherwise. */
export const DEFAULT_CHECKPOINT_EVERY = 100;

/**
 * A value whose canonical JSON is what JSON.stringify writes: plain objects whose own keys come
 * in canonical (sorted) order, arrays, strings, booleans, null, finite numbers and `undefined`
 * members, all the way down. Records built with their keys in that order (audit/record.ts) are
 * encoded by one JSON.stringify instead of one call per field; anything else takes the general
 * path below, so the encoding is the same either way.
 */
function stringifiesCanonically(value: unknown, depth: number): boolean {
  if (value === null || value === undefined) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (depth > 32) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          // A hole: the general path's business.
          if (!(i in value) || !stringifiesCanonically(value[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      let previous: string | undefined;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false;
        if (previous !== undefined && !(previous < key)) return false;
        previous = key;
        if (!stringifiesCanonically((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

export function canonicalJson(value: unknown): string {
  if (typeof value === "object" && value !== null && stringifiesCanonically(value, 0))
    return JSON.stringify(value);
  return generalCanonicalJson(value);
}

function generalCanonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("canonical JSON: a number is not finite");
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return JSON.stringify(value.toString());
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v) => generalCanonicalJson(v ?? null)).join(",")}]`;
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const keys = Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      const parts = keys.map(
        (k) => `${JSON.stringify(k)}:${generalCanonicalJson((value as Record<string, unknown>)[k])}`,
      );
      return `{${parts.join(",")}}`;
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof value}`);
  }
}

// One-shot hashing (Node >= 20.12) skips building a Hash object per record: the same digest.
const sha256Hex: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === "function"
    ? (text) =>
        (crypto as unknown as { hash(a: string, d: string, e: string): string }).hash("sha256", text, "hex")
    : (text) => createHash("sha256").update(text).digest("hex");

/** What record `seq`'s hash is taken of, up to its body. */
const chainPrefix = (seq: number, prevHash: string) => `latch-decision-v1\n${seq}\n${prevHash}\n`;

export function chainHash(seq: number, prevHash: string, body: string): string {
  return sha256Hex(chainPrefix(seq, prevHash) + body);
}

/**
 * Signs checkpoints and the head with a key derived from the store's token secret. The head's
 * signature also covers its floor (the seq pruning last cut at), so deleting a prefix of the
 * chain is caught unless done by `prune`, which re-signs the head.
 */
export interface ChainSigner {
  checkpoint(seq: number, hash: string): string;
  head(seq: number, hash: string, floor: number): string;
  checkCheckpoint(point: SignedPoint): boolean;
  checkHead(head: SignedHead): boolean;
  /**
   * The highest head this log has committed or trusted. A signed head is no proof of being the
   * latest: an old copy of the head row put back over a truncated end verifies. A head below this
   * mark was put back, and is refused (`trustedHead`) and reported (`verifyChain`).
   */
  readonly highest: number;
  /** Raises `highest` to `seq`: an append's head once committed, a head read and trusted. */
  saw(seq: number): void;
}

export function createChainSigner(storeId: string, secret: Uint8Array): ChainSigner {
  const key = createHmac("sha256", Buffer.from(secret)).update("latch decision log").digest();
  const sign = (text: string) => createHmac("sha256", key).update(`${storeId}\n${text}`).digest("hex");
  const same = (mac: string, want: string) => {
    const a = Buffer.from(mac, "hex");
    const b = Buffer.from(want, "hex");
    return a.length === b.length && timingSafeEqual(a, b);
  };
  const checkpoint = (seq: number, hash: string) => sign(`checkpoint\n${seq}\n${hash}`);
  const head = (seq: number, hash: string, floor: number) => sign(`head\n${seq}\n${hash}\n${floor}`);
  let highest = 0;
  return {
    checkpoint,
    head,
    checkCheckpoint: (p) => same(p.mac, checkpoint(p.seq, p.hash)),
    checkHead: (h) => same(h.mac, head(h.seq, h.hash, h.floor)),
    get highest() {
      return highest;
    },
    saw(seq) {
      if (seq > highest) highest = seq;
    },
  };
}

/**
 * A record in its stored form: its canonical JSON (`body`, hashed as it is) and the copies of its
 * time (ms since the epoch, `Date.parse` of its `time`) and subject that the rows index.
 */
export interface EncodedDecision {
  readonly at: number;
  readonly subject: string;
  readonly body: string;
}

/** A record's stored form; throws when its time is not an ISO 8601 instant. */
export function encodeDecision(record: DecisionRecord): EncodedDecision {
  const at = parseTime(record.time);
  if (!Number.isFinite(at)) throw invalidRecord(`time \`${record.time}\` is not an ISO 8601 instant`);
  return { at, subject: record.subject, body: canonicalJson(record) };
}

/** A row to insert: what an append computes under the backend's lock. */
export interface ChainRow {
  readonly seq: number;
  readonly at: number;
  readonly subject: string;
  readonly body: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface SignedPoint {
  readonly seq: number;
  readonly hash: string;
  readonly mac: string;
}

/** The chain's end (seq, hash) and where its kept part starts (after `floor`), signed. */
export interface SignedHead extends SignedPoint {
  readonly floor: number;
}

/** The head of a log nothing was appended to. */
export const EMPTY_HEAD = { seq: 0, hash: GENESIS_HASH, floor: 0 } as const;

export interface ChainAppend {
  readonly rows: readonly ChainRow[];
  readonly checkpoints: readonly SignedPoint[];
  readonly head: SignedHead;
}

/** The rows, checkpoints and new head of appending `records` after `head`. */
export function extendChain(
  head: { readonly seq: number; readonly hash: string; readonly floor: number },
  records: readonly EncodedDecision[],
  signer: ChainSigner,
  checkpointEvery: number,
): ChainAppend {
  const rows: ChainRow[] = [];
  const checkpoints: SignedPoint[] = [];
  let { seq, hash } = head;
  for (const record of records) {
    seq += 1;
    const prefix = chainPrefix(seq, hash);
    const hashed = prefix + record.body;
    const next = sha256Hex(hashed);
    // The same text as the record's body, cut from the hashed text, which hashing flattened (V8
    // joins the pieces of a concatenated string into one at its first read as bytes): the row
    // then refers to that flat copy, and storing it copies no pieces together again (the body of
    // a record built by concatenation, audit/record.ts, is many).
    const body = hashed.slice(prefix.length);
    rows.push({ seq, at: record.at, subject: record.subject, body, prevHash: hash, hash: next });
    hash = next;
    if (seq % checkpointEvery === 0) checkpoints.push({ seq, hash, mac: signer.checkpoint(seq, hash) });
  }
  return {
    rows,
    checkpoints,
    head: { seq, hash, floor: head.floor, mac: signer.head(seq, hash, head.floor) },
  };
}

/** The value of decimal digits `from` to `to` (exclusive) of `text`, or NaN. */
function digits(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * `Date.parse(time)`, read directly where the time has the form the recorder writes
 * (`2026-05-15T14:00:02.123Z`, plain fields in range): `Date.parse` costs about 2,400 instructions,
 * a few percent of the writer thread's work on a record. Anything else goes to `Date.parse`.
 */
export function parseTime(time: string): number {
  if (time.length === 24 && time.charCodeAt(23) === 90 /* Z */) {
    const year = digits(time, 0, 4);
    const month = digits(time, 5, 7);
    const day = digits(time, 8, 10);
    const hour = digits(time, 11, 13);
    const minute = digits(time, 14, 16);
    const second = digits(time, 17, 19);
    const ms = digits(time, 20, 23);
    const punctuation =
      time[4] === "-" && time[7] === "-" && time[10] === "T" && time[13] === ":" && time[16] === ":";
    // Years below 100 are taken as 19xx by Date.UTC: those, and anything out of range, go the slow way.
    if (punctuation && time[19] === "." && year >= 100 && month >= 1 && month <= 12 && day >= 1)
      if (day <= 31 && hour <= 23 && minute <= 59 && second <= 59)
        return Date.UTC(year, month - 1, day, hour, minute, second, ms);
  }
  return Date.parse(time);
}

function invalidRecord(why: string): StoreError {
  return new StoreError("request/invalid-argument", "invalid-argument", `decision record: ${why}`, {
    field: "record",
  });
}

/** A stored row as verify reads it (`at` and `subject` are the indexed copies of the body's). */
export type StoredRow = ChainRow;

export function rowToDecision(row: StoredRow): StoredDecision {
  return {
    seq: row.seq,
    record: JSON.parse(row.body) as DecisionRecord,
    prevHash: row.prevHash,
    hash: row.hash,
  };
}

/**
 * What an append returns: the rows it stored, each with the record it was given (equal to its
 * parsed body, so no parse is spent on it).
 */
export function appended(rows: readonly ChainRow[], records: readonly DecisionRecord[]): StoredDecision[] {
  return rows.map((row, i) => ({
    seq: row.seq,
    record: records[i]!,
    prevHash: row.prevHash,
    hash: row.hash,
  }));
}

/**
 * Walks a stored chain. `rows` yields every kept record in seq order; `checkpoints` are all kept
 * ones (any order); `head` is the signed head, absent when nothing was ever appended. `pause` lets
 * the event loop turn after each `checkpointsPerTurn` signatures checked (tests set both).
 */
export async function verifyChain(
  rows: AsyncIterable<StoredRow>,
  checkpoints: readonly SignedPoint[],
  head: SignedHead | undefined,
  signer: ChainSigner,
  pause: () => Promise<void> = nextTurn,
  checkpointsPerTurn: number = CHECKPOINTS_PER_TURN,
  /**
   * `signer.highest` taken before the snapshot began: appends this log commits while the walk
   * reads an older snapshot raise the mark past the snapshot's head, and are no rollback.
   */
  seenBefore: number = signer.highest,
): Promise<VerifyReport> {
  const sorted = [...checkpoints].sort((a, b) => a.seq - b.seq);
  let records = 0;
  let firstSeq: number | undefined;
  let lastSeq: number | undefined;
  const fail = (seq: number, kind: VerifyProblem, message: string): VerifyReport => ({
    ok: false,
    records,
    firstSeq,
    lastSeq,
    head: head && { seq: head.seq, hash: head.hash },
    problem: { seq, kind, message },
  });
  const unsigned = await firstUnsigned(sorted, signer, pause, checkpointsPerTurn);
  if (unsigned !== undefined)
    return fail(
      unsigned.seq,
      "bad-checkpoint",
      `checkpoint at record ${unsigned.seq} is not signed by this store`,
    );
  if (head !== undefined && !signer.checkHead(head))
    return fail(head.seq, "bad-head", "the chain's head is not signed by this store");
  if ((head?.seq ?? 0) < seenBefore)
    return fail((head?.seq ?? 0) + 1, "truncated", wentBack(seenBefore, head?.seq ?? 0));
  if (head !== undefined) signer.saw(head.seq);
  const bySeq = new Map(sorted.map((cp) => [cp.seq, cp]));
  const floor = head?.floor ?? 0;
  // The kept chain hangs from the genesis, or from the checkpoint pruning last cut at.
  const anchor = floor === 0 ? { seq: 0, hash: GENESIS_HASH } : bySeq.get(floor);
  if (anchor === undefined)
    return fail(
      floor,
      "bad-checkpoint",
      `the checkpoint at record ${floor}, where the kept chain starts, is missing`,
    );
  let prev: { seq: number; hash: string } = anchor;
  for await (const row of rows) {
    if (row.seq <= prev.seq)
      return fail(
        row.seq,
        "out-of-order",
        `record ${row.seq} is before the start of the kept chain or out of order`,
      );
    if (row.seq !== prev.seq + 1)
      return fail(prev.seq + 1, "missing", `record ${prev.seq + 1} is missing (deleted)`);
    if (row.prevHash !== prev.hash)
      return fail(
        row.seq,
        "out-of-order",
        `record ${row.seq} does not follow record ${prev.seq} (moved, replaced or reordered)`,
      );
    if (chainHash(row.seq, row.prevHash, row.body) !== row.hash)
      return fail(row.seq, "edited", `record ${row.seq} was edited: its content does not match its hash`);
    if (!indexedCopiesMatch(row))
      return fail(
        row.seq,
        "edited",
        `record ${row.seq} was edited: its time or subject column differs from its content`,
      );
    const cp = bySeq.get(row.seq);
    if (cp !== undefined && cp.hash !== row.hash)
      return fail(row.seq, "edited", `record ${row.seq} does not match the checkpoint signed at it`);
    firstSeq ??= row.seq;
    records += 1;
    lastSeq = row.seq;
    prev = { seq: row.seq, hash: row.hash };
  }
  const end = prev.seq;
  const newest = sorted[sorted.length - 1];
  if (newest !== undefined && newest.seq > end)
    return fail(
      end + 1,
      "truncated",
      `the chain ends at record ${end} but a checkpoint was signed at ${newest.seq}: truncated`,
    );
  if (head === undefined) {
    if (end > 0) return fail(1, "bad-head", "records are stored but the chain has no head");
  } else {
    if (head.seq > end)
      return fail(
        end + 1,
        "truncated",
        `the chain ends at record ${end} but its head is at ${head.seq}: truncated`,
      );
    if (head.seq < end)
      return fail(head.seq + 1, "out-of-order", `record ${head.seq + 1} is past the chain's signed head`);
    if (head.hash !== prev.hash)
      return fail(end, "edited", `record ${end} does not match the chain's signed head`);
  }
  return { ok: true, records, firstSeq, lastSeq, head: head && { seq: head.seq, hash: head.hash } };
}

/**
 * `verify` once at a time: a call while a walk runs gets that walk's report (of the log as it was
 * when the walk began, moments before). A walk reads and hashes the whole log, a few seconds a
 * million records; callers arriving together would each pay it (and, on SQLite, each pin a WAL
 * snapshot) for the same answer.
 */
export function oneVerifyAtATime(verify: () => Promise<VerifyReport>): () => Promise<VerifyReport> {
  let running: Promise<VerifyReport> | undefined;
  return () => {
    running ??= verify().finally(() => {
      running = undefined;
    });
    return running;
  };
}

/** An HMAC costs about 4 µs: a million records' 10,000 checkpoints would hold the loop 40 ms. */
const CHECKPOINTS_PER_TURN = 1_000;

/** The first checkpoint whose signature is wrong, checked a slice per turn of the event loop. */
async function firstUnsigned(
  points: readonly SignedPoint[],
  signer: ChainSigner,
  pause: () => Promise<void>,
  perTurn: number,
): Promise<SignedPoint | undefined> {
  for (let i = 0; i < points.length; i++) {
    if (i > 0 && i % perTurn === 0) await pause();
    if (!signer.checkCheckpoint(points[i]!)) return points[i];
  }
  return undefined;
}

function indexedCopiesMatch(row: StoredRow): boolean {
  try {
    const record = JSON.parse(row.body) as DecisionRecord;
    return record.subject === row.subject && Date.parse(record.time) === row.at;
  } catch {
    return false;
  }
}

/** The seq pruning may cut at: the newest checkpoint at or below the last record the options drop. */
export function pruneCut(
  checkpoints: readonly { readonly seq: number }[],
  lastDropped: number,
): number | undefined {
  let cut: number | undefined;
  for (const cp of checkpoints)
    if (cp.seq <= lastDropped && (cut === undefined || cp.seq > cut)) cut = cp.seq;
  return cut;
}

export const DEFAULT_DECISION_PAGE = 1_000;

/**
 * Text every body that names `subject` in its `onBehalfOf` contains: a cheap necessary condition
 * to test before a JSON parser reads the body (a read by subject passes over every record). Bodies
 * are canonical JSON, strings written as JSON.stringify writes them, so this is exact even for a
 * subject outside the grammar. A valid one (`type:id[#relation]`, src/core/relationship-string.ts:
 * `a-z 0-9 _ /` in names, `a-zA-Z0-9/_|-=+` in ids, and `:` `#` `*`) holds nothing JSON.stringify
 * escapes (`"`, `\`, control characters, lone surrogates): it is the subject in quotes. The quotes
 * keep a witness (`doc#viewer@user:alice`) or a longer id (`user:alice2`) from passing.
 */
export function subjectNeedle(subject: string): string {
  return JSON.stringify(subject);
}

/**
 * Group commit: while one append transaction is in flight, later appends wait and then go
 * together in the next one, so N concurrent callers cost about two transactions, not N. Each caller
 * gets its own records back, or the error of the transaction that held them.
 */
export function groupCommit<T, R>(
  commit: (records: readonly T[]) => Promise<readonly R[]>,
  maxBatch = 1_000,
): (records: readonly T[]) => Promise<readonly R[]> {
  interface Waiter {
    readonly records: readonly T[];
    resolve(stored: readonly R[]): void;
    reject(error: unknown): void;
  }
  const queue: Waiter[] = [];
  let running = false;
  const drain = async (): Promise<void> => {
    running = true;
    while (queue.length > 0) {
      const batch: Waiter[] = [];
      let size = 0;
      while (queue.length > 0 && (batch.length === 0 || size + queue[0]!.records.length <= maxBatch)) {
        const next = queue.shift()!;
        batch.push(next);
        size += next.records.length;
      }
      try {
        const stored = await commit(batch.flatMap((w) => w.records));
        let at = 0;
        for (const w of batch) {
          w.resolve(stored.slice(at, at + w.records.length));
          at += w.records.length;
        }
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    running = false;
  };
  return (records) => {
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      queue.push({ records, resolve, reject });
      if (!running) void drain();
    });
  };
}

function wentBack(highest: number, seq: number): string {
  return `the decision log's head went back from record ${highest}, seen by this process, to ${seq}: the records after ${seq} were removed and an older head put back`;
}

/**
 * The head to append after or prune under: a forged head is refused, never signed again (that
 * would hide whatever it hides, such as a truncated end). `latch audit verify` says what is wrong.
 */
export function trustedHead(
  head: SignedHead | undefined,
  signer: ChainSigner,
): { readonly seq: number; readonly hash: string; readonly floor: number } {
  const seq = head?.seq ?? 0;
  if (seq < signer.highest)
    throw new StoreError(
      "store/corrupt",
      "internal",
      `${wentBack(signer.highest, seq)}. Nothing more is appended or pruned; run \`latch audit verify\`.`,
    );
  if (head === undefined) return EMPTY_HEAD;
  if (signer.checkHead(head)) {
    signer.saw(head.seq);
    return head;
  }
  throw new StoreError(
    "store/corrupt",
    "internal",
    "the decision log's head is not signed by this store: the log was altered. Nothing more is appended or pruned; run `latch audit verify` to find where.",
  );
}
