/**
 * The dispatcher's decorators on their own, over a fake local dispatcher: the cache answers what it
 * remembers where the height fits and keeps only what may be kept; single-flight joins equal
 * subproblems of concurrent requests and never waits in a circle.
 */
import { describe, expect, it } from "vitest";
import {
  CachingDispatcher,
  createDispatcher,
  createRequestResults,
  type DispatchContext,
  type Dispatched,
  type Dispatcher,
  type RequestState,
  type ResultStore,
  SingleFlightDispatcher,
  type Subproblem,
} from "../../src/engine/dispatch/index.js";
import { CycleWalk } from "../../src/engine/fixpoint.js";
import type { Member } from "../../src/engine/membership.js";
import type { PlanMember } from "../../src/engine/plan.js";
import { baseFrame } from "../../src/engine/walk-stack.js";

const MEMBER = { label: "doc#view" } as unknown as PlanMember;

interface Ctx extends DispatchContext {
  readonly name: string;
}

function ctxOf(
  name: string,
  results: ResultStore = createRequestResults(),
  shares = true,
  maxDepth = 10,
): Ctx {
  return { name, results, now: 1_000, maxDepth, ...(shares ? { state: { waitingOn: undefined } } : {}) };
}

function ask(ctx: Ctx, ids: string[], hops = 1, keyed = true): Subproblem<Ctx> {
  return {
    ctx,
    member: MEMBER,
    ids,
    keys: keyed ? ids.map((id) => `k:${id}`) : [],
    stack: baseFrame(new CycleWalk()),
    depth: hops,
    hops,
    neg: 0,
    origin: undefined,
    traceOnly: false,
    m: new Map(),
    t: undefined,
    w: undefined,
    acc: { minCut: Number.POSITIVE_INFINITY, validUntil: Number.POSITIVE_INFINITY, deepest: hops },
  };
}

interface Answer {
  readonly m?: Member | undefined;
  readonly cacheable?: boolean;
  readonly until?: number;
  readonly height?: number;
}

/** A local dispatcher that answers from `answer` and records what it was asked. */
function fakeLocal(
  answer: (ctx: Ctx, id: string, hops: number) => Answer | Promise<Answer> = () => ({ m: true }),
) {
  const asked: { ctx: string; ids: readonly string[]; keys: readonly string[] }[] = [];
  const local: Dispatcher<Ctx> = {
    async dispatch(p) {
      asked.push({ ctx: p.ctx.name, ids: p.ids, keys: p.keys });
      let cacheable = true;
      let until = Number.POSITIVE_INFINITY;
      let height = 1;
      for (const id of p.ids) {
        const a = await answer(p.ctx, id, p.hops);
        const m = "m" in a ? a.m : true;
        if (m !== undefined) p.m.set(id, m);
        cacheable &&= a.cacheable ?? true;
        until = Math.min(until, a.until ?? Number.POSITIVE_INFINITY);
        height = Math.max(height, a.height ?? 1);
      }
      return {
        m: p.m,
        t: p.t,
        w: p.w,
        ids: p.ids,
        keys: p.keys,
        cacheable,
        until,
        height,
      } satisfies Dispatched;
    },
  };
  return { local, asked };
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/** Lets every pending continuation run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("the cache decorator", () => {
  it("answers what it remembers and hands on only the rest", async () => {
    const results = createRequestResults();
    results.set("k:a", true, 5_000, 1);
    results.set("k:c", undefined, Number.POSITIVE_INFINITY, 1);
    const { local, asked } = fakeLocal();
    const cache = new CachingDispatcher(local);
    const p = ask(ctxOf("r", results), ["a", "b", "c", "d"]);
    const out = await cache.dispatch(p);
    expect(asked).toEqual([{ ctx: "r", ids: ["b", "d"], keys: ["k:b", "k:d"] }]);
    expect([...out.m.entries()].sort()).toEqual([
      ["a", true],
      ["b", true],
      ["d", true],
    ]);
    // What the caller builds on a remembered answer expires with it.
    expect(p.acc.validUntil).toBe(5_000);
    // What was computed is remembered: asking again computes nothing.
    await cache.dispatch(ask(ctxOf("r", results), ["a", "b", "c", "d"]));
    expect(asked).toHaveLength(1);
  });

  it("uses a remembered answer only where its height fits the depth left", async () => {
    const results = createRequestResults();
    results.set("k:a", true, Number.POSITIVE_INFINITY, 4);
    // (What the deep ask computes is not kept, so the remembered answer stays as it was.)
    const { local, asked } = fakeLocal(() => ({ m: undefined, cacheable: false }));
    const cache = new CachingDispatcher(local);
    // At hop 8 of 10, three hops are left: the answer needed four.
    const deep = ask(ctxOf("r", results), ["a"], 8);
    await cache.dispatch(deep);
    expect(asked.map((a) => a.ids)).toEqual([["a"]]);
    expect(deep.m.has("a")).toBe(false);
    // At hop 7 all four fit, and the caller learns how deep the answer reached.
    const fits = ask(ctxOf("r", results), ["a"], 7);
    await cache.dispatch(fits);
    expect(asked).toHaveLength(1);
    expect(fits.m.get("a")).toBe(true);
    expect(fits.acc.deepest).toBe(10);
  });

  it("keeps nothing that leaned on a cycle cut, and nothing past its expiration", async () => {
    const results = createRequestResults();
    const { local } = fakeLocal((_ctx, id) => (id === "cut" ? { cacheable: false } : { until: 500 }));
    const cache = new CachingDispatcher(local);
    await cache.dispatch(ask(ctxOf("r", results), ["cut"]));
    await cache.dispatch(ask(ctxOf("r", results), ["expired"]));
    expect(results.get("k:cut", 0)).toBeUndefined();
    expect(results.get("k:expired", 0)).toMatchObject({ m: true, until: 500 });
    // The request's clock (1,000) is past 500: the answer is not used.
    expect(results.get("k:expired", 1_000)).toBeUndefined();
  });

  it("passes a subproblem without keys (an explanation) straight through", async () => {
    const results = createRequestResults();
    results.set("k:a", true, Number.POSITIVE_INFINITY, 1);
    const { local, asked } = fakeLocal();
    await new CachingDispatcher(local).dispatch(ask(ctxOf("r", results), ["a"], 1, false));
    expect(asked).toEqual([{ ctx: "r", ids: ["a"], keys: [] }]);
  });
});

describe("the single-flight decorator", () => {
  it("joins a concurrent request asking the same subproblem", async () => {
    const gate = deferred();
    const { local, asked } = fakeLocal(async () => {
      await gate.promise;
      return { m: true, until: 5_000, height: 3 };
    });
    const flights = new SingleFlightDispatcher(local);
    const a = ask(ctxOf("a"), ["x"]);
    const b = ask(ctxOf("b"), ["x", "y"]);
    const first = flights.dispatch(a);
    const second = flights.dispatch(b);
    await settle();
    gate.resolve();
    await Promise.all([first, second]);
    // b computed only what a was not computing.
    expect(asked).toEqual([
      { ctx: "a", ids: ["x"], keys: ["k:x"] },
      { ctx: "b", ids: ["y"], keys: ["k:y"] },
    ]);
    expect(b.m.get("x")).toBe(true);
    expect(b.acc.validUntil).toBe(5_000);
    expect(b.acc.deepest).toBe(3);
  });

  it("lets the waiter compute what the owner could not hand on", async () => {
    for (const owner of [{ cacheable: false }, { height: 10 }] as const) {
      const gate = deferred();
      const { local, asked } = fakeLocal(async (ctx) => {
        if (ctx.name === "a") await gate.promise;
        return ctx.name === "a" ? owner : {};
      });
      const flights = new SingleFlightDispatcher(local);
      const first = flights.dispatch(ask(ctxOf("a"), ["x"]));
      // Asked from hop 5 of 10, an answer 10 hops high does not fit.
      const b = ask(ctxOf("b"), ["x"], 5);
      const second = flights.dispatch(b);
      await settle();
      gate.resolve();
      await Promise.all([first, second]);
      expect(asked.map((x) => x.ctx)).toEqual(["a", "b"]);
      expect(b.m.get("x")).toBe(true);
    }
  });

  it("does not wait in a circle: a request never waits on one that waits on it", async () => {
    const gates = { a: deferred(), b: deferred() };
    let flights!: SingleFlightDispatcher<Ctx>;
    const computed: string[] = [];
    const { local } = fakeLocal(async (ctx, id, hops) => {
      computed.push(`${ctx.name}:${id}`);
      // a computes x, which needs y; b computes y, which needs x (one level deep, no further).
      const needs = id === "x" ? "y" : "x";
      if (hops === 1) {
        await gates[ctx.name as "a" | "b"].promise;
        const nested = { ...ask(ctx, [needs], 2), acc: { minCut: 9, validUntil: 9e15, deepest: 2 } };
        await flights.dispatch(nested);
      }
      return { m: true };
    });
    flights = new SingleFlightDispatcher(local);
    const a = ctxOf("a");
    const b = ctxOf("b");
    const first = flights.dispatch(ask(a, ["x"]));
    const second = flights.dispatch(ask(b, ["y"]));
    await settle();
    // b asks for x first and waits on a; then a asks for y, owned by b, which waits on a.
    gates.b.resolve();
    await settle();
    expect((b.state as RequestState).waitingOn).toBe(a.state);
    gates.a.resolve();
    await Promise.all([first, second]);
    // a computed y itself instead of waiting on b; b took x from a.
    expect(computed).toEqual(["a:x", "b:y", "a:y"]);
  });

  it("leaves requests that do not share (no state) alone", async () => {
    const gate = deferred();
    const { local, asked } = fakeLocal(async () => {
      await gate.promise;
      return {};
    });
    const flights = new SingleFlightDispatcher(local);
    const first = flights.dispatch(ask(ctxOf("a"), ["x"]));
    const second = flights.dispatch(ask(ctxOf("b", createRequestResults(), false), ["x"]));
    await settle();
    gate.resolve();
    await Promise.all([first, second]);
    expect(asked.map((x) => x.ctx)).toEqual(["a", "b"]);
  });
});

describe("the combined dispatcher", () => {
  it("answers from the cache first, then joins flights, then computes", async () => {
    const results = createRequestResults();
    results.set("k:cached", true, Number.POSITIVE_INFINITY, 1);
    const gate = deferred();
    const { local, asked } = fakeLocal(async () => {
      await gate.promise;
      return {};
    });
    const dispatcher = createDispatcher(local);
    const first = dispatcher.dispatch(ask(ctxOf("a", results), ["x"]));
    const second = dispatcher.dispatch(ask(ctxOf("b", results), ["cached", "x", "y"]));
    await settle();
    gate.resolve();
    await Promise.all([first, second]);
    expect(asked.map((x) => [x.ctx, x.ids])).toEqual([
      ["a", ["x"]],
      ["b", ["y"]],
    ]);
    // The flight's owner remembered x; b did not store it again.
    expect(results.get("k:x", 0)).toMatchObject({ m: true });
  });
});
