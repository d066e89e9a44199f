/** The contract of the cache module: a bounded key/value cache with single-flight computation. */

export interface CacheOptions<V> {
  /** Upper bound on the number of entries; the least recently used are evicted first. */
  readonly maxEntries: number;
  /**
   * Upper bound on the total estimated size of the entries. Sizes come from `sizeOf`, or from a
   * rough structural estimate when `sizeOf` is absent.
   */
  readonly maxBytes?: number;
  /** Estimated size of one entry; it should count the key too. */
  readonly sizeOf?: (value: V, key: string) => number;
  /** Entries older than this are treated as absent. */
  readonly ttlMs?: number;
}

export interface CacheStats {
  /** Lookups answered from the cache (`get` and `getOrCompute`). */
  readonly hits: number;
  /** Lookups that found nothing (a `getOrCompute` that joined an in-flight computation counts here too). */
  readonly misses: number;
  /** `getOrCompute` calls that awaited a computation another caller had already started. */
  readonly coalesced: number;
  readonly entries: number;
  readonly bytes: number;
}

export interface Cache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
  stats(): CacheStats;
  /**
   * Returns the cached value, or computes it. Concurrent calls with the same key share one
   * computation; a rejected computation is not cached, so the next call tries again.
   */
  getOrCompute(key: string, compute: () => Promise<V>): Promise<V>;
}
