/**
 * The dispatcher every request uses, composed here and nowhere else (SpiceDB's
 * `combined.NewDispatcher` is the model):
 *
 *   cache  ->  single-flight  ->  the local evaluator
 *
 * The cache comes first because it answers synchronously from memory; single-flight next, so only
 * what no one remembers is waited for; the evaluator (evaluator.ts) computes the rest and sends
 * each nested subproblem back through the evaluator's `dispatch`, which makes the walk's own checks
 * (the subject itself, a cycle, the depth limit) and then asks this dispatcher again.
 *
 * The in-memory walk (snapshot-walk.ts) is not a layer here: it answers a whole check depth first
 * and synchronously, and gives up as a whole, so it sits above the dispatcher at the top level of
 * Check and CheckBulk, after the cache (`recall`) and before the first dispatch; its answers are
 * kept with `remember`, so both walks share one cache.
 */
import { CachingDispatcher } from "./caching.js";
import { SingleFlightDispatcher } from "./single-flight.js";
import type { DispatchContext, Dispatcher } from "./types.js";

export function createDispatcher<C extends DispatchContext>(local: Dispatcher<C>): Dispatcher<C> {
  return new CachingDispatcher(new SingleFlightDispatcher(local));
}
