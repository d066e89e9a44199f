/**
 * One subscriber's queue. Bounded: a subscriber that falls more than `maxQueued` events behind
 * loses its queue and, when it next reads, gets RESYNC and the whole current set instead, so a
 * slow reader costs at most one copy of its set, never an unbounded backlog. Falling behind means
 * having unread events when more arrive: a reader that keeps up gets each step's changes, even
 * when one step holds more than `maxQueued` (at most the set before and after it).
 */
import type { PermissionEvent, PermissionState } from "./types.js";

export interface SetSnapshot {
  readonly entries: ReadonlyMap<string, PermissionState>;
  readonly revision: bigint;
  readonly token: string;
  /** Events of a step part way sent (at a newer revision), to follow the copy's SYNCED. */
  readonly tail?: readonly PermissionEvent[];
}

export function setEvents(snapshot: SetSnapshot): PermissionEvent[] {
  const { revision, token } = snapshot;
  const out: PermissionEvent[] = [];
  for (const id of [...snapshot.entries.keys()].sort()) {
    const state = snapshot.entries.get(id)!;
    out.push({
      kind: state.state === "ALLOWED" ? "ADDED" : "CONDITIONAL",
      resourceId: id,
      missing: state.missing,
      revision,
      token,
    });
  }
  out.push({ kind: "SYNCED", resourceId: "", missing: [], revision, token });
  if (snapshot.tail !== undefined) for (const e of snapshot.tail) out.push(e);
  return out;
}

/** What `Listener.take` gives once the stream is over. */
export const END: unique symbol = Symbol("end");
const NOTHING: PermissionEvent[] = [];

export class Listener {
  private queue: PermissionEvent[] = [];
  private head = 0;
  /** The whole set is owed: first (`initial`), or because the queue overflowed (`resync`). */
  private owed: "initial" | "resync" | undefined = "initial";
  private wake: (() => void) | undefined;
  private failure: unknown;
  private closed = false;
  /** The copy of the set being read (`take`), before the queue. */
  private replay: PermissionEvent[] = NOTHING;
  private replayHead = 0;
  /** Where in `queue` the step being pushed begins, and whether the last push said more of it follows. */
  private stepStart = 0;
  private continuing = false;
  /** How many times this listener was resynced because it fell behind. */
  resyncs = 0;

  constructor(
    private readonly maxQueued: number,
    /** The group's current set, copied when a resync is due. */
    private readonly current: () => SetSnapshot,
  ) {}

  /** Queues one step's events; `more`: further events of the same step follow (a streamed lookup). */
  push(events: readonly PermissionEvent[], more = false): void {
    if (this.closed) return;
    const continued = this.continuing;
    this.continuing = more;
    // The set, copied when it is read, will include these events.
    if (this.owed !== undefined) {
      this.notify();
      return;
    }
    // Only a subscriber with unread events of earlier steps is behind: one step's changes into an
    // empty queue (a user joining a group of ten thousand documents) are delivered as they are,
    // however many, and whether they come at once or in chunks.
    if (!continued) this.stepStart = this.queue.length;
    const unread = this.queue.length - this.head;
    if (this.stepStart > this.head && unread + events.length > this.maxQueued) {
      this.owed = "resync";
      this.resyncs++;
      this.queue = [];
      this.head = 0;
      this.stepStart = 0;
    } else {
      for (const e of events) this.queue.push(e);
    }
    this.notify();
  }

  fail(error: unknown): void {
    this.failure = error;
    this.closed = true;
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * The next event to read: undefined when none is queued yet (then `wait`), `END` when the stream
   * is over; throws the failure the listener ended with. Synchronous, so the one generator that
   * reads it (the subscription's) is the only async step per event.
   */
  take(): PermissionEvent | typeof END | undefined {
    for (;;) {
      if (this.replayHead < this.replay.length) return this.replay[this.replayHead++]!;
      if (this.replay.length > 0) {
        this.replay = NOTHING;
        this.replayHead = 0;
      }
      if (this.owed !== undefined) {
        this.replay = this.copy(this.owed === "resync");
        continue;
      }
      if (this.head < this.queue.length) {
        const event = this.queue[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.stepStart = Math.max(0, this.stepStart - this.head);
          this.head = 0;
        }
        return event;
      }
      if (this.failure !== undefined) throw this.failure;
      return this.closed ? END : undefined;
    }
  }

  /** Resolves when `take` may have something new. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /** The whole set owed, as events (RESYNC first when `resync`); the queue's events are in it. */
  private copy(resync: boolean): PermissionEvent[] {
    this.owed = undefined;
    // The copy holds everything queued so far; later events are newer than it.
    const snapshot = this.current();
    this.queue = [];
    this.head = 0;
    this.stepStart = 0;
    const events = setEvents(snapshot);
    if (resync) {
      events.unshift({
        kind: "RESYNC",
        resourceId: "",
        missing: [],
        revision: snapshot.revision,
        token: snapshot.token,
      });
    }
    return events;
  }
}
