/**
 * The audit trail's writer thread: builds the records of captured batches, hashes them into the
 * chain and appends them, on a connection of its own (`DecisionLog.remote`), so that none of it
 * runs on the thread that answers decisions. Both sides live in this module: the thread runs this
 * same module, told so by its `workerData` (the bundle moves the module into a chunk, so it is
 * found by its own URL, never by a path).
 *
 * One batch at a time, in the order sent: the chain holds decisions in capture order, and the
 * datastore's lock (SQLite's write lock, PostgreSQL's head row) orders this thread's appends with
 * every other writer's. A thread that dies fails the batch it held (its callers see the failure as
 * any failed append) and the next batch starts a new thread.
 */
import { isMainThread, parentPort, type Worker, workerData } from "node:worker_threads";
import {
  type OpenedDecisionLog,
  openRemoteDecisionLog,
  type PostedError,
  postedError,
  type RemoteDecisionLog,
  receivedError,
  requestThread,
} from "../store/index.js";
import { capturedOf, type PostedBatch, ReceivedNames } from "./capture-buffer.js";
import { recordsOf } from "./record.js";
import type { BatchWriter } from "./sink.js";

const MARK = "latchDecisionWriter";

/**
 * An append carries its batch and the names the recorder's dictionary gained since the last
 * message to this thread (all of them to a new thread): codes are the dictionary's positions.
 */
type Request =
  | { readonly kind: "append"; readonly batch: PostedBatch; readonly names: readonly string[] }
  | { readonly kind: "open" }
  | { readonly kind: "close" };

/**
 * A batch appended gives its buffer back (see `CaptureBuffer.reuse`); a failed one keeps it. An
 * `open` answers `opened` once the thread's connection is open.
 */
type Reply =
  | { readonly seconds: number; readonly numbers: ArrayBuffer }
  | { readonly opened: true }
  | { readonly error: PostedError };

/** Appends through a writer thread, started on the first batch and again after it dies. */
export function threadWriter(remote: RemoteDecisionLog, onStart?: (thread: Worker) => void): BatchWriter {
  const thread = requestThread<Request, Reply>({
    moduleUrl: import.meta.url,
    workerData: { [MARK]: remote },
    name: "the audit writer thread",
    ...(onStart === undefined ? {} : { onStart }),
  });
  /** How many of the dictionary's names the current thread holds. */
  let namesSent = 0;
  return {
    async append(batch) {
      const { numbers, length, text, rare } = batch;
      const reply = await thread.request(
        (fresh) => {
          if (fresh) namesSent = 0;
          const names = batch.names.slice(namesSent, batch.namesUpTo);
          namesSent = Math.max(namesSent, batch.namesUpTo);
          return { kind: "append", batch: { numbers, length, text, rare }, names };
        },
        // The numbers move (the batch owns its buffer until the reply gives it back); the text is
        // cloned, one string.
        [numbers.buffer as ArrayBuffer],
      );
      if ("error" in reply) throw receivedError(reply.error);
      if (!("numbers" in reply)) throw new Error("the audit writer thread answered an append with no batch");
      return { seconds: reply.seconds, numbers: new Float64Array(reply.numbers) };
    },
    async start() {
      const reply = await thread.request((fresh) => {
        if (fresh) namesSent = 0;
        return { kind: "open" };
      });
      if ("error" in reply) throw receivedError(reply.error);
    },
    async close() {
      await thread.close({ kind: "close" } satisfies Request);
    },
  };
}

/**
 * How long an append goes on trying while SQLite's write lock stays taken past its busy timeout:
 * a large import or delete of the same file holds it for seconds, and its records are no less
 * owed for that. Each try waits the busy timeout (5 s by default) inside SQLite.
 */
const BUSY_RETRY_MS = 60_000;

/** Runs `append` again while it fails on a taken write lock, for up to BUSY_RETRY_MS. */
async function whileBusy(append: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  for (;;) {
    try {
      await append();
      return;
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      const busy = typeof code === "string" && code.startsWith("SQLITE_BUSY");
      if (!busy || performance.now() - started > BUSY_RETRY_MS) throw error;
      // Nothing was written: the append's transaction could not begin.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** The thread's side: one request at a time, in the order received. */
function serveBatches(remote: RemoteDecisionLog): void {
  const port = parentPort;
  if (port === null) return;
  let opened: OpenedDecisionLog | undefined;
  /** The thread's connection, opened by an `open` or the first batch, and again after a failed open. */
  const open = async (): Promise<OpenedDecisionLog> => {
    opened ??= await openRemoteDecisionLog(remote);
    return opened;
  };
  const received = new ReceivedNames();
  const handle = async (request: Request): Promise<void> => {
    if (request.kind === "close") {
      await opened?.close();
      port.close();
      return;
    }
    if (request.kind === "open") {
      try {
        await open();
        port.postMessage({ opened: true } satisfies Reply);
      } catch (error) {
        port.postMessage({ error: postedError(error) } satisfies Reply);
      }
      return;
    }
    // Before anything can fail: a later batch may use these names.
    received.add(request.names);
    const numbers = request.batch.numbers.buffer as ArrayBuffer;
    try {
      const { log } = await open();
      const started = performance.now();
      // Records in their stored form, built from the batch without a record object each.
      const encoded = log.appendEncoded === undefined ? undefined : received.encoded(request.batch);
      const records =
        encoded === undefined ? recordsOf(capturedOf(request.batch, received.names)) : undefined;
      await whileBusy(() => (encoded !== undefined ? log.appendEncoded!(encoded) : log.append(records!)));
      port.postMessage({ seconds: (performance.now() - started) / 1000, numbers } satisfies Reply, [numbers]);
    } catch (error) {
      port.postMessage({ error: postedError(error) } satisfies Reply);
    }
  };
  let turn = Promise.resolve();
  port.on("message", (request: Request) => {
    turn = turn.then(() => handle(request));
  });
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[MARK] !== undefined) {
  serveBatches((workerData as Record<string, RemoteDecisionLog>)[MARK]!);
}
