/**
 * Long requests (a CheckBulk of many items, each possibly evaluating a caveat at its full cost
 * budget) must not hold the event loop: other connections' checks would wait behind them. A pacer
 * is asked after each unit of work whether it is time to let others run; it reads the clock only
 * every few units, so the fast path (cheap items answered from memory) stays a counter increment.
 */
import { LatchError } from "../core/index.js";
import type { Cancellation } from "./types.js";

/** Longest stretch of synchronous work between two yields, in milliseconds. */
const SLICE_MS = 3;
/** Units of work between two clock reads; a caveat evaluation counts as a whole batch. */
const UNITS_PER_CLOCK_READ = 32;

const yieldToEventLoop: () => Promise<void> =
  typeof setImmediate === "function"
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => setTimeout(resolve, 0));

export interface Pacer {
  /**
   * Records `units` of work done (1 for a cheap item, more for a costly one); true when the
   * request has run for more than its slice since it last yielded, and should call `pause`.
   */
  due(units?: number): boolean;
  /** Yields to the event loop, then throws `request/deadline-exceeded` if the request was aborted. */
  pause(): Promise<void>;
}

export function createPacer(signal: Cancellation | undefined): Pacer {
  let units = 0;
  let since = performance.now();
  // The turn every caller waits for: branches of one walk that pause together resume in the same
  // turn of the event loop, so they share one slice there rather than each taking a whole one.
  let turn: Promise<void> | undefined;
  return {
    due(n = 1) {
      units += n;
      if (units < UNITS_PER_CLOCK_READ) return false;
      units = 0;
      return performance.now() - since > SLICE_MS || signal?.aborted === true;
    },
    async pause() {
      turn ??= yieldToEventLoop().then(() => {
        turn = undefined;
        since = performance.now();
      });
      await turn;
      if (signal?.aborted) {
        throw new LatchError("request/deadline-exceeded", "deadline-exceeded", "the request was aborted");
      }
    },
  };
}

/** Units to count for an item that evaluated a caveat: enough to read the clock after it. */
export const COSTLY_ITEM = UNITS_PER_CLOCK_READ;
