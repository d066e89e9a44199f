/**
 * Pacing for server streams. A stream's messages are made from data read without a macrotask (the
 * store and the in-memory copy answer synchronously), and a reader on a fast link takes every
 * write at once, so back-pressure alone may never give the event loop a turn: an export of every
 * relationship through the HTTP gateway held the server for its whole length (1.9 s on scale m,
 * bench/stall-data.ts). Each transport's stream loop asks this after every message and yields
 * once it has run for the engine pacer's slice.
 */
import { COSTLY_ITEM, createPacer } from "../engine/index.js";

export interface StreamPacer {
  /** A turn of the event loop to await when the stream has run for its slice; else undefined. */
  afterMessage(): Promise<void> | undefined;
}

export function createStreamPacer(): StreamPacer {
  // No cancellation here: each transport checks its call's own abort and reports its own reason.
  const pacer = createPacer(undefined);
  return {
    // A message may hold a thousand relationships: the clock is read after each one.
    afterMessage: () => (pacer.due(COSTLY_ITEM) ? pacer.pause() : undefined),
  };
}

/** Items converted or encoded between two questions to a stream's pacer (paced-encoding.ts). */
export const PACED_PIECE = 50;

/**
 * `items` converted a piece at a time, the pacer asked between pieces: a Watch message carries a
 * whole revision, and converting 200,000 changes to protobuf messages at once (reflection, a few
 * µs each) would hold the server for most of a second.
 */
export async function pacedMap<T, U>(
  items: readonly T[],
  convert: (item: T) => U,
  pacer: StreamPacer,
): Promise<U[]> {
  const out: U[] = [];
  for (let i = 0; i < items.length; i++) {
    out.push(convert(items[i]!));
    if (i % PACED_PIECE === PACED_PIECE - 1) await pacer.afterMessage();
  }
  return out;
}
