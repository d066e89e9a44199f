/**
 * A record's time (ms since the epoch, as `Date.now()` gives it) from the `performance.now()`
 * reading a recorded Check already takes for its latency: no second clock read per decision
 * (`Date.now()` is a runtime call, about 0.2k instructions a check counted by callgrind).
 *
 * The wall clock is Node's time origin plus the monotonic reading. Both clocks are slewed alike by
 * NTP, but a step of the wall clock (set by hand, by NTP at start, a VM resumed) moves only it: the
 * sum is checked against `Date.now()` at most every `CHECK_EVERY_MS` and rebased when they differ
 * by more than a millisecond, so a step shows in the records within that time. Between steps the
 * two agree to a few tens of microseconds (the time origin's own reading; measured on Linux: the
 * millisecond differed from a `Date.now()` read beside it in about 2% of reads, by one).
 */
// Imported, not the global: on Node 20 `globalThis.performance` is a getter run at every read.
import { performance } from "node:perf_hooks";

/** How often the derived time is held against `Date.now()`, in ms of the monotonic clock. */
const CHECK_EVERY_MS = 100;

export class WallClock {
  private origin = performance.timeOrigin;
  private checkedAt = Number.NEGATIVE_INFINITY;

  /** The wall-clock ms at `monotonic`, a `performance.now()` reading. */
  at(monotonic: number): number {
    if (!(monotonic - this.checkedAt < CHECK_EVERY_MS)) this.check();
    return Math.floor(this.origin + monotonic);
  }

  /**
   * Rebases on `Date.now()` when the wall clock stepped. The monotonic reading is taken between two
   * of `Date.now()`; a thread paused between them (more than a millisecond apart) leaves the check
   * to the next time rather than rebasing on a pair read far apart.
   */
  private check(): void {
    const before = Date.now();
    const monotonic = performance.now();
    const after = Date.now();
    if (after - before > 1) return;
    this.checkedAt = monotonic;
    const derived = Math.floor(this.origin + monotonic);
    // The middle of the readings' milliseconds: Date.now() drops the fraction.
    if (derived < before - 1 || derived > after + 1) this.origin = (before + after) / 2 + 0.5 - monotonic;
  }
}
