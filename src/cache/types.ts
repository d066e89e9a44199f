/**
 * The contract of the cache module: a bounded key/value cache. It has no get-or-compute: each of
 * the engine's caches decides itself when a value may be used (an expiration, a height against the
 * depth left) and shares computations with its own deadlock rules (engine/dispatch/single-flight.ts).
 */

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
  /** Lookups answered from the cache. */
  readonly hits: number;
  /** Lookups that found nothing. */
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
}

export interface Cache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
  stats(): CacheStats;
}
