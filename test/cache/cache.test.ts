import { describe, expect, it } from "vitest";
import { createCache, estimateSize } from "../../src/cache/index.js";

describe("createCache", () => {
  it("stores, reads, deletes and clears", () => {
    const cache = createCache<number>({ maxEntries: 10 });
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.delete("a");
    expect(cache.get("a")).toBeUndefined();
    expect(cache.stats().entries).toBe(1);
    cache.clear();
    expect(cache.get("b")).toBeUndefined();
    expect(cache.stats().entries).toBe(0);
  });

  it("keeps values that are falsy or undefined", () => {
    const cache = createCache<number | undefined | boolean>({ maxEntries: 10 });
    cache.set("zero", 0);
    cache.set("no", false);
    expect(cache.get("zero")).toBe(0);
    expect(cache.get("no")).toBe(false);
    expect(cache.stats().hits).toBe(2);
  });

  it("evicts the least recently used entry past maxEntries", () => {
    const cache = createCache<string>({ maxEntries: 3 });
    cache.set("a", "A");
    cache.set("b", "B");
    cache.set("c", "C");
    cache.get("a"); // a is now the most recently used
    cache.set("d", "D");
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe("A");
    expect(cache.get("c")).toBe("C");
    expect(cache.get("d")).toBe("D");
    expect(cache.stats().entries).toBe(3);
  });

  it("evicts by bytes with a caller-given sizeOf", () => {
    const cache = createCache<string>({ maxEntries: 100, maxBytes: 10, sizeOf: (v) => v.length });
    cache.set("a", "xxxx");
    cache.set("b", "yyyy");
    expect(cache.stats().bytes).toBe(8);
    cache.set("c", "zzzz");
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBe("yyyy");
    expect(cache.get("c")).toBe("zzzz");
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 8 });
  });

  it("does not store an entry larger than maxBytes", () => {
    const cache = createCache<string>({ maxEntries: 100, maxBytes: 10, sizeOf: (v) => v.length });
    cache.set("small", "ab");
    cache.set("huge", "x".repeat(11));
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.get("small")).toBe("ab");
  });

  it("bounds bytes with the default estimate when no sizeOf is given", () => {
    const value = { ids: ["a", "b", "c"], n: 1 };
    const one = estimateSize(value) + 2 * "k0".length;
    const cache = createCache<typeof value>({ maxEntries: 1000, maxBytes: one * 3 });
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, value);
    const { entries, bytes } = cache.stats();
    expect(entries).toBe(3);
    expect(bytes).toBeLessThanOrEqual(one * 3);
    expect(cache.get("k9")).toBe(value);
    expect(cache.get("k0")).toBeUndefined();
  });

  it("counts hits and misses", () => {
    const cache = createCache<number>({ maxEntries: 10 });
    cache.get("a");
    cache.set("a", 1);
    cache.get("a");
    cache.get("a");
    cache.get("a");
    cache.get("b");
    cache.set("b", 3);
    expect(cache.stats()).toMatchObject({ hits: 3, misses: 2, entries: 2 });
  });

  it("expires entries after ttlMs", async () => {
    const cache = createCache<number>({ maxEntries: 10, ttlMs: 20 });
    cache.set("a", 1);
    expect(cache.get("a")).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(cache.get("a")).toBeUndefined();
  });

  it("rejects nonsense bounds", () => {
    expect(() => createCache({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => createCache({ maxEntries: 1, maxBytes: -1 })).toThrow(RangeError);
  });
});
