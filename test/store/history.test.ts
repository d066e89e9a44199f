/** The shared parts of compaction: the background schedule, the refusal, durations. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseDuration } from "../../src/cli/duration.js";
import { isLatchError } from "../../src/core/index.js";
import {
  type CompactionOptions,
  type CompactionReport,
  checkRetained,
  formatWindow,
  scheduleCompaction,
} from "../../src/store/index.js";

const empty: CompactionReport = {
  dryRun: false,
  horizon: 0n,
  applied: 0n,
  relationshipVersions: 0,
  changes: 0,
  schemas: 0,
  revisions: 0,
};

afterEach(() => {
  vi.useRealTimers();
});

describe("scheduleCompaction", () => {
  it("runs every interval with the given window, one run at a time, until stopped", async () => {
    vi.useFakeTimers();
    const calls: CompactionOptions[] = [];
    let finish: (() => void) | undefined;
    const store = {
      compactHistory: (options?: CompactionOptions) => {
        calls.push(options ?? {});
        return new Promise<CompactionReport>((resolve) => {
          finish = () => resolve(empty);
        });
      },
    };
    const reports: CompactionReport[] = [];
    const stop = scheduleCompaction(store, {
      windowMs: 5_000,
      intervalMs: 1_000,
      onReport: (r) => reports.push(r),
    });
    await vi.advanceTimersByTimeAsync(1_000);
    // A background run: off the serving thread where the store can (SQLite files).
    expect(calls).toEqual([{ background: true, windowMs: 5_000 }]);
    // Still running: the next ticks start nothing.
    await vi.advanceTimersByTimeAsync(3_000);
    expect(calls).toHaveLength(1);
    finish?.();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(reports).toHaveLength(1);
    expect(calls).toHaveLength(2);
    finish?.();
    stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toHaveLength(2);
  });

  it("reports a failed run and keeps going", async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let n = 0;
    const store = {
      compactHistory: async () => {
        n += 1;
        if (n === 1) throw new Error("database away");
        return empty;
      },
    };
    const stop = scheduleCompaction(store, { intervalMs: 10, onError: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(30);
    stop();
    expect(errors).toHaveLength(1);
    expect(n).toBeGreaterThan(1);
  });

  it("refuses bad settings at once", () => {
    expect(() => scheduleCompaction({ compactHistory: async () => empty }, { windowMs: -5 })).toThrow(
      /window/,
    );
  });
});

describe("the refusal", () => {
  it("names the window, the revision and the oldest one answered", () => {
    expect(() => checkRetained(10n, { revision: 10n, windowMs: 86_400_000 })).not.toThrow();
    expect(() => checkRetained(9n, undefined)).not.toThrow();
    try {
      checkRetained(9n, { revision: 10n, windowMs: 86_400_000 });
      expect.unreachable();
    } catch (error) {
      expect(isLatchError(error) && error.code).toBe("revision/compacted");
      expect(isLatchError(error) && error.kind).toBe("failed-precondition");
      expect((error as Error).message).toContain("GC window (1d)");
      expect((error as Error).message).toContain("oldest revision this store still answers at is 10");
    }
    expect(formatWindow(90 * 60_000)).toBe("90m");
    expect(formatWindow(1_500)).toBe("1500ms");
  });
});

describe("parseDuration", () => {
  it("reads the units people write and refuses anything else", () => {
    expect(parseDuration("24h", "--gc-window")).toBe(86_400_000);
    expect(parseDuration("5m", "--gc-interval")).toBe(300_000);
    expect(parseDuration("45s", "x")).toBe(45_000);
    expect(parseDuration("250ms", "x")).toBe(250);
    expect(parseDuration("2d", "x")).toBe(172_800_000);
    expect(parseDuration("0", "x")).toBe(0);
    expect(() => parseDuration("-1h", "--gc-window")).toThrow(/--gc-window must be a duration/);
    expect(() => parseDuration("soon", "--gc-window")).toThrow(/got "soon"/);
  });
});
