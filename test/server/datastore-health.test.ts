/** The datastore health probe and the fail-fast gate, on a store whose reachability a test sets. */
import { describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import { createDatastoreGate, watchDatastoreHealth } from "../../src/server/index.js";
import type { Store } from "../../src/store/index.js";
import { StoreError } from "../../src/store/index.js";
import { eventually } from "../store/fixtures/pg-setup.js";

type Mode = "up" | "refused" | "silent" | "slow";

/**
 * Only `currentRevision` and a reader's `readSchema` matter here; modes: answer, fail at once,
 * never answer, answer after 150 ms (a loaded database).
 */
function fakeStore() {
  let mode: Mode = "up";
  let revision = 1n;
  const call = <T>(value: () => T): Promise<T> => {
    if (mode === "up") return Promise.resolve(value());
    if (mode === "refused") {
      return Promise.reject(new StoreError("store/unavailable", "unavailable", "connection refused"));
    }
    if (mode === "slow") return new Promise<T>((done) => setTimeout(() => done(value()), 150));
    return new Promise<T>(() => undefined);
  };
  const store = {
    storeId: "fake",
    currentRevision: () => call(() => revision),
    at: (at: bigint) => ({ revision: at, readSchema: () => call(() => undefined) }),
    encodeRevision: (r: bigint) => r.toString(),
    close: async () => undefined,
  } as unknown as Store;
  return {
    store,
    set(next: Mode) {
      mode = next;
    },
    bump() {
      revision += 1n;
    },
  };
}

/** A probe every 10 ms of a fake store, and the changes of state it reports. */
function probed(timeoutMs?: number) {
  const fake = fakeStore();
  const changes: boolean[] = [];
  const health = watchDatastoreHealth({
    store: fake.store,
    intervalMs: 10,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    onChange: (serving) => changes.push(serving),
  });
  return { fake, changes, health };
}

describe("datastore health probe", () => {
  it("reports unreachable on refusal and on silence, and reachable again by itself", async () => {
    const { fake, changes, health } = probed(20);
    try {
      expect(await health.probe()).toBe(true);
      fake.set("refused");
      await eventually(() => !health.serving, "refused probe to report down", 5_000);
      fake.set("up");
      await eventually(() => health.serving, "probe to report up", 5_000);
      fake.set("silent");
      await eventually(() => !health.serving, "silent probe to time out", 5_000);
      fake.set("up");
      await eventually(() => health.serving, "probe to report up again", 5_000);
      // Only the transitions are reported, not every probe.
      expect(changes).toEqual([false, true, false, true]);
    } finally {
      health.stop();
    }
  });

  it("keeps a short interval's slow answers serving: the timeout is not the interval", async () => {
    const { fake, changes, health } = probed();
    try {
      fake.set("slow");
      for (let i = 0; i < 3; i++) expect(await health.probe()).toBe(true);
      expect(changes).toEqual([]);
    } finally {
      health.stop();
    }
  });

  it("stops probing when stopped", async () => {
    const { fake, changes, health } = probed();
    health.stop();
    fake.set("refused");
    await new Promise((r) => setTimeout(r, 50));
    expect(changes).toEqual([]);
    expect(health.serving).toBe(true);
  });
});

describe("datastore gate", () => {
  it("passes calls through while reachable and fails silent calls fast with unavailable while not", async () => {
    const fake = fakeStore();
    const gate = createDatastoreGate(fake.store, { failFastMs: 20 });
    expect(await gate.store.currentRevision()).toBe(1n);
    expect(gate.store.storeId).toBe("fake");
    expect(gate.store.encodeRevision(7n)).toBe("7");

    fake.set("silent");
    gate.setReachable(false);
    const error = await gate.store
      .at(1n)
      .readSchema()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isLatchError(error) && error.kind).toBe("unavailable");
    expect(gate.reachable).toBe(false);

    // An answer while gated proves the database is back.
    fake.set("up");
    fake.bump();
    expect(await gate.store.currentRevision()).toBe(2n);
    expect(gate.reachable).toBe(true);
  });

  it("keeps the store's own errors while gated", async () => {
    const fake = fakeStore();
    const gate = createDatastoreGate(fake.store, { failFastMs: 1_000 });
    gate.setReachable(false);
    fake.set("refused");
    const error = await gate.store.currentRevision().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLatchError(error) && error.message).toBe("connection refused");
  });
});
