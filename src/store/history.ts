/**
 * History compaction ("GC"): what both backends share.
 *
 * Every write keeps the versions it replaces, the changes feed and every schema, so reads pinned to
 * an old revision (tokens, cursors, Watch) answer exactly. Compaction removes what no revision
 * younger than the GC window can see. It works against a *horizon* H, a revision:
 * - reads, cursors and the changes feed at a revision before H are refused (`revision/compacted`);
 * - relationship versions closed at or before H, changes at or before H, schemas superseded at H
 *   and revision rows before H are invisible from H on, so deleting them changes no accepted read.
 *
 * H is the newest revision committed at least a window ago (the state that was in force then), so
 * a token stays valid for at least the window. A horizon is *published* first (stored, and then
 * refused by every replica) and *applied* (rows deleted) only once it has been published for the
 * grace period: a request that passed the check just before publication (replicas cache the
 * horizon for at most `HORIZON_CACHE_MS`) finishes before its rows go, so no read is ever answered
 * from half-compacted history. A run applies a matured horizon, then publishes the next one.
 */
import { LatchError, type Revision } from "../core/index.js";

/** Default GC window: tokens stay valid for at least a day. */
export const DEFAULT_GC_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Default time between background compaction runs. */
export const DEFAULT_GC_INTERVAL_MS = 5 * 60 * 1000;
/** Default time between publishing a horizon and deleting below it; longer than any request. */
export const DEFAULT_GC_GRACE_MS = 2 * 60 * 1000;
/** Default rows per delete transaction: short enough that writers barely wait for it. */
export const DEFAULT_GC_BATCH = 1_000;
/** How long a replica may answer from its cached horizon; far below the grace period. */
export const HORIZON_CACHE_MS = 1_000;

/** The published horizon: reads before `revision` are refused. */
export interface HistoryHorizon {
  readonly revision: Revision;
  /** The window the compaction that published it used, for messages. */
  readonly windowMs: number;
}

export interface CompactionOptions {
  /** Keep history younger than this (default 24 h). */
  readonly windowMs?: number;
  /** Wait this long between publishing a horizon and deleting below it (default 2 min). */
  readonly graceMs?: number;
  /** Rows per delete transaction (default 1,000). */
  readonly batchSize?: number;
  /** Count what a compaction would remove, change nothing. */
  readonly dryRun?: boolean;
  /** Clock, ms since the epoch (default Date.now); tests move it. */
  readonly now?: number;
  /**
   * Run off the thread that serves requests where the backend can (a SQLite file: a worker thread
   * on a connection of its own, so the deletes neither hold this thread nor evict its caches).
   * The background compactor sets it; `latch gc` runs in place.
   */
  readonly background?: boolean;
}

/** What a run removed (or, with `dryRun`, would remove once its horizon is applied). */
export interface CompactionReport {
  readonly dryRun: boolean;
  /** Set when another replica holds the compaction lock: this run did nothing. */
  readonly skipped?: "locked";
  /**
   * The horizon in force after the run (reads before it are refused); 0 when none yet. In a dry
   * run, the horizon the run would compact up to.
   */
  readonly horizon: Revision;
  /** The horizon deleted below so far. */
  readonly applied: Revision;
  /** A horizon published but not yet applied (its grace period is running), if any. */
  readonly pending?: Revision;
  readonly relationshipVersions: number;
  readonly changes: number;
  readonly schemas: number;
  readonly revisions: number;
}

/** The stored compaction state (key/value rows of the store's metadata table). */
export interface CompactionState {
  readonly horizon: Revision;
  readonly publishedAt: number;
  readonly applied: Revision;
  readonly windowMs: number;
}

export const STATE_KEYS = {
  horizon: "gc_horizon",
  publishedAt: "gc_published_at",
  applied: "gc_applied",
  windowMs: "gc_window_ms",
} as const;

export function readState(get: (key: string) => string | undefined): CompactionState {
  const num = (key: string) => {
    const v = get(key);
    return v === undefined ? 0 : Number(v);
  };
  return {
    horizon: BigInt(get(STATE_KEYS.horizon) ?? "0"),
    publishedAt: num(STATE_KEYS.publishedAt),
    applied: BigInt(get(STATE_KEYS.applied) ?? "0"),
    windowMs: num(STATE_KEYS.windowMs),
  };
}

export interface ResolvedCompaction {
  readonly windowMs: number;
  readonly graceMs: number;
  readonly batchSize: number;
  readonly dryRun: boolean;
  readonly now: number;
}

function nonNegative(value: number | undefined, fallback: number, name: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new LatchError(
      "store/invalid-limit",
      "invalid-argument",
      `compaction ${name} must be an integer of at least ${min}, got ${value}.`,
    );
  }
  return value;
}

export function resolveCompaction(options: CompactionOptions): ResolvedCompaction {
  return {
    windowMs: nonNegative(options.windowMs, DEFAULT_GC_WINDOW_MS, "window (ms)"),
    graceMs: nonNegative(options.graceMs, DEFAULT_GC_GRACE_MS, "grace (ms)"),
    batchSize: nonNegative(options.batchSize, DEFAULT_GC_BATCH, "batch size", 1),
    dryRun: options.dryRun === true,
    now: options.now ?? Date.now(),
  };
}

/** "24h", "90m", "45s", "1500ms": the window as people write it. */
export function formatWindow(ms: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export function compactedError(revision: Revision, horizon: HistoryHorizon): LatchError {
  return new LatchError(
    "revision/compacted",
    "failed-precondition",
    `revision ${revision} is older than the GC window (${formatWindow(horizon.windowMs)}): its history has been compacted and the oldest revision this store still answers at is ${horizon.revision}. Retry with a newer revision token, or with minimize-latency or full consistency.`,
    {
      revision: revision.toString(),
      oldestRevision: horizon.revision.toString(),
      gcWindow: formatWindow(horizon.windowMs),
    },
  );
}

/** Refuses a revision before the horizon. */
export function checkRetained(revision: Revision, horizon: HistoryHorizon | undefined): void {
  if (horizon !== undefined && revision < horizon.revision) throw compactedError(revision, horizon);
}

/**
 * A horizon read at most once per `HORIZON_CACHE_MS`: the check on every request costs a clock
 * read, and a horizon published elsewhere is seen well within the grace period.
 */
export function cachedHorizon(
  read: () => Promise<HistoryHorizon | undefined>,
  clock: () => number = Date.now,
): {
  get(): Promise<HistoryHorizon | undefined>;
  /** The cached horizon while fresh (`null`: none), else undefined: `get` must read it. */
  fresh(): HistoryHorizon | null | undefined;
  invalidate(): void;
} {
  let value: HistoryHorizon | undefined;
  let at = Number.NEGATIVE_INFINITY;
  let inflight: Promise<HistoryHorizon | undefined> | undefined;
  // Bumped by `invalidate`: a read begun before it may have seen the horizon it was called for
  // not yet published, so its answer must not be kept as fresh (nor joined by later callers).
  let generation = 0;
  return {
    async get() {
      if (clock() - at < HORIZON_CACHE_MS) return value;
      if (inflight !== undefined) return inflight;
      const started = clock();
      const begun = generation;
      const reading: Promise<HistoryHorizon | undefined> = read().then(
        (h) => {
          if (begun === generation) {
            value = h;
            // Its age counts from when the read began: the horizon may have moved during it.
            at = started;
          }
          if (inflight === reading) inflight = undefined;
          return h;
        },
        (error: unknown) => {
          if (inflight === reading) inflight = undefined;
          throw error;
        },
      );
      inflight = reading;
      return reading;
    },
    fresh() {
      if (clock() - at < HORIZON_CACHE_MS) return value ?? null;
      return undefined;
    },
    invalidate() {
      generation++;
      at = Number.NEGATIVE_INFINITY;
      inflight = undefined;
    },
  };
}

/** The horizon a state enforces, or undefined when nothing was ever compacted. */
export function horizonOf(state: CompactionState): HistoryHorizon | undefined {
  return state.horizon > 0n ? { revision: state.horizon, windowMs: state.windowMs } : undefined;
}

export interface CompactionSchedule {
  readonly windowMs?: number;
  readonly intervalMs?: number;
  readonly graceMs?: number;
  readonly batchSize?: number;
  readonly onReport?: (report: CompactionReport) => void;
  readonly onError?: (error: unknown) => void;
}

/**
 * Compacts in the background every `intervalMs` (default 5 min), one run at a time; every replica
 * may run one (on PostgreSQL the lock lets one work and the others skip). Returns a stop function.
 */
export function scheduleCompaction(
  store: { compactHistory?(options?: CompactionOptions): Promise<CompactionReport> },
  schedule: CompactionSchedule = {},
): () => void {
  const compact = store.compactHistory?.bind(store);
  if (compact === undefined) return () => undefined;
  const options: CompactionOptions = {
    background: true,
    ...(schedule.windowMs === undefined ? {} : { windowMs: schedule.windowMs }),
    ...(schedule.graceMs === undefined ? {} : { graceMs: schedule.graceMs }),
    ...(schedule.batchSize === undefined ? {} : { batchSize: schedule.batchSize }),
  };
  resolveCompaction(options); // bad settings fail now, not on the first tick
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    compact(options)
      .then(
        (report) => schedule.onReport?.(report),
        (error: unknown) => schedule.onError?.(error),
      )
      .finally(() => {
        running = false;
      });
  }, schedule.intervalMs ?? DEFAULT_GC_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
