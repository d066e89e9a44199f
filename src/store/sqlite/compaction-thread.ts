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
 * once with grace 0) deletes below it. Before any delete the thread tells the serving side, which
 * drops its cached horizon and only then lets the thread go on; so the serving thread re-reads
 * the horizon from the file before its next check and never answers below one whose rows are
 * going (a read snapshot already open keeps seeing the rows: WAL snapshots are isolated).
 */
import { isMainThread, parentPort, type Worker, workerData } from "node:worker_threads";
import type { CompactionOptions, CompactionReport } from "../history.js";
import {
  closeThread,
  type PostedError,
  postedError,
  receivedError,
  spawnModuleThread,
} from "../worker-thread.js";
import { type CompactionHooks, createSqliteCompaction, type SqliteCompaction } from "./compaction.js";
import { type ConnectionOptions, openConnection } from "./connection.js";

const MARK = "latchSqliteCompaction";

type Request =
  | { readonly kind: "run"; readonly options: CompactionOptions }
  | { readonly kind: "proceed" }
  | { readonly kind: "close" };

type Reply =
  | { readonly kind: "publishing" }
  | { readonly kind: "report"; readonly report: CompactionReport }
  | { readonly kind: "error"; readonly error: PostedError };

export interface CompactionThread {
  /** One run in the thread, after any run still going; its errors are the run's. */
  run(options: CompactionOptions): Promise<CompactionReport>;
  /** Ends a run in progress after its current batch (it resolves, horizon pending) and the thread. */
  close(): Promise<void>;
}

export interface CompactionThreadEvents {
  /** Rows below a horizon are about to go: drop any cached horizon now. */
  beforeApply(): void;
  /** A run finished in thread `threadId` (tests see that the work left the serving thread). */
  onRun?(threadId: number): void;
}

/** Runs compactions in a thread started on the first run and again after one dies. */
export function compactionThread(
  connection: ConnectionOptions,
  events: CompactionThreadEvents,
): CompactionThread {
  let thread: Worker | undefined;
  let closed = false;
  /** The end of the last run asked for, while one is still going. */
  let queue: Promise<unknown> | undefined;
  let waiting:
    | { readonly on: Worker; resolve(r: CompactionReport): void; reject(e: unknown): void }
    | undefined;
  const settle = (from: Worker, reply: Reply | Error) => {
    const w = waiting;
    if (w === undefined || w.on !== from) return;
    waiting = undefined;
    from.unref();
    if (reply instanceof Error) w.reject(reply);
    else if (reply.kind === "error") w.reject(receivedError(reply.error));
    else if (reply.kind === "report") {
      events.onRun?.(from.threadId);
      w.resolve(reply.report);
    }
  };
  const start = (): Worker => {
    const started = spawnModuleThread(import.meta.url, { [MARK]: connection });
    const gone = (error: Error) => {
      if (thread === started) thread = undefined;
      settle(started, error);
    };
    started.on("message", (reply: Reply) => {
      if (reply.kind !== "publishing") return settle(started, reply);
      events.beforeApply();
      started.postMessage({ kind: "proceed" } satisfies Request);
    });
    started.on("error", gone);
    started.on("exit", (code) =>
      gone(new Error(`the compaction thread stopped (exit code ${code}) during a run`)),
    );
    // Idle, it does not keep the process alive; a run does (see `once`).
    started.unref();
    return started;
  };
  const once = (options: CompactionOptions) => {
    if (closed) return Promise.reject(new Error("the store is closed: no compaction runs"));
    thread ??= start();
    const to = thread;
    return new Promise<CompactionReport>((resolve, reject) => {
      waiting = { on: to, resolve, reject };
      to.ref();
      to.postMessage({ kind: "run", options } satisfies Request);
    });
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
      const closing = thread;
      thread = undefined;
      await closeThread(closing, { kind: "close" } satisfies Request);
    },
  };
}

/** The thread's side: one run at a time; the connection is opened by the first run. */
function serveRuns(connection: ConnectionOptions): void {
  const port = parentPort;
  if (port === null) return;
  let compaction: { readonly run: SqliteCompaction["run"]; close(): void } | undefined;
  let closing = false;
  let proceed: (() => void) | undefined;
  const hooks: CompactionHooks = {
    beforeApply: () =>
      new Promise<void>((resolve) => {
        proceed = resolve;
        port.postMessage({ kind: "publishing" } satisfies Reply);
      }),
    stopped: () => closing,
  };
  const run = async (options: CompactionOptions) => {
    try {
      if (compaction === undefined) {
        const { db } = openConnection(connection);
        compaction = { run: createSqliteCompaction(db, () => undefined).run, close: () => db.close() };
      }
      port.postMessage({ kind: "report", report: await compaction.run(options, hooks) } satisfies Reply);
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
