/**
 * The approvals feed: requests and decisions made through any process or replica on the
 * datastore, as they commit. One subscription per flow (opened while anyone listens, closed when
 * the last stops) reads the store's changes after its cursor and hands each to every listener:
 * `watch` (WatchApprovals) and `await` (AwaitApproval's wake-up). The store says when to read
 * (PostgreSQL LISTEN/NOTIFY, polling while LISTEN is down; SQLite by polling the table).
 */
import { LatchError } from "../core/index.js";
import type { ApprovalStore, StoredApproval } from "../store/index.js";

export type ApprovalEvent =
  | { readonly kind: "requested"; readonly approval: StoredApproval }
  | { readonly kind: "decided"; readonly approval: StoredApproval };

export interface ApprovalFeed {
  /**
   * Calls `onEvent` with each request and decision committed from now on; resolves once listening
   * (so a read made after it cannot miss a later change). Returns the stop function.
   */
  listen(onEvent: (event: ApprovalEvent) => void): Promise<() => void>;
  /** Reads the changes now (after a change through this flow: no need to wait for the store's signal). */
  poke(): void;
  close(): void;
}

/** Changes read per page. */
const PAGE = 200;

/**
 * An approval read from the feed is as it is now: a request decided before the feed read it comes
 * once, as `decided` (the feed coalesces, as a watch of current state does).
 */
const eventOf = (approval: StoredApproval): ApprovalEvent =>
  approval.decidedAt === undefined ? { kind: "requested", approval } : { kind: "decided", approval };

export function createApprovalFeed(approvals: ApprovalStore, now: () => number): ApprovalFeed {
  const listeners = new Set<(event: ApprovalEvent) => void>();
  /** The subscription in force, with its cursor; a new one after each stop (`generation`). */
  let active: { unsubscribe: () => void; cursor: number; generation: number } | undefined;
  let starting: Promise<void> | undefined;
  let generation = 0;
  let reading = false;
  let again = false;

  const emit = (event: ApprovalEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // One listener's failure must not starve the others.
      }
    }
  };

  const read = async (): Promise<void> => {
    if (active === undefined) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        for (;;) {
          const sub: typeof active = active;
          if (sub === undefined) return;
          const page = await approvals.changesSince(sub.cursor, PAGE, now());
          if (active?.generation !== sub.generation) return;
          sub.cursor = page.cursor;
          for (const approval of page.approvals) emit(eventOf(approval));
          if (page.approvals.length < PAGE) break;
        }
      } while (again);
    } catch {
      // The store is unreachable: the next signal (a notification or the fallback poll) reads again.
    } finally {
      reading = false;
    }
  };

  const start = (): Promise<void> => {
    starting ??= (async () => {
      const mine = ++generation;
      // Subscribed before the cursor is read: a change after that read signals the subscription.
      const unsubscribe = approvals.subscribe(() => void read());
      try {
        const cursor = await approvals.latestChange();
        active = { unsubscribe, cursor, generation: mine };
      } catch (error) {
        unsubscribe();
        starting = undefined;
        throw error;
      }
    })();
    return starting;
  };

  const stop = () => {
    active?.unsubscribe();
    active = undefined;
    starting = undefined;
  };

  return {
    async listen(onEvent) {
      listeners.add(onEvent);
      try {
        await start();
      } catch (error) {
        listeners.delete(onEvent);
        if (listeners.size === 0) stop();
        throw error;
      }
      return () => {
        listeners.delete(onEvent);
        if (listeners.size === 0) stop();
      };
    },
    poke: () => void read(),
    close() {
      listeners.clear();
      stop();
    },
  };
}

// --- the feed's readers: AwaitApproval and WatchApprovals ---------------------------------------

export interface AwaitTarget {
  readonly feed: ApprovalFeed;
  /** Reads the request (throws when there is none). */
  readonly read: () => Promise<StoredApproval>;
  /** The longest wait between two reads, should the feed be down (ms). */
  readonly intervalMs: number;
  readonly now: () => number;
  readonly id: string;
}

/**
 * Resolves when the request is decided or expires. Wakes at once on the feed's event for it (a
 * decision through any replica), and re-reads the store at least every interval all the same (the
 * feed may be down) and at the expiry.
 */
export async function awaitDecision(target: AwaitTarget, signal?: AbortSignal): Promise<StoredApproval> {
  const { feed, read, id } = target;
  await read();
  let woken = false;
  let wake: () => void = () => undefined;
  // Listening before each read below, so a decision committed after it cannot be missed.
  const stop = await feed.listen((event) => {
    if (event.approval.id !== id) return;
    woken = true;
    wake();
  });
  try {
    for (;;) {
      woken = false;
      const approval = await read();
      if (approval.state !== "pending") return approval;
      const wait = Math.max(1, Math.min(target.intervalMs, approval.expiresAt - target.now()));
      if (!woken && !signal?.aborted)
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            wake = () => undefined;
            resolve();
          };
          const timer = setTimeout(done, wait);
          wake = done;
          signal?.addEventListener("abort", done, { once: true });
        });
      if (signal?.aborted)
        throw new LatchError("request/cancelled", "deadline-exceeded", `stopped waiting for approval ${id}`);
    }
  } finally {
    stop();
  }
}

/** The feed's events until `signal` aborts; an abort ends the stream quietly (the watcher asked to stop). */
export async function* watchEvents(feed: ApprovalFeed, signal?: AbortSignal): AsyncIterable<ApprovalEvent> {
  if (signal?.aborted) return;
  const queue: ApprovalEvent[] = [];
  let wake: () => void = () => undefined;
  const stop = await feed.listen((event) => {
    queue.push(event);
    wake();
  });
  const onAbort = () => wake();
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (signal?.aborted) return;
      await new Promise<void>((resolve) => {
        wake = () => {
          wake = () => undefined;
          resolve();
        };
      });
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    stop();
  }
}
