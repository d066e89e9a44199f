/**
 * What the store's worker threads (the audit trail's writer, SQLite's background compaction)
 * share: starting a thread that runs the module that asks for it, stopping one, and carrying an
 * error across (an Error does not cross whole: its name, message and code do).
 */
import { Worker } from "node:worker_threads";

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
