/**
 * A record's time derived from the latency's monotonic reading: Date.now()'s millisecond, give or
 * take one, and a step of the wall clock followed once the derived time is next checked.
 */
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WallClock } from "../../src/audit/wall-clock.js";

afterEach(() => vi.restoreAllMocks());

describe("the recorder's wall clock", () => {
  it("gives Date.now()'s millisecond for a monotonic reading, within one", () => {
    const clock = new WallClock();
    for (let i = 0; i < 1000; i++) {
      const before = Date.now();
      const at = clock.at(performance.now());
      const after = Date.now();
      expect(at).toBeGreaterThanOrEqual(before - 1);
      expect(at).toBeLessThanOrEqual(after + 1);
      expect(Number.isInteger(at)).toBe(true);
    }
  });

  it("follows a step of the wall clock once it next checks, and not before", () => {
    const clock = new WallClock();
    const start = performance.now();
    const first = clock.at(start);
    const real = Date.now.bind(Date);
    const hour = 3_600_000;
    vi.spyOn(Date, "now").mockImplementation(() => real() + hour);
    // Within the check interval the step is not seen yet.
    expect(clock.at(start + 1)).toBeLessThan(first + 100);
    // A reading past the interval checks, and the time moves with the wall clock.
    const later = clock.at(start + 200);
    expect(later).toBeGreaterThan(first + hour);
    const now = performance.now() + 300;
    expect(Math.abs(clock.at(now) - (real() + 300 + hour))).toBeLessThanOrEqual(2);
  });
});
