/**
 * For the pacing tests: `performance.now` stepped by one at each read, so where a stream or a walk
 * yields depends on its work only, never on how fast the machine is; what a stream had produced
 * when another call's work, queued as it started, got its turn; and how many turns others got.
 */
import { afterEach, beforeEach, vi } from "vitest";

/** Steps the clock in every test of the calling file. */
export function stepPerformanceClock(): void {
  beforeEach(() => {
    let t = 0;
    vi.spyOn(performance, "now").mockImplementation(() => ++t);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
}

/** How many messages the stream had produced when an immediate queued as it started ran. */
export function producedWhenOtherRan(counter: { produced: number }): () => number | undefined {
  let seen: number | undefined;
  setImmediate(() => {
    seen = counter.produced;
  });
  return () => seen;
}

/** Counts event-loop turns (setImmediate callbacks) until stopped. */
export function turnCounter() {
  let turns = 0;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop: () => {
      stopped = true;
      return turns;
    },
  };
}
