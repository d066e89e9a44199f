/**
 * A bounded pool of values opened on first use, one per key: in testing mode, a backend (an empty
 * in-memory store with its engine) per bearer token. When the pool is full, the least recently
 * used value that no call holds is closed to make room; a value held by a call (a Watch stream,
 * say) is never closed under it. When every value is held, the new key is refused with a clear
 * error rather than letting memory grow without bound.
 */
import { LatchError } from "../core/index.js";

export interface Closable {
  close(): Promise<void>;
}

/** A value lent to one call; `release` once the call is over (exactly once). */
export interface Lease<T> {
  readonly value: T;
  release(): void;
}

export interface TenantPool<T> {
  acquire(key: string): Promise<Lease<T>>;
  /** Values open (or opening) now. */
  readonly size: number;
  /** Closes every value; calls still holding one see their store closed. */
  close(): Promise<void>;
}

export interface TenantPoolOptions<T extends Closable> {
  readonly open: (key: string) => Promise<T>;
  /** Most values open at once. */
  readonly max: number;
  /** Called when a value was closed to make room (for the log). */
  readonly onEvict?: (key: string) => void;
}

interface Entry<T> {
  readonly opening: Promise<T>;
  /** Calls holding the value (or waiting for it to open). */
  holders: number;
}

export function createTenantPool<T extends Closable>(options: TenantPoolOptions<T>): TenantPool<T> {
  if (!Number.isSafeInteger(options.max) || options.max < 1)
    throw new RangeError(`the pool's maximum must be a positive integer, got ${options.max}`);
  // A Map iterates in insertion order: re-inserting a key on use keeps the least recent first.
  const entries = new Map<string, Entry<T>>();
  let closed = false;

  const closeEntry = (entry: Entry<T>) =>
    entry.opening.then(
      (value) => value.close(),
      () => undefined,
    );

  /** Closes the least recently used idle value; false when every value is held. */
  const evictOne = (): boolean => {
    for (const [key, entry] of entries) {
      if (entry.holders > 0) continue;
      entries.delete(key);
      void closeEntry(entry);
      options.onEvict?.(key);
      return true;
    }
    return false;
  };

  return {
    get size() {
      return entries.size;
    },
    async acquire(key) {
      if (closed) throw new LatchError("store/unavailable", "unavailable", "the server is shutting down");
      let entry = entries.get(key);
      if (entry === undefined) {
        if (entries.size >= options.max && !evictOne()) {
          throw new LatchError(
            "testing/too-many-stores",
            "resource-exhausted",
            `testing mode holds at most ${options.max} stores (one per token) and every one is in use by a call: end some calls (Watch streams), use fewer tokens at once, or raise --testing-max-stores`,
            { limit: options.max },
          );
        }
        entry = { opening: options.open(key), holders: 0 };
        const opened = entry;
        // A store that failed to open is forgotten, so that the next call tries again.
        opened.opening.catch(() => {
          if (entries.get(key) === opened) entries.delete(key);
        });
      } else entries.delete(key);
      entries.set(key, entry);
      entry.holders++;
      const held = entry;
      let value: T;
      try {
        value = await held.opening;
      } catch (error) {
        held.holders--;
        throw error;
      }
      let released = false;
      return {
        value,
        release() {
          if (released) return;
          released = true;
          held.holders--;
        },
      };
    },
    async close() {
      closed = true;
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(all.map(closeEntry));
    },
  };
}
