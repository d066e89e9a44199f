import { describe, expect, it } from "vitest";
import { markdownTable, runLoad, summarize } from "../../src/cli/load/index.js";

describe("runLoad", () => {
  it("keeps the calls in flight, records each operation and counts failures apart", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const slow = async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
    };
    const outcome = await runLoad(
      [
        { name: "ok", weight: 3, run: slow },
        {
          name: "fails",
          weight: 1,
          run: async () => {
            throw new Error("refused");
          },
        },
      ],
      { concurrency: 8, durationMs: 150 },
    );
    expect(maxInFlight).toBe(8);
    const ok = outcome.results.find((r) => r.name === "ok");
    expect(ok?.samples).toBeGreaterThan(0);
    expect(ok?.p50Us).toBeGreaterThanOrEqual(1000);
    expect(outcome.results.some((r) => r.name === "fails")).toBe(false);
    expect(outcome.errors["fails: refused"]).toBeGreaterThan(0);
  });
});

describe("summarize", () => {
  it("gives percentiles of the recorded latencies", () => {
    const samples = Array.from({ length: 100 }, (_, i) => (i + 1) / 1000); // 1 µs .. 100 µs, in ms
    const result = summarize("case", samples);
    expect(result.samples).toBe(100);
    expect(result.p50Us).toBeCloseTo(50, 0);
    expect(result.p99Us).toBeCloseTo(99, 0);
    expect(result.maxUs).toBeCloseTo(100, 0);
    expect(markdownTable([result])).toContain("| case |");
  });
});
