/**
 * LookupResources streams: its first results leave before the walk is done, a limit stops the
 * walk early, and a cancelled lookup makes no more reads. Observed through a store that counts
 * reads and can hold them: no timing.
 */
import { describe, expect, it } from "vitest";
import { isLatchError, type LatchError } from "../../src/core/index.js";
import { createEngine, type Engine, type LookupResourceResult } from "../../src/engine/index.js";
import { delegateReader, delegateStore, type Store } from "../../src/store/index.js";
import { collectAll, LOOKUP_SCHEMA, rels } from "./lookup-harness.js";
import { createMemoryStore } from "./memory-store.js";

const view = (extra: Record<string, unknown> = {}) => ({
  resourceType: "document",
  permission: "view",
  subject: { type: "user", id: "alice" },
  consistency: { kind: "fully-consistent" } as const,
  ...extra,
});

/**
 * Alice sees d-direct-* herself and the rest through a chain of groups, each one hop further:
 * the walk needs a round of reads per group, and each round finds more documents.
 */
function fixtureLines(groups: number): string[] {
  const lines = [
    "document:a0#viewer@user:alice",
    "document:a1#viewer@user:alice",
    "group:g0#member@user:alice",
  ];
  for (let g = 0; g < groups; g++) {
    if (g > 0) lines.push(`group:g${g}#member@group:g${g - 1}#member`);
    lines.push(`document:g${g}_x#viewer@group:g${g}#member`, `document:g${g}_y#viewer@group:g${g}#member`);
  }
  return lines;
}

/** A store whose reads can be held: once `hold()` is called, every read waits for `release()`. */
function holdingStore(inner: Store) {
  let reads = 0;
  let holding = false;
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const held: string[] = [];
  let onHeld: () => void = () => {};
  const heldOnce = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  const store: Store = {
    ...delegateStore(inner),
    at(revision) {
      const reader = inner.at(revision);
      return {
        ...delegateReader(reader),
        async lookupReverse(query) {
          reads++;
          if (holding) {
            held.push(`${query.resourceType}@${query.subjectType}`);
            onHeld();
            await gate;
          }
          return reader.lookupReverse(query);
        },
      };
    },
  };
  return {
    store,
    get reads() {
      return reads;
    },
    held,
    heldOnce,
    hold() {
      holding = true;
      gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    release() {
      holding = false;
      release();
    },
  };
}

async function setup(groups: number) {
  const inner = await createMemoryStore();
  await inner.writeSchema(LOOKUP_SCHEMA);
  await inner.importRelationships(rels(...fixtureLines(groups)));
  const holding = holdingStore(inner);
  const engine: Engine = createEngine({ store: holding.store, quantizationMs: 0, cache: false });
  return { engine, holding };
}

describe("LookupResources streaming", () => {
  it("gives its first results while the rest of the walk's reads are still held", async () => {
    const { engine, holding } = await setup(6);
    const everything = await collectAll(engine.lookupResources(view()));
    expect(everything.map((r) => r.resourceId)).toEqual([
      "a0",
      "a1",
      ...Array.from({ length: 6 }, (_, g) => [`g${g}_x`, `g${g}_y`]).flat(),
    ]);
    const fullWalk = holding.reads;

    const results = engine.lookupResources(view())[Symbol.asyncIterator]();
    const start = holding.reads;
    const first = await results.next();
    const second = await results.next();
    expect([first.value?.resourceId, second.value?.resourceId]).toEqual(["a0", "a1"]);
    // The first round of reads gave them; from now on every read is held until released.
    const firstRound = holding.reads - start;
    expect(firstRound).toBeLessThan(fullWalk / 3);
    holding.hold();
    // The third result needs another round: its read is held, so the result cannot come yet.
    const third = results.next();
    let thirdCame = false;
    void third.then(() => {
      thirdCame = true;
    });
    await holding.heldOnce;
    expect(thirdCame).toBe(false);
    expect(holding.held.length).toBeGreaterThan(0);
    holding.release();
    expect((await third).value?.resourceId).toBe("g0_x");
    const rest: LookupResourceResult[] = [];
    for (let r = await results.next(); r.done !== true; r = await results.next()) rest.push(r.value);
    expect(["a0", "a1", "g0_x", ...rest.map((r) => r.resourceId)]).toEqual(
      everything.map((r) => r.resourceId),
    );
    expect(holding.reads - start).toBe(fullWalk);
  });

  it("a limited lookup stops the walk once it has its page", async () => {
    const { engine, holding } = await setup(8);
    const before = holding.reads;
    const all = await collectAll(engine.lookupResources(view()));
    const unlimited = holding.reads - before;
    const mid = holding.reads;
    const page = await collectAll(engine.lookupResources(view({ limit: 2 })));
    const limited = holding.reads - mid;
    expect(page.map((r) => r.resourceId)).toEqual(["a0", "a1"]);
    expect(all.length).toBe(18);
    // One round of reads (the first level holds the page) against one per group.
    expect(limited * 4).toBeLessThan(unlimited);
    // The next page resumes the walk from the cursor's level and gives exactly what follows.
    const next = await collectAll(engine.lookupResources(view({ limit: 3, cursor: page[1]!.cursor })));
    expect(next.map((r) => r.resourceId)).toEqual(["g0_x", "g0_y", "g1_x"]);
    // And so on, page after page, each one resuming deeper in the walk.
    const pages = [...page, ...next];
    // Bounded, so that a cursor that goes back fails the comparison instead of paging forever.
    for (let last = next, n = 0; last.length === 3 && n < all.length; n++) {
      last = await collectAll(engine.lookupResources(view({ limit: 3, cursor: last[2]!.cursor })));
      pages.push(...last);
    }
    expect(pages.map((r) => r.resourceId)).toEqual(all.map((r) => r.resourceId));
  });

  it("a cancelled lookup reads nothing more, even when it was cancelled during a read", async () => {
    const { engine, holding } = await setup(6);
    const controller = new AbortController();
    const results = engine.lookupResources(view(), { signal: controller.signal })[Symbol.asyncIterator]();
    await results.next();
    await results.next();
    holding.hold();
    const third = results.next();
    await holding.heldOnce;
    // The client goes while the walk waits for the store.
    controller.abort();
    const readsAtCancel = holding.reads;
    holding.release();
    const error = await third.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLatchError(error) && error.code).toBe("request/deadline-exceeded");
    // The cursor resumes after the last result the client was given.
    const cursor = (error as LatchError).details.cursor as string;
    expect(holding.reads).toBe(readsAtCancel);
    expect((await results.next()).done).toBe(true);
    expect(holding.reads).toBe(readsAtCancel);
    const resumed = await collectAll(engine.lookupResources(view({ cursor })));
    expect(resumed[0]?.resourceId).toBe("g0_x");

    // A consumer that simply stops pulling stops the walk too.
    const quitter = engine.lookupResources(view())[Symbol.asyncIterator]();
    await quitter.next();
    const readsAtReturn = holding.reads;
    await quitter.return?.();
    expect(holding.reads).toBe(readsAtReturn);
  });
});
