/**
 * The cache decorator: answers the ids whose result is remembered (and fits the depth left), hands
 * the rest on, and remembers what comes back when it may. `recall` and `remember` are the only
 * reads and writes of the result stores: the top level of Check and CheckBulk uses them too, before
 * any request context exists (see check.ts).
 */
import type { Member } from "../membership.js";
import {
  answered,
  type CachedResult,
  type DispatchContext,
  type Dispatched,
  type Dispatcher,
  narrow,
  type ResultStore,
  type Subproblem,
} from "./types.js";

/**
 * A remembered answer for `key` that still holds at `now` and needed at most `room` hops (the
 * depth left where it is asked, see walk-stack.ts); otherwise undefined.
 */
export function recall(
  results: ResultStore,
  key: string,
  now: number,
  room: number,
): CachedResult | undefined {
  const hit = results.get(key, now);
  return hit !== undefined && hit.height <= room ? hit : undefined;
}

/** Keeps an answer that holds on any path (never one that leaned on a cycle cut). */
export function remember(
  results: ResultStore,
  key: string,
  m: Member | undefined,
  until: number,
  height: number,
): void {
  results.set(key, m, until, height);
}

export class CachingDispatcher<C extends DispatchContext> implements Dispatcher<C> {
  constructor(private readonly next: Dispatcher<C>) {}

  dispatch(p: Subproblem<C>): Promise<Dispatched> {
    const keys = p.keys;
    // Nothing may be shared (an explanation): nothing to look up or keep.
    if (keys.length === 0) return this.next.dispatch(p);
    const ctx = p.ctx;
    const room = ctx.maxDepth - p.hops + 1;
    const all = p.ids;
    // The ids left to compute, made only once an id is answered here (most dispatches miss).
    let ids: string[] | undefined;
    let left: string[] | undefined;
    for (let i = 0; i < all.length; i++) {
      const id = all[i]!;
      const hit = recall(ctx.results, keys[i]!, ctx.now, room);
      if (hit === undefined) {
        if (ids !== undefined) {
          ids.push(id);
          left!.push(keys[i]!);
        }
        continue;
      }
      if (ids === undefined) {
        ids = all.slice(0, i);
        left = keys.slice(0, i);
      }
      if (hit.m !== undefined) p.m.set(id, hit.m);
      const acc = p.acc;
      // What is built on this answer holds no longer than it does.
      if (hit.until < acc.validUntil) acc.validUntil = hit.until;
      const reach = p.hops + hit.height - 1;
      if (acc.deepest < reach) acc.deepest = reach;
    }
    if (ids === undefined) return this.computed(p);
    if (ids.length === 0) return Promise.resolve(answered(p));
    return this.computed(narrow(p, ids, left!));
  }

  private async computed(p: Subproblem<C>): Promise<Dispatched> {
    const done = await this.next.dispatch(p);
    if (done.cacheable) {
      const results = p.ctx.results;
      for (let i = 0; i < done.ids.length; i++) {
        remember(results, done.keys[i]!, done.m.get(done.ids[i]!), done.until, done.height);
      }
    }
    return done;
  }
}
