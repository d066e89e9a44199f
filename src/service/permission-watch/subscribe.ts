/**
 * One subscriber's stream: joins the kept set its request names (started if need be), then reads
 * its own queue until the stream is aborted, closed or fails; leaving, it lets the set go when it
 * was the last.
 *
 * An iterator written out rather than an async generator: a set of 100,000 is read event by
 * event, and while events are queued `next` answers from the queue at once (one settled promise
 * and one result object), where a generator's `yield` takes several promise steps per event:
 * reading 100,000 queued events costs about half as much (bench/watch-permissions-join.ts).
 */
import type { Revision } from "../../core/index.js";
import type { Group, Subscriber } from "./group.js";
import { END, Listener } from "./listener.js";
import type { PermissionEvent, WatchPermissionsOptions, WatchPermissionsRequest } from "./types.js";

/** What a subscription needs of the watch that keeps the sets (watch-permissions.ts). */
export interface SetHost {
  readonly closed: () => boolean;
  readonly groupFor: (request: WatchPermissionsRequest) => Promise<Group>;
  /** Whether `group` is still the kept set of its key (it may have failed or ended meanwhile). */
  readonly current: (group: Group) => boolean;
  /** The newest revision the feed was planned to, with its token (see Group.snapshot). */
  readonly planned: () => { readonly revision: Revision; readonly token: string } | undefined;
  readonly maxQueued: number;
  readonly leave: (group: Group, subscriber: Subscriber) => void;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/** The stream once it has joined its set. */
interface Joined {
  readonly group: Group;
  readonly listener: Listener;
  readonly subscriber: Subscriber;
}

class Subscription implements AsyncIterableIterator<PermissionEvent, undefined, undefined> {
  private joined: Joined | undefined;
  private ended = false;
  /** A `next` still waiting: a later call waits for it, so events are taken in order. */
  private waiting: Promise<IteratorResult<PermissionEvent, undefined>> | undefined;
  private readonly onAbort = () => this.joined?.listener.close();

  constructor(
    private readonly host: SetHost,
    private readonly request: WatchPermissionsRequest,
    private readonly signal: AbortSignal | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<PermissionEvent, undefined>> {
    if (this.waiting === undefined && this.joined !== undefined && !this.ended) {
      // The common case, an event already queued, without an await.
      let event: PermissionEvent | typeof END | undefined;
      try {
        event = this.joined.listener.take();
      } catch (error) {
        this.end();
        return Promise.reject(error);
      }
      if (event !== undefined && event !== END) return Promise.resolve({ value: event, done: false });
    }
    const previous = this.waiting;
    // After a read that failed the stream has ended: the next one is done, as a generator's.
    const slow = () => this.slowNext();
    const next = (previous === undefined ? slow() : previous.then(slow, slow)).finally(() => {
      if (this.waiting === next) this.waiting = undefined;
    });
    this.waiting = next;
    return next;
  }

  return(): Promise<IteratorResult<PermissionEvent, undefined>> {
    // A read waiting for events ends once the listener is closed; leaving is then done once.
    this.joined?.listener.close();
    this.end();
    return Promise.resolve(DONE);
  }

  private async slowNext(): Promise<IteratorResult<PermissionEvent, undefined>> {
    try {
      if (this.ended) return DONE;
      const joined = this.joined ?? (await this.join());
      if (joined === undefined) return DONE;
      for (;;) {
        // Returned while this read waited: what is still queued is not handed out after `return`.
        if (this.ended) return DONE;
        const event = joined.listener.take();
        if (event === END) {
          this.end();
          return DONE;
        }
        if (event !== undefined) return { value: event, done: false };
        await joined.listener.wait();
      }
    } catch (error) {
      this.end();
      throw error;
    }
  }

  /** Joins the set (undefined: the watch is closed, or the stream ended meanwhile). */
  private async join(): Promise<Joined | undefined> {
    for (;;) {
      if (this.host.closed()) {
        this.ended = true;
        return undefined;
      }
      const group = await this.host.groupFor(this.request);
      // The group failed or ended between its start and this subscriber's arrival: again.
      if (!this.host.current(group)) {
        if (this.ended) return undefined;
        continue;
      }
      // A copy at the newest planned revision when the set owes nothing (see Group.snapshot).
      const listener = new Listener(this.host.maxQueued, () => group.snapshot(this.host.planned()));
      const subscriber: Subscriber = { listener, checkpoints: this.request.checkpoints === true };
      group.subscribers.add(subscriber);
      if (subscriber.checkpoints) group.checkpointers++;
      this.joined = { group, listener, subscriber };
      if (this.ended) {
        // Returned while the set was being started: it may have no one else to keep it for.
        this.host.leave(group, subscriber);
        return undefined;
      }
      this.signal?.addEventListener("abort", this.onAbort, { once: true });
      if (this.signal?.aborted) listener.close();
      return this.joined;
    }
  }

  /** Leaves the set, once. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    const joined = this.joined;
    if (joined === undefined) return;
    this.signal?.removeEventListener("abort", this.onAbort);
    this.host.leave(joined.group, joined.subscriber);
  }
}

export function subscribe(
  host: SetHost,
  request: WatchPermissionsRequest,
  options: WatchPermissionsOptions = {},
): AsyncIterableIterator<PermissionEvent, undefined, undefined> {
  return new Subscription(host, request, options.signal);
}
