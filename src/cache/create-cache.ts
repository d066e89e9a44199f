import { LRUCache } from "lru-cache";
import { estimateSize } from "./estimate-size.js";
import type { Cache, CacheOptions, CacheStats } from "./types.js";

interface InFlight<V> {
  readonly promise: Promise<V>;
}

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
  const inFlight = new Map<string, InFlight<V>>();
  let hits = 0;
  let misses = 0;
  let coalesced = 0;

  const get = (key: string): V | undefined => {
    const box = lru.get(key);
    if (box === undefined) {
      misses++;
      return undefined;
    }
    hits++;
    return box.value;
  };

  const set = (key: string, value: V): void => {
    lru.set(key, { value });
  };

  return {
    get,
    set,
    delete(key) {
      lru.delete(key);
      // A computation started before the delete may have read what the delete invalidates.
      inFlight.delete(key);
    },
    clear() {
      lru.clear();
      inFlight.clear();
    },
    stats(): CacheStats {
      return { hits, misses, coalesced, entries: lru.size, bytes: lru.calculatedSize ?? 0 };
    },
    getOrCompute(key, compute) {
      const box = lru.get(key);
      if (box !== undefined) {
        hits++;
        return Promise.resolve(box.value);
      }
      misses++;
      const running = inFlight.get(key);
      if (running !== undefined) {
        coalesced++;
        return running.promise;
      }
      // An async wrapper turns a synchronous throw of `compute` into a rejection.
      const promise = (async () => compute())();
      const entry: InFlight<V> = { promise };
      inFlight.set(key, entry);
      promise.then(
        (value) => {
          // Only the computation still registered may store: a delete or clear meanwhile wins.
          if (inFlight.get(key) === entry) {
            inFlight.delete(key);
            set(key, value);
          }
        },
        () => {
          if (inFlight.get(key) === entry) inFlight.delete(key);
        },
      );
      return promise;
    },
  };
}
