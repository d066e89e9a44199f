/** The shared deadline wheel, on fake timers: what expires, in which order, and what never does. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeadlineWheel, type Expiring } from "../../src/client/deadline-wheel.js";

function entry(name: string, expired: string[]): Expiring {
  return {
    deadlineAt: 0,
    lane: undefined,
    prev: undefined,
    next: undefined,
    expire: () => expired.push(name),
  };
}

describe("deadline wheel", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("expires each entry at its deadline, in deadline order, across timeouts", () => {
    const wheel = new DeadlineWheel();
    const expired: string[] = [];
    wheel.add(entry("a-50", expired), 50);
    wheel.add(entry("b-10", expired), 10);
    vi.advanceTimersByTime(5);
    wheel.add(entry("c-50", expired), 50);
    vi.advanceTimersByTime(4);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(["b-10"]);
    vi.advanceTimersByTime(40);
    expect(expired).toEqual(["b-10", "a-50"]);
    vi.advanceTimersByTime(5);
    expect(expired).toEqual(["b-10", "a-50", "c-50"]);
  });

  it("never expires a removed entry, wherever it was in its list", () => {
    const wheel = new DeadlineWheel();
    const expired: string[] = [];
    const list = ["head", "middle", "tail", "kept"].map((n) => entry(n, expired));
    for (const e of list) wheel.add(e, 30);
    wheel.remove(list[1]!);
    wheel.remove(list[0]!);
    wheel.remove(list[2]!);
    wheel.remove(list[2]!);
    vi.advanceTimersByTime(30);
    expect(expired).toEqual(["kept"]);
  });

  it("an entry added again after it expired or was removed expires once more", () => {
    const wheel = new DeadlineWheel();
    const expired: string[] = [];
    const e = entry("e", expired);
    wheel.add(e, 20);
    vi.advanceTimersByTime(20);
    wheel.add(e, 20);
    vi.advanceTimersByTime(10);
    wheel.remove(e);
    wheel.add(e, 20);
    vi.advanceTimersByTime(20);
    expect(expired).toEqual(["e", "e"]);
  });

  it("a long timeout grouped with a slightly longer one is late by less than 1/128, never early", () => {
    const wheel = new DeadlineWheel();
    const expired: string[] = [];
    wheel.add(entry("longer", expired), 10_040);
    wheel.add(entry("shorter", expired), 10_000);
    vi.advanceTimersByTime(9_999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(10_000 / 128);
    expect(expired).toContain("shorter");
  });
});
