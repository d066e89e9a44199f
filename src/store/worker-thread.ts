/**
 * What the store's worker threads (the audit trail's writer, SQLite's background compaction and
 * large writes) share: starting a thread that runs the module that asks for it, asking it
 * things it answers in order, stopping one, and carrying an error across (an Error does not cross
 * whole: its name, message and code do).
 */
import { type TransferListItem, Worker } from "node:worker_threads";

/** An error as it crosses to the other thread. */
export interface PostedError {
  readonly name: string;
  readonly message: string;
  readonly code?: unknown;
}

/**
 * A thread running the module at `moduleUrl` (the caller's `import.meta.url`). As TypeScript
 * (tests, `npm run latch`) it is loaded through tsx's loader, registered inside the thread: tsx
 * does not carry over from the parent's options.
 */
export function spawnModuleThread(moduleUrl: string, workerData: unknown): Worker {
  const url = new URL(moduleUrl);
  const options = { workerData };
  if (!url.pathname.endsWith(".ts")) return new Worker(url, options);
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/** Requests to a thread started on the first and again after one dies, answered in order. */
export interface RequestThread<Req, Rep> {
  /**
   * Posts the request `make` builds (`fresh`: to a thread just started) and settles with the
   * thread's reply, or fails if the thread dies first. The thread answers each request with one
   * reply, in the order they were sent; several may wait at once (an import's chunks).
   */
  request(make: (fresh: boolean) => Req, transfer?: readonly TransferListItem[]): Promise<Rep>;
  /** Asks the thread, if one runs, to close (`closeMessage`) and waits until it has exited. */
  close(closeMessage: unknown): Promise<void>;
}

export interface RequestThreadSettings<Rep> {
  /** The module the thread runs (its `import.meta.url`) and what the thread is told. */
  readonly moduleUrl: string;
  readonly workerData: unknown;
  /** The thread, as an error that it died mid-request names it ("the write thread"). */
  readonly name: string;
  /**
   * A message that is not the reply (compaction's `publishing`), handled here while the request
   * goes on waiting: true when handled.
   */
  readonly interim?: (message: Rep, from: Worker) => boolean;
  /** Told of each thread started (tests stop one). */
  readonly onStart?: (thread: Worker) => void;
}

export function requestThread<Req, Rep>(settings: RequestThreadSettings<Rep>): RequestThread<Req, Rep> {
  let thread: Worker | undefined;
  /** Requests sent and not yet answered, oldest first; all to one thread. */
  const waiting: { readonly on: Worker; resolve(reply: Rep): void; reject(error: unknown): void }[] = [];
  /** Settles the oldest request to `from`; a thread that died late settles nothing of its successor's. */
  const settle = (from: Worker, reply: Rep) => {
    if (waiting[0]?.on !== from) return;
    const w = waiting.shift()!;
    // Idle again, unless it is being closed: `close` holds the process until it has exited.
    if (waiting.length === 0 && from === thread) from.unref();
    w.resolve(reply);
  };
  const start = (): Worker => {
    const started = spawnModuleThread(settings.moduleUrl, settings.workerData);
    const gone = (error: Error) => {
      if (thread === started) thread = undefined;
      while (waiting[0]?.on === started) waiting.shift()!.reject(error);
      started.unref();
    };
    started.on("message", (message: Rep) => {
      if (settings.interim?.(message, started) !== true) settle(started, message);
    });
    started.on("error", gone);
    started.on("exit", (code) =>
      gone(new Error(`${settings.name} stopped (exit code ${code}) during a request`)),
    );
    // Idle, it does not keep the process alive; a request in progress does.
    started.unref();
    settings.onStart?.(started);
    return started;
  };
  return {
    request(make, transfer) {
      const fresh = thread === undefined;
      thread ??= start();
      const to = thread;
      const message = make(fresh);
      return new Promise<Rep>((resolve, reject) => {
        waiting.push({ on: to, resolve, reject });
        to.ref();
        to.postMessage(message, transfer as TransferListItem[] | undefined);
      });
    },
    async close(closeMessage) {
      const closing = thread;
      thread = undefined;
      await closeThread(closing, closeMessage);
    },
  };
}

/** Asks `thread` to close (`closeMessage`) and waits until it has exited. */
export async function closeThread(thread: Worker | undefined, closeMessage: unknown): Promise<void> {
  if (thread === undefined) return;
  const exited = new Promise((resolve) => thread.once("exit", resolve));
  thread.ref();
  thread.postMessage(closeMessage);
  await exited;
}

export function postedError(error: unknown): PostedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === "string" ? { code } : {}) };
}

/** A copy of an error from the other thread. */
export function receivedError(error: PostedError): Error {
  const copy = new Error(error.message) as Error & { code?: unknown };
  copy.name = error.name;
  if (error.code !== undefined) copy.code = error.code;
  return copy;
}
