/**
 * Deletes by filter that match many relationships, in a worker thread on a connection of its own.
 * On the serving thread such a delete held every request for the whole transaction: one of
 * 203,169 rows at scale m held the server 4.1-4.5 s (bench/stall-data.ts). Here the serving
 * thread goes on answering (a WAL writer blocks no reader) while the store holds its own writes
 * back until the thread commits (SqliteStore's `background`), so revisions stay in order and the
 * serving connection never sleeps on the file's write lock. Still one transaction: the preconditions, the
 * rows closed, their changes, the revision and its metadata, all or nothing.
 *
 * Both sides live in this module, as in compaction-thread.ts: the thread runs this same module,
 * told so by its `workerData`.
 */

import { isMainThread, parentPort, threadId, workerData } from "node:worker_threads";
import type Database from "better-sqlite3";
import { type ErrorDetails, type ErrorKind, LatchError, type Revision } from "../../core/index.js";
import { StoreError } from "../errors.js";
import type { Precondition, RelationshipFilter, TransactionMetadata } from "../types.js";
import { type PostedError, postedError, receivedError, requestThread } from "../worker-thread.js";
import { type ConnectionOptions, openConnection } from "./connection.js";
import { prepareStatements, statementCache } from "./statements.js";
import { applyDeleteByFilter, type WriteContext } from "./write-tx.js";

const MARK = "latchSqliteDeletes";

export interface DeleteRequest {
  readonly filter: RelationshipFilter;
  readonly limit: number | undefined;
  readonly preconditions: readonly Precondition[];
  readonly failOverLimit: boolean;
  readonly metadata: TransactionMetadata | undefined;
}

export interface DeleteOutcome {
  readonly revision: Revision;
  readonly deleted: number;
}

/** A store error as it crosses: rebuilt on the serving side with its code, kind and details. */
interface PostedStoreError {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly details: ErrorDetails;
}

type Request = { readonly kind: "delete"; readonly request: DeleteRequest } | { readonly kind: "close" };

type Reply =
  | { readonly kind: "done"; readonly outcome: DeleteOutcome; readonly threadId: number }
  | { readonly kind: "refused"; readonly error: PostedStoreError }
  | { readonly kind: "error"; readonly error: PostedError };

export interface DeleteThread {
  /** One delete in the thread; the store runs one at a time. */
  run(request: DeleteRequest): Promise<DeleteOutcome>;
  close(): Promise<void>;
}

/** Runs deletes in a thread started on the first one and again after one dies. */
export function deleteThread(
  connection: ConnectionOptions,
  onRun?: (threadId: number) => void,
): DeleteThread {
  const thread = requestThread<Request, Reply>({
    moduleUrl: import.meta.url,
    workerData: { [MARK]: connection },
    name: "the delete thread",
  });
  let closed = false;
  return {
    async run(request) {
      if (closed) throw new Error("the store is closed: no delete runs");
      const reply = await thread.request(() => ({ kind: "delete", request }));
      if (reply.kind === "refused") {
        const { code, kind, message, details } = reply.error;
        throw new StoreError(code as StoreError["code"], kind, message, details);
      }
      if (reply.kind === "error") throw receivedError(reply.error);
      onRun?.(reply.threadId);
      return reply.outcome;
    },
    async close() {
      closed = true;
      await thread.close({ kind: "close" } satisfies Request);
    },
  };
}

/** The thread's side: each delete in a transaction of its own, on one connection opened at the first. */
function serveDeletes(connection: ConnectionOptions): void {
  const port = parentPort;
  if (port === null) return;
  let run: ((request: DeleteRequest) => DeleteOutcome) | undefined;
  let db: Database.Database | undefined;
  const open = () => {
    const opened = openConnection(connection).db;
    db = opened;
    const s = prepareStatements(opened);
    const ctx: WriteContext = {
      s,
      prepared: statementCache(opened),
      current: () => BigInt(s.currentRevision.get() as number),
    };
    const tx = opened.transaction((request: DeleteRequest): DeleteOutcome => {
      const { filter, limit, preconditions, failOverLimit, metadata } = request;
      const outcome = applyDeleteByFilter(ctx, filter, limit, preconditions, failOverLimit);
      if (metadata !== undefined)
        s.setRevisionMetadata.run(JSON.stringify(metadata), Number(outcome.revision));
      return outcome;
    });
    return (request: DeleteRequest) => tx.immediate(request);
  };
  port.on("message", (message: Request) => {
    if (message.kind === "close") {
      db?.close();
      port.close();
      return;
    }
    try {
      run ??= open();
      port.postMessage({ kind: "done", outcome: run(message.request), threadId } satisfies Reply);
    } catch (error) {
      if (error instanceof LatchError) {
        const { code, kind, message: text, details } = error;
        port.postMessage({ kind: "refused", error: { code, kind, message: text, details } } satisfies Reply);
      } else port.postMessage({ kind: "error", error: postedError(error) } satisfies Reply);
    }
  });
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[MARK] !== undefined) {
  serveDeletes((workerData as Record<string, ConnectionOptions>)[MARK]!);
}
