/**
 * For the stream-pacing tests: `performance.now` stepped by one at each read, so where a stream
 * yields depends on the messages it sent only, never on how fast the machine is; and what a stream
 * had produced when another call's work, queued as it started, got its turn.
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
