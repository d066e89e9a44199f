/**
 * One subscriber's stream: joins the kept set its request names (started if need be), then reads
 * its own queue until the stream is aborted, closed or fails; leaving, it lets the set go when it
 * was the last. The listener is read here, synchronously, rather than through a generator of its
 * own: one async step per event read, as a set of 100,000 is read event by event.
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

export async function* subscribe(
  host: SetHost,
  request: WatchPermissionsRequest,
  options: WatchPermissionsOptions = {},
): AsyncGenerator<PermissionEvent, void, undefined> {
  if (host.closed()) return;
  const signal = options.signal;
  const group = await host.groupFor(request);
  if (!host.current(group)) {
    // The group failed or ended between its start and this subscriber's arrival.
    yield* subscribe(host, request, options);
    return;
  }
  // A copy at the newest planned revision when the set owes nothing (see Group.snapshot).
  const listener = new Listener(host.maxQueued, () => group.snapshot(host.planned()));
  const subscriber: Subscriber = { listener, checkpoints: request.checkpoints === true };
  group.subscribers.add(subscriber);
  if (subscriber.checkpoints) group.checkpointers++;
  const onAbort = () => listener.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) listener.close();
  try {
    for (let event = listener.take(); event !== END; event = listener.take()) {
      if (event === undefined) await listener.wait();
      else yield event;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    host.leave(group, subscriber);
  }
}
