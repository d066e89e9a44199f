/**
 * LookupResources a chunk of results at a time, for callers that take a whole set (the permission
 * watch) and want no generator step per result. The chunked form rides on the `lookupResources`
 * function itself, not beside it on the decider: a decorator that replaces `lookupResources` (even
 * one that copies the rest of its `next` with a spread) drops it with the function, so a lookup
 * never goes round a decorator that does not know of chunks; it then falls back to one result a
 * chunk (`lookupBatches` in service/decider.ts).
 */
import type { LookupResourceResult, LookupResourcesRequest, RequestOptions } from "./types.js";

/** Results in chunks (one level's, in the per-result order, each with its cursor). */
export type LookupResourceBatches = (
  request: LookupResourcesRequest,
  options?: RequestOptions,
) => AsyncIterable<readonly LookupResourceResult[]>;

const BATCHES = Symbol("latch.lookupResourceBatches");

/** `lookup`, carrying `batches`: the same lookup a chunk at a time. */
export function withLookupBatches<F extends object>(lookup: F, batches: LookupResourceBatches): F {
  Object.defineProperty(lookup, BATCHES, { value: batches });
  return lookup;
}

/** The chunked form a `lookupResources` function carries, if any. */
export function lookupBatchesOf(lookup: object): LookupResourceBatches | undefined {
  return (lookup as { readonly [BATCHES]?: LookupResourceBatches })[BATCHES];
}
