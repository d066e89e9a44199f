/**
 * The audit API on the decision log (`store.decisions`), shared by the gRPC AuditService and
 * embedded mode: QueryDecisions (filters, bounded pages, an opaque cursor) and WatchDecisions
 * (records appended after a point, by polling the log, so records other replicas append on
 * PostgreSQL arrive too).
 */
import type { DecisionAnswer, DecisionLog, StoredDecision } from "../store/index.js";
import { invalidArgument } from "./errors.js";

export const DEFAULT_DECISION_PAGE_SIZE = 100;
export const MAX_DECISION_PAGE_SIZE = 1_000;
/**
 * Records one query page may scan past its filters before it answers with what it has and a
 * cursor, so a selective filter over a long log costs bounded work per call.
 */
const MAX_SCAN_PER_PAGE = 10_000;

export interface DecisionFilter {
  /** The record's subject, or any principal of its chain (`user:alice`). */
  readonly subject?: string;
  /** At or after this instant. */
  readonly since?: Date;
  /** Before this instant. */
  readonly until?: Date;
  /** The resource's type (`document`). */
  readonly resourceType?: string;
  readonly answer?: DecisionAnswer;
}

export interface DecisionQueryParams extends DecisionFilter {
  /** Default 100, at most 1,000. */
  readonly pageSize?: number;
  /** From a previous page's `cursor`. */
  readonly cursor?: string;
}

export interface DecisionPage {
  readonly decisions: readonly StoredDecision[];
  /** Present when more records may follow: pass it back as `cursor`. */
  readonly cursor?: string;
}

const CURSOR_PREFIX = "d1:";

/** The cursor after record `seq` (opaque to callers; also what WatchDecisions starts from). */
export function decisionCursor(seq: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${seq}`).toString("base64url");
}

export function decisionCursorSeq(cursor: string, field = "cursor"): number {
  const text = Buffer.from(cursor, "base64url").toString();
  const seq = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : Number.NaN;
  if (!Number.isSafeInteger(seq) || seq < 0) throw invalidArgument(field, "is not a decision cursor");
  return seq;
}

export function decisionPageSize(size: number | undefined, field = "page_size"): number {
  if (size === undefined || size === 0) return DEFAULT_DECISION_PAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_DECISION_PAGE_SIZE)
    throw invalidArgument(field, `must be between 1 and ${MAX_DECISION_PAGE_SIZE} (got ${size})`);
  return size;
}

function checkFilter(filter: DecisionFilter): void {
  if (filter.since !== undefined && !Number.isFinite(filter.since.getTime()))
    throw invalidArgument("since", "is not a valid instant");
  if (filter.until !== undefined && !Number.isFinite(filter.until.getTime()))
    throw invalidArgument("until", "is not a valid instant");
  if (filter.answer !== undefined && !["ALLOWED", "DENIED", "CONDITIONAL"].includes(filter.answer))
    throw invalidArgument("answer", `unknown answer \`${filter.answer}\``);
}

/** The filters the store does not apply itself (it applies subject and since). */
function matches(d: StoredDecision, filter: DecisionFilter): boolean {
  const r = d.record;
  if (filter.until !== undefined && Date.parse(r.time) >= filter.until.getTime()) return false;
  if (filter.answer !== undefined && r.answer !== filter.answer) return false;
  if (filter.resourceType !== undefined && r.resource.split(":", 1)[0] !== filter.resourceType) return false;
  return true;
}

/** One page of records in sequence order, oldest first. */
export async function queryDecisions(log: DecisionLog, params: DecisionQueryParams): Promise<DecisionPage> {
  const pageSize = decisionPageSize(params.pageSize);
  checkFilter(params);
  let after = params.cursor === undefined || params.cursor === "" ? 0 : decisionCursorSeq(params.cursor);
  const found: StoredDecision[] = [];
  let scanned = 0;
  while (found.length < pageSize && scanned < MAX_SCAN_PER_PAGE) {
    const batch = await log.read({
      afterSeq: after,
      limit: pageSize,
      ...(params.since === undefined ? {} : { since: params.since }),
      ...(params.subject === undefined ? {} : { subject: params.subject }),
    });
    for (const d of batch) {
      after = d.seq;
      scanned += 1;
      if (matches(d, params)) found.push(d);
      if (found.length === pageSize) break;
    }
    if (batch.length < pageSize) return { decisions: found };
  }
  return { decisions: found, cursor: decisionCursor(after) };
}

/** Resolves after `ms` or when the signal aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface WatchDecisionsOptions extends DecisionFilter {
  /** Records after this cursor (a query page's or a watched record's); from now when absent. */
  readonly after?: string;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
}

/** The seq of the log's newest record (0 when empty). */
async function newestSeq(log: DecisionLog): Promise<number> {
  // The newest checkpoint bounds the scan to the records since it (a checkpoint every 100 by default).
  const checkpoints = await log.checkpoints();
  let after = checkpoints.length === 0 ? 0 : checkpoints[checkpoints.length - 1]!.seq;
  for (;;) {
    const page = await log.read({ afterSeq: after, limit: MAX_DECISION_PAGE_SIZE });
    if (page.length > 0) after = page[page.length - 1]!.seq;
    if (page.length < MAX_DECISION_PAGE_SIZE) return after;
  }
}

/**
 * Yields the records appended after the start, in sequence order, with the cursor after each,
 * polling the log when idle. Ends when the signal aborts.
 */
export async function* watchDecisions(
  log: DecisionLog,
  options: WatchDecisionsOptions = {},
): AsyncGenerator<{ readonly decision: StoredDecision; readonly cursor: string }> {
  checkFilter(options);
  const signal = options.signal;
  let after =
    options.after === undefined || options.after === ""
      ? await newestSeq(log)
      : decisionCursorSeq(options.after, "after");
  const pollMs = options.pollMs ?? 200;
  // A function, so that the check after each yield reads the signal again.
  const stopped = () => signal?.aborted === true;
  // A filter the store applies reads records it does not return: the newest seq, read before a
  // read that comes back short, is how far that read has looked (see DecisionLog.lastSeq).
  const filtered = options.subject !== undefined || options.since !== undefined;
  while (!stopped()) {
    const newest = filtered ? await log.lastSeq?.() : undefined;
    const batch = await log.read({
      afterSeq: after,
      limit: MAX_DECISION_PAGE_SIZE,
      ...(options.subject === undefined ? {} : { subject: options.subject }),
      ...(options.since === undefined ? {} : { since: options.since }),
    });
    for (const d of batch) {
      after = d.seq;
      if (stopped()) return;
      if (matches(d, options)) yield { decision: d, cursor: decisionCursor(d.seq) };
    }
    if (batch.length < MAX_DECISION_PAGE_SIZE) {
      if (newest !== undefined && newest > after) after = newest;
      await pause(pollMs, signal);
    }
  }
}
