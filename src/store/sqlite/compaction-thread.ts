/**
 * The background history compaction of a SQLite file, in a worker thread on a connection of its
 * own. On the serving thread its deletes cost more than their own time: every commit makes the
 * read connection drop its page cache, and the work evicts the thread's CPU caches, so the first
 * checks after a batch ran several times slower (bench/README.md, "history compaction"). Both
 * sides live in this module, as in audit/writer-thread.ts: the thread runs this same module, told
 * so by its `workerData` (the bundle moves the module into a chunk, so it is found by its own URL,
 * never by a path).
 *
 * The horizon across threads: a run publishes a horizon, then (after the grace period, or at
 * once with grace 0) deletes below it. Before any delete the thread reads the published horizon
 * and sends it to the serving side, which takes it as its cached horizon and only then lets the
 * thread go on (unless the serving side has it already, from the last run's report: the usual
 * case, a run applying what the run before published); so the serving thread never answers
 * below one whose rows are going (a read snapshot already open keeps seeing the rows: WAL
 * snapshots are isolated). After each run the thread sends the horizon again, as the run left
 * it. The serving side used to drop its cached horizon instead and re-read it: on its write
 * connection, whose page cache the thread's commit had just emptied, inside the next check
 * (gc-count.ts: 13 µs at p50 in the check after a commit).
 */
import { isMainThread, parentPort, threadId, workerData } from "node:worker_threads";
import type { Revision } from "../../core/index.js";
import type { CompactionOptions, CompactionReport, HistoryHorizon } from "../history.js";
import { type PostedError, postedError, receivedError, requestThread } from "../worker-thread.js";
import { type CompactionHooks, createSqliteCompaction, type SqliteCompaction } from "./compaction.js";
import { type ConnectionOptions, openConnection } from "./connection.js";

const MARK = "latchSqliteCompaction";

type Request =
  | { readonly kind: "run"; readonly options: CompactionOptions }
  | { readonly kind: "proceed" }
  | { readonly kind: "close" };

/** The published horizon as the thread read it, and when (ms since the epoch, taken before). */
export interface ReadHorizon {
  readonly horizon: HistoryHorizon | undefined;
  readonly at: number;
}

type Reply =
  | { readonly kind: "publishing"; readonly read: ReadHorizon }
  | {
      readonly kind: "report";
      readonly report: CompactionReport;
      readonly read: ReadHorizon;
      readonly threadId: number;
    }
  | { readonly kind: "error"; readonly error: PostedError };

export interface CompactionThread {
  /** One run in the thread, after any run still going; its errors are the run's. */
  run(options: CompactionOptions): Promise<CompactionReport>;
  /** Ends a run in progress after its current batch (it resolves, horizon pending) and the thread. */
  close(): Promise<void>;
}

export interface CompactionThreadEvents {
  /**
   * The published horizon, read by the thread: after each run, and before rows below a horizon
   * go unless the last report already carried one as late (the thread then waits until this
   * returns). Keep it as the cached horizon.
   */
  horizonRead(read: ReadHorizon): void;
  /** A run finished in thread `threadId` (tests see that the work left the serving thread). */
  onRun?(threadId: number): void;
}

/** Runs compactions in a thread started on the first run and again after one dies. */
export function compactionThread(
  connection: ConnectionOptions,
  events: CompactionThreadEvents,
): CompactionThread {
  const thread = requestThread<Request, Reply>({
    moduleUrl: import.meta.url,
    workerData: { [MARK]: connection },
    name: "the compaction thread",
    interim(reply, from) {
      if (reply.kind !== "publishing") return false;
      events.horizonRead(reply.read);
      from.postMessage({ kind: "proceed" } satisfies Request);
      return true;
    },
  });
  let closed = false;
  /** The end of the last run asked for, while one is still going. */
  let queue: Promise<unknown> | undefined;
  const once = async (options: CompactionOptions): Promise<CompactionReport> => {
    if (closed) throw new Error("the store is closed: no compaction runs");
    const reply = await thread.request(() => ({ kind: "run", options }));
    if (reply.kind === "error") throw receivedError(reply.error);
    if (reply.kind !== "report") throw new Error(`the compaction thread answered ${reply.kind}`);
    events.horizonRead(reply.read);
    events.onRun?.(reply.threadId);
    return reply.report;
  };
  return {
    run(options) {
      // Posted at once when idle: a close right after still finds the run in the thread.
      const result = queue === undefined ? once(options) : queue.then(() => once(options));
      const tail: Promise<unknown> = result
        .catch(() => undefined)
        .then(() => {
          if (queue === tail) queue = undefined;
        });
      queue = tail;
      return result;
    },
    async close() {
      closed = true;
      await thread.close({ kind: "close" } satisfies Request);
    },
  };
}

/** The thread's side: one run at a time; the connection is opened by the first run. */
function serveRuns(connection: ConnectionOptions): void {
  const port = parentPort;
  if (port === null) return;
  let compaction: (SqliteCompaction & { close(): void }) | undefined;
  let closing = false;
  let proceed: (() => void) | undefined;
  /**
   * The latest horizon the serving side has surely taken: the one in the last report (it handles
   * a report before it asks for the next run) or in a `publishing` it answered. Its cached horizon
   * only moves forward, so deleting below this one needs no asking. In steady state every run
   * applies the horizon the run before reported, and each message the serving thread handles
   * makes its next check slower (gc-bench: 28-51 µs at p50 against 10).
   */
  let delivered: Revision | undefined;
  const read = (c: SqliteCompaction): ReadHorizon => {
    const at = Date.now();
    return { horizon: c.horizon(), at };
  };
  const hooks = (c: SqliteCompaction): CompactionHooks => ({
    beforeApply: async (horizon) => {
      if (delivered !== undefined && delivered >= horizon) return;
      const sent = read(c);
      await new Promise<void>((resolve) => {
        proceed = resolve;
        port.postMessage({ kind: "publishing", read: sent } satisfies Reply);
      });
      delivered = sent.horizon?.revision;
    },
    stopped: () => closing,
  });
  const run = async (options: CompactionOptions) => {
    try {
      if (compaction === undefined) {
        const { db } = openConnection(connection);
        compaction = { ...createSqliteCompaction(db, () => undefined), close: () => db.close() };
      }
      const report = await compaction.run(options, hooks(compaction));
      const sent = read(compaction);
      port.postMessage({ kind: "report", report, read: sent, threadId } satisfies Reply);
      delivered = sent.horizon?.revision;
    } catch (error) {
      port.postMessage({ kind: "error", error: postedError(error) } satisfies Reply);
    }
  };
  let turn = Promise.resolve();
  port.on("message", (request: Request) => {
    if (request.kind === "proceed" || request.kind === "close") {
      closing ||= request.kind === "close";
      const go = proceed;
      proceed = undefined;
      go?.();
    }
    if (request.kind === "run") turn = turn.then(() => run(request.options));
    if (request.kind !== "close") return;
    // After the run in progress, which stops at its next batch.
    void turn.then(() => {
      compaction?.close();
      port.close();
    });
  });
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[MARK] !== undefined) {
  serveRuns((workerData as Record<string, ConnectionOptions>)[MARK]!);
}
