/**
 * LookupResources a chunk of results at a time, for callers that take a whole set (the permission
 * watch) and want no generator step per result. The chunked form rides on the `lookupResources`
 * function itself, not beside it on the decider: a decorator that replaces `lookupResources` (even
 * one that copies the rest of its `next` with a spread) drops it with the function, so a lookup
 * never goes round a decorator that does not know of chunks; it then falls back to one result a
 * chunk (`lookupBatches` in service/decider.ts).
 */
import { carriedForm } from "./carried-form.js";
import type { LookupResourceResult, LookupResourcesRequest, RequestOptions } from "./types.js";

/**
 * Options of the chunked lookup. `cursors: false`, for a caller that takes the whole set and never
 * resumes (the permission watch), leaves each result's cursor empty and gives each level's results
 * in the order the walk reached them (id order within a level only serves cursors): one string per
 * result and a sort per level are a large share of a 100,000-result lookup. Decorators pass their options on as they are; one
 * that rebuilds them drops the flag, and the results then carry their cursors as usual.
 */
export interface LookupBatchOptions extends RequestOptions {
  readonly cursors?: false;
}

/** Results in chunks (one level's, in the per-result order, each with its cursor unless asked not to). */
export type LookupResourceBatches = (
  request: LookupResourcesRequest,
  options?: LookupBatchOptions,
) => AsyncIterable<readonly LookupResourceResult[]>;

const BATCHES = carriedForm<LookupResourceBatches>("latch.lookupResourceBatches");

/** `lookup`, carrying `batches`: the same lookup a chunk at a time. */
export const withLookupBatches: <F extends object>(lookup: F, batches: LookupResourceBatches) => F =
  BATCHES.attach;

/** The chunked form a `lookupResources` function carries, if any. */
export const lookupBatchesOf: (lookup: object) => LookupResourceBatches | undefined = BATCHES.of;
