/**
 * The revision resolver's horizon check (engine/revisions.ts): with the store's horizon at hand
 * (`freshHistoryHorizon`) it answers without waiting; without it, it asks `historyHorizon`. Either
 * way a token behind the horizon is refused for an exact snapshot, and a horizon the store moves
 * (a compaction) is seen by the very next request.
 */
import { describe, expect, it } from "vitest";
import { isLatchError, type Revision } from "../../src/core/index.js";
import { createRevisions } from "../../src/engine/index.js";
import { cachedHorizon, type HistoryHorizon, type Store } from "../../src/store/index.js";

/** A store as the resolver sees it: revisions, tokens, and the horizon (fresh at hand or not). */
function fakeStore(current: Revision, atHand: boolean) {
  const state: { horizon: HistoryHorizon | undefined; asked: number } = { horizon: undefined, asked: 0 };
  const store = {
    currentRevision: async () => current,
    encodeRevision: (r: Revision) => `t${r}`,
    decodeRevision: (t: string) => BigInt(t.slice(1)),
    historyHorizon: async () => {
      state.asked += 1;
      return state.horizon;
    },
    ...(atHand ? { freshHistoryHorizon: () => state.horizon ?? null } : {}),
  } as unknown as Store;
  return { store, state };
}

/** What `f` throws or rejects with (the resolver may do either). */
const refusal = async (f: () => unknown) => {
  try {
    await f();
  } catch (e) {
    return e;
  }
  return undefined;
};

describe("revisions and the history horizon", () => {
  for (const atHand of [true, false]) {
    it(`refuses an exact snapshot behind the horizon at once (horizon ${atHand ? "at hand" : "asked for"})`, async () => {
      const { store, state } = fakeStore(10n, atHand);
      const revisions = createRevisions(store, 1_000);
      await revisions.resolve(undefined);
      expect(await revisions.resolve({ kind: "at-exact-snapshot", token: "t3" })).toBe(3n);
      // A compaction moves the horizon: the next request sees it.
      state.horizon = { revision: 5n, windowMs: 1_000 };
      const refused = await refusal(() => revisions.resolve({ kind: "at-exact-snapshot", token: "t3" }));
      expect(isLatchError(refused) && refused.code).toBe("revision/compacted");
      expect(await revisions.resolve({ kind: "at-exact-snapshot", token: "t5" })).toBe(5n);
      // Other modes read a fresher revision instead.
      expect(await revisions.resolve({ kind: "at-least-as-fresh", token: "t3" })).toBe(10n);
      expect(state.asked > 0).toBe(!atHand);
    });
  }

  it("answers a quantized revision and a known plan without a promise when the horizon is at hand", async () => {
    const { store } = fakeStore(10n, true);
    (store as { at: unknown }).at = () => ({
      readSchema: async () => ({ text: "definition user {}", revision: 1n }),
    });
    const revisions = createRevisions(store, 60_000);
    expect(await revisions.resolve(undefined)).toBe(10n);
    await revisions.planAt(10n);
    expect(revisions.resolve(undefined)).toBe(10n);
    expect(revisions.planAt(10n)).not.toBeInstanceOf(Promise);
  });
});

describe("cachedHorizon", () => {
  it("has the horizon at hand while fresh, and not after a compaction invalidates it", async () => {
    let now = 0;
    let stored: HistoryHorizon | undefined;
    const horizon = cachedHorizon(
      async () => stored,
      () => now,
    );
    expect(horizon.fresh()).toBeUndefined();
    expect(await horizon.get()).toBeUndefined();
    expect(horizon.fresh()).toBeNull();
    stored = { revision: 4n, windowMs: 1 };
    horizon.invalidate();
    expect(horizon.fresh()).toBeUndefined();
    expect(await horizon.get()).toEqual(stored);
    expect(horizon.fresh()).toEqual(stored);
    now += 60_000;
    expect(horizon.fresh()).toBeUndefined();
  });
});
