import { describe, expect, it } from "vitest";
import { createCache, estimateSize } from "../../src/cache/index.js";

/** A promise whose settlement the test controls. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

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

  it("counts hits and misses", async () => {
    const cache = createCache<number>({ maxEntries: 10 });
    cache.get("a");
    cache.set("a", 1);
    cache.get("a");
    cache.get("a");
    await cache.getOrCompute("a", async () => 2);
    await cache.getOrCompute("b", async () => 3);
    expect(cache.stats()).toMatchObject({ hits: 3, misses: 2, entries: 2 });
  });

  it("expires entries after ttlMs", async () => {
    const cache = createCache<number>({ maxEntries: 10, ttlMs: 20 });
    cache.set("a", 1);
    expect(cache.get("a")).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(cache.get("a")).toBeUndefined();
  });

  it("computes concurrent identical keys once", async () => {
    const cache = createCache<string>({ maxEntries: 10 });
    const gate = deferred<string>();
    let calls = 0;
    const compute = () => {
      calls++;
      return gate.promise;
    };
    const first = cache.getOrCompute("k", compute);
    const second = cache.getOrCompute("k", compute);
    const other = cache.getOrCompute("other", async () => "O");
    gate.resolve("V");
    expect(await Promise.all([first, second, other])).toEqual(["V", "V", "O"]);
    expect(calls).toBe(1);
    expect(cache.stats().coalesced).toBe(1);
    expect(await cache.getOrCompute("k", compute)).toBe("V");
    expect(calls).toBe(1);
  });

  it("does not cache a rejected computation, and every waiter sees the rejection", async () => {
    const cache = createCache<string>({ maxEntries: 10 });
    const gate = deferred<string>();
    const first = cache.getOrCompute("k", () => gate.promise);
    const second = cache.getOrCompute("k", () => Promise.resolve("never"));
    gate.reject(new Error("boom"));
    await expect(first).rejects.toThrow("boom");
    await expect(second).rejects.toThrow("boom");
    expect(cache.get("k")).toBeUndefined();
    expect(await cache.getOrCompute("k", async () => "retry")).toBe("retry");
    expect(cache.get("k")).toBe("retry");
  });

  it("turns a synchronous throw of compute into a rejection", async () => {
    const cache = createCache<string>({ maxEntries: 10 });
    await expect(
      cache.getOrCompute("k", () => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    expect(await cache.getOrCompute("k", async () => "ok")).toBe("ok");
  });

  it("does not store a computation that a delete or clear overtook", async () => {
    const cache = createCache<string>({ maxEntries: 10 });
    const gate = deferred<string>();
    const pending = cache.getOrCompute("k", () => gate.promise);
    cache.delete("k");
    // A caller after the delete must not join the stale computation.
    const fresh = cache.getOrCompute("k", async () => "fresh");
    gate.resolve("stale");
    expect(await pending).toBe("stale");
    expect(await fresh).toBe("fresh");
    expect(cache.get("k")).toBe("fresh");

    const gate2 = deferred<string>();
    const pending2 = cache.getOrCompute("j", () => gate2.promise);
    cache.clear();
    gate2.resolve("stale");
    await pending2;
    expect(cache.get("j")).toBeUndefined();
  });

  it("rejects nonsense bounds", () => {
    expect(() => createCache({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => createCache({ maxEntries: 1, maxBytes: -1 })).toThrow(RangeError);
  });
});
