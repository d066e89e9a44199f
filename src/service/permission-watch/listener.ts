/**
 * One subscriber's queue. Bounded: a subscriber that falls more than `maxQueued` events behind
 * loses its queue and, when it next reads, gets RESYNC and the whole current set instead, so a
 * slow reader costs at most one copy of its set, never an unbounded backlog. Falling behind means
 * having unread events when more arrive: a reader that keeps up gets each step's changes, even
 * when one step holds more than `maxQueued` (at most the set before and after it).
 *
 * Changes are queued as the set sends them (runs.ts): a run of ids and shared states, one for
 * every subscriber, and each event object is made only when it is read. A queued change costs a
 * slot of two arrays, not an object that lives (and is copied by the collector) until it is read.
 */
import { eventAt, isRun, markerAt, type Sent, type SetSnapshot, setRuns } from "./runs.js";
import type { PermissionEvent } from "./types.js";

/** What `Listener.take` gives once the stream is over. */
export const END: unique symbol = Symbol("end");
const NOTHING: readonly Sent[] = [];

/** How many events a sent item stands for. */
const sizeOf = (item: Sent): number => (isRun(item) ? item.ids.length : 1);

/** Reads a list of sent items event by event. */
class Reading {
  private head = 0;
  /** The next event's index within the run at `head`. */
  private offset = 0;

  constructor(public items: readonly Sent[]) {}

  next(): PermissionEvent | undefined {
    const items = this.items;
    while (this.head < items.length) {
      const item = items[this.head]!;
      if (!isRun(item)) {
        this.head++;
        return item;
      }
      if (this.offset < item.ids.length) return eventAt(item, this.offset++);
      this.head++;
      this.offset = 0;
    }
    return undefined;
  }

  /** Items wholly read, which the owner may drop. */
  get done(): number {
    return this.head;
  }

  /** Reads `items` from their start. */
  start(items: readonly Sent[]): void {
    this.items = items;
    this.head = 0;
    this.offset = 0;
  }

  /** Goes on in `items`: the same list without its first `dropped` items. */
  dropped(items: readonly Sent[], dropped: number): void {
    this.items = items;
    this.head -= dropped;
  }
}

export class Listener {
  private queue: Sent[] = [];
  private readonly reading = new Reading(this.queue);
  /** Events queued and read since the queue was last emptied: `queued - read` are unread. */
  private queued = 0;
  private read = 0;
  /** The whole set is owed: first (`initial`), or because the queue overflowed (`resync`). */
  private owed: "initial" | "resync" | undefined = "initial";
  private wake: (() => void) | undefined;
  private failure: unknown;
  private closed = false;
  /** The copy of the set being read (`take`), before the queue. */
  private readonly replay = new Reading(NOTHING);
  /** Where (in events queued) the step being pushed begins, and whether the last push said more of it follows. */
  private stepStart = 0;
  private continuing = false;
  /** How many times this listener was resynced because it fell behind. */
  resyncs = 0;

  constructor(
    private readonly maxQueued: number,
    /** The group's current set, read at once when a copy is due. */
    private readonly current: () => SetSnapshot,
  ) {}

  /**
   * Queues one step's events (the items are kept, not copied: never change them once pushed);
   * `more`: further events of the same step follow (a streamed lookup).
   */
  push(items: readonly Sent[], more = false): void {
    if (this.closed) return;
    const continued = this.continuing;
    this.continuing = more;
    // The set, copied when it is read, will include these events.
    if (this.owed !== undefined) {
      this.notify();
      return;
    }
    let size = 0;
    for (const item of items) size += sizeOf(item);
    // Only a subscriber with unread events of earlier steps is behind: one step's changes into an
    // empty queue (a user joining a group of ten thousand documents) are delivered as they are,
    // however many, and whether they come at once or in chunks.
    if (!continued) this.stepStart = this.queued;
    if (this.stepStart > this.read && this.queued - this.read + size > this.maxQueued) {
      this.owed = "resync";
      this.resyncs++;
      this.emptyQueue();
    } else {
      for (const item of items) this.queue.push(item);
      this.queued += size;
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

  private emptyQueue(): void {
    this.queue = [];
    this.reading.start(this.queue);
    this.queued = 0;
    this.read = 0;
    this.stepStart = 0;
  }

  /**
   * The next event to read: undefined when none is queued yet (then `wait`), `END` when the stream
   * is over; throws the failure the listener ended with. Synchronous, so the one generator that
   * reads it (the subscription's) is the only async step per event.
   */
  take(): PermissionEvent | typeof END | undefined {
    for (;;) {
      const replayed = this.replay.next();
      if (replayed !== undefined) return replayed;
      if (this.replay.items !== NOTHING) this.replay.start(NOTHING);
      if (this.owed !== undefined) {
        this.replay.start(this.copy(this.owed === "resync"));
        continue;
      }
      const event = this.reading.next();
      if (event !== undefined) {
        this.read++;
        const done = this.reading.done;
        if (done > 64 && done * 2 > this.queue.length) {
          this.queue = this.queue.slice(done);
          this.reading.dropped(this.queue, done);
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

  /** The whole set owed, as sent items (RESYNC first when `resync`); the queue's events are in it. */
  private copy(resync: boolean): Sent[] {
    this.owed = undefined;
    // The copy holds everything queued so far; later events are newer than it.
    const snapshot = this.current();
    this.emptyQueue();
    const items = setRuns(snapshot);
    if (resync) {
      items.unshift(markerAt("RESYNC", snapshot.revision, snapshot.token));
    }
    return items;
  }
}
