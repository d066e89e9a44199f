import { LRUCache } from "lru-cache";
import { estimateSize } from "./estimate-size.js";
import type { Cache, CacheOptions, CacheStats } from "./types.js";

export function createCache<V>(options: CacheOptions<V>): Cache<V> {
  if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
    throw new RangeError(`cache maxEntries must be a positive integer, got ${options.maxEntries}`);
  }
  const maxBytes = options.maxBytes;
  if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 1)) {
    throw new RangeError(`cache maxBytes must be a positive integer, got ${maxBytes}`);
  }
  const sizeOf = options.sizeOf ?? ((value: V, key: string) => estimateSize(value) + 2 * key.length);

  // lru-cache refuses undefined values, so values are boxed; this also lets `V` include undefined.
  const lru = new LRUCache<string, { readonly value: V }>({
    max: options.maxEntries,
    ...(maxBytes === undefined
      ? {}
      : {
          maxSize: maxBytes,
          // lru-cache needs a positive integer per entry.
          sizeCalculation: (box: { readonly value: V }, key: string) =>
            Math.max(1, Math.ceil(sizeOf(box.value, key))),
        }),
    ...(options.ttlMs === undefined ? {} : { ttl: options.ttlMs }),
  });
  let hits = 0;
  let misses = 0;

  return {
    get(key) {
      const box = lru.get(key);
      if (box === undefined) {
        misses++;
        return undefined;
      }
      hits++;
      return box.value;
    },
    set(key, value) {
      lru.set(key, { value });
    },
    delete(key) {
      lru.delete(key);
    },
    clear() {
      lru.clear();
    },
    stats(): CacheStats {
      return { hits, misses, entries: lru.size, bytes: lru.calculatedSize ?? 0 };
    },
  };
}
