/**
 * Large writes in a worker thread on a connection of its own: deletes by filter that match many
 * relationships, and imports of many. On the serving thread such a write held every request for
 * the whole transaction: a delete of 203,169 rows at scale m held the server 4.1-4.5 s, an import
 * of 200,000 1.8-2.7 s (bench/stall-data.ts). Here the serving thread goes on answering (a WAL
 * writer blocks no reader) while the store holds its own writes back until the thread commits
 * (SqliteStore's `background`), so revisions stay in order and the serving connection never
 * sleeps on the file's write lock. Each is still one transaction, all or nothing.
 *
 * An import crosses in chunks of its rows as bytes (rows.ts, `encodeRows`), validated on the
 * serving side against the schema whose revision the thread checks again inside its transaction.
 * The serving side validates and encodes the next chunks while the thread inserts.
 *
 * Both sides live in this module, as in compaction-thread.ts: the thread runs this same module,
 * told so by its `workerData`.
 */

import { isMainThread, parentPort, threadId, type Worker, workerData } from "node:worker_threads";
import { type ErrorDetails, type ErrorKind, LatchError, type Revision } from "../../core/index.js";
import { StoreError } from "../errors.js";
import type { Precondition, RelationshipFilter, TransactionMetadata } from "../types.js";
import { type PostedError, postedError, receivedError, requestThread } from "../worker-thread.js";
import { type ConnectionOptions, openConnection } from "./connection.js";
import { beginImport, type ImportRequest } from "./import-rows.js";
import { type EncodedRows, rowsFromBytes } from "./rows.js";
import { prepareStatements, statementCache } from "./statements.js";
import { applyDeleteByFilter, type ImportContext, type ImportSink } from "./write-tx.js";

const MARK = "latchSqliteWrites";

/**
 * Chunks of an import sent ahead of the one the thread is inserting: the serving side's work on
 * a chunk (validating, encoding, sending) then never leaves the thread waiting.
 */
const CHUNKS_AHEAD = 2;

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

export interface ImportOutcome {
  readonly revision: Revision;
  readonly count: number;
}

/** A store error as it crosses: rebuilt on the serving side with its code, kind and details. */
interface PostedStoreError {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly details: ErrorDetails;
}

type Request =
  | { readonly kind: "delete"; readonly request: DeleteRequest }
  | { readonly kind: "import"; readonly request: ImportRequest }
  | { readonly kind: "rows"; readonly rows: EncodedRows }
  | { readonly kind: "commit" }
  | { readonly kind: "rollback" }
  | { readonly kind: "close" };

type Reply =
  | { readonly kind: "done"; readonly outcome: DeleteOutcome | ImportOutcome; readonly threadId: number }
  | { readonly kind: "refused"; readonly error: PostedStoreError }
  | { readonly kind: "error"; readonly error: PostedError };

export interface WriteThread {
  /** One delete in the thread; the store runs one write at a time. */
  delete(request: DeleteRequest): Promise<DeleteOutcome>;
  /**
   * One import in the thread: `next` hands over the next chunk of validated rows, or undefined at
   * the end; if it throws, the thread rolls back and the error is thrown here.
   */
  import(request: ImportRequest, next: () => EncodedRows | undefined): Promise<ImportOutcome>;
  close(): Promise<void>;
}

/**
 * Runs large writes in a thread started on the first one and again after one dies. `onRun` is
 * told the thread id after each write, `onStart` of each thread started (tests).
 */
export function writeThread(
  connection: ConnectionOptions,
  onRun?: (threadId: number) => void,
  onStart?: (thread: Worker) => void,
): WriteThread {
  const thread = requestThread<Request, Reply>({
    moduleUrl: import.meta.url,
    workerData: { [MARK]: connection },
    name: "the write thread",
    ...(onStart === undefined ? {} : { onStart }),
  });
  let closed = false;
  /** Asks the thread; `continuing`: the request belongs to an import the thread has begun. */
  const ask = async (request: Request, continuing = false) => {
    const make = (fresh: boolean) => {
      if (fresh && continuing) {
        throw new Error("the write thread stopped during an import; nothing was written");
      }
      return request;
    };
    // An import's rows move to the thread rather than being copied.
    const reply = await thread.request(
      make,
      request.kind === "rows" ? [request.rows.bytes.buffer as ArrayBuffer] : undefined,
    );
    if (reply.kind === "refused") {
      const { code, kind, message, details } = reply.error;
      throw new StoreError(code as StoreError["code"], kind, message, details);
    }
    if (reply.kind === "error") throw receivedError(reply.error);
    return reply;
  };
  const done = <T>(reply: { outcome: unknown; threadId: number }): T => {
    onRun?.(reply.threadId);
    return reply.outcome as T;
  };
  return {
    async delete(request) {
      if (closed) throw new Error("the store is closed: no delete runs");
      return done<DeleteOutcome>(await ask({ kind: "delete", request }));
    },
    async import(request, next) {
      if (closed) throw new Error("the store is closed: no import runs");
      const sent: Promise<unknown>[] = [];
      const send = (message: Request, continuing: boolean) => {
        const reply = ask(message, continuing);
        // Awaited in turn below; one that fails while an earlier one is awaited is not unhandled.
        reply.catch(() => undefined);
        sent.push(reply);
      };
      try {
        send({ kind: "import", request }, false);
        for (let rows = next(); rows !== undefined; rows = next()) {
          send({ kind: "rows", rows }, true);
          if (sent.length > CHUNKS_AHEAD) await sent.shift();
        }
        while (sent.length > 0) await sent.shift();
      } catch (error) {
        await Promise.allSettled(sent);
        await ask({ kind: "rollback" }, true).catch(() => undefined);
        throw error;
      }
      return done<ImportOutcome>(await ask({ kind: "commit" }, true));
    },
    async close() {
      closed = true;
      await thread.close({ kind: "close" } satisfies Request);
    },
  };
}

/** The thread's side: each write in a transaction of its own, on one connection opened at the first. */
function serveWrites(connection: ConnectionOptions): void {
  const port = parentPort;
  if (port === null) return;
  let writes: ReturnType<typeof openWrites> | undefined;
  port.on("message", (message: Request) => {
    if (message.kind === "close") {
      writes?.db.close();
      port.close();
      return;
    }
    try {
      writes ??= openWrites(connection);
      port.postMessage(writes.handle(message));
    } catch (error) {
      writes?.abandon();
      if (error instanceof LatchError) {
        const { code, kind, message: text, details } = error;
        port.postMessage({ kind: "refused", error: { code, kind, message: text, details } } satisfies Reply);
      } else port.postMessage({ kind: "error", error: postedError(error) } satisfies Reply);
    }
  });
}

function openWrites(connection: ConnectionOptions) {
  const db = openConnection(connection).db;
  const s = prepareStatements(db);
  const ctx: ImportContext = {
    s,
    prepared: statementCache(db),
    current: () => BigInt(s.currentRevision.get() as number),
    exec: (sql) => {
      db.exec(sql);
    },
  };
  const deleteTx = db.transaction((request: DeleteRequest): DeleteOutcome => {
    const { filter, limit, preconditions, failOverLimit, metadata } = request;
    const outcome = applyDeleteByFilter(ctx, filter, limit, preconditions, failOverLimit);
    if (metadata !== undefined) s.setRevisionMetadata.run(JSON.stringify(metadata), Number(outcome.revision));
    return outcome;
  });
  /** The import under way: its transaction stays open across the messages that bring its rows. */
  let sink: ImportSink | undefined;
  const ok: Reply = { kind: "done", outcome: { revision: 0n, count: 0 }, threadId };
  /** Rolls back an import under way (after an error, or asked to). */
  const abandon = () => {
    sink = undefined;
    if (db.inTransaction) db.exec("ROLLBACK");
  };
  const handle = (message: Exclude<Request, { kind: "close" }>): Reply => {
    switch (message.kind) {
      case "delete":
        return { kind: "done", outcome: deleteTx.immediate(message.request), threadId };
      case "import":
        db.exec("BEGIN IMMEDIATE");
        sink = beginImport(ctx, message.request);
        return ok;
      case "rows":
        // After a refused chunk the import is gone: the chunks sent behind it are dropped.
        if (sink === undefined) throw new Error("rows for an import that is not under way");
        sink.add(rowsFromBytes(message.rows));
        return ok;
      case "commit": {
        if (sink === undefined) throw new Error("commit of an import that is not under way");
        const outcome = sink.finish();
        sink = undefined;
        db.exec("COMMIT");
        return { kind: "done", outcome, threadId };
      }
      case "rollback":
        abandon();
        return ok;
    }
  };
  return { db, abandon, handle };
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[MARK] !== undefined) {
  serveWrites((workerData as Record<string, ConnectionOptions>)[MARK]!);
}
