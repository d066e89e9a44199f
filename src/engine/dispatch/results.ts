/** Where subproblem results live: the shared LRU (keyed with revision) or a per-request map. */
import { createCache } from "../../cache/index.js";
import { memberSize } from "../membership.js";
import type { CachedResult, ResultStore } from "./types.js";

/** `until`: the result holds until the earliest expiration among the relationships it read. */
type Entry = CachedResult;

export interface SharedResults extends ResultStore {
  readonly hits: number;
  readonly misses: number;
}

export function createSharedResults(maxEntries: number, maxBytes: number | undefined): SharedResults {
  const cache = createCache<Entry>({
    maxEntries,
    ...(maxBytes === undefined ? {} : { maxBytes }),
    sizeOf: (e, key) => 48 + key.length * 2 + memberSize(e.m),
  });
  let hits = 0;
  let misses = 0;
  return {
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
    get(key, now) {
      const e = cache.get(key);
      if (e === undefined || e.until <= now) {
        misses++;
        return undefined;
      }
      hits++;
      return e;
    },
    set(key, m, until, height) {
      cache.set(key, { m, until, height });
    },
  };
}

export function createRequestResults(): ResultStore {
  const map = new Map<string, Entry>();
  return {
    get(key, now) {
      const e = map.get(key);
      if (e === undefined || e.until <= now) return undefined;
      return e;
    },
    set(key, m, until, height) {
      map.set(key, { m, until, height });
    },
  };
}
