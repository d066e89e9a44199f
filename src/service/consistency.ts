/**
 * The revision a Read, Export or Watch runs at. One resolution for every request: the engine's
 * (`engine/revisions.ts`), so a token ahead of the store is waited for (until the request is
 * aborted, or at most `maxWaitMs`) for a read exactly as for a check. Reads take no quantization
 * window: minimize-latency reads the current revision, as a read after one's own write expects.
 */
import type { Revision } from "../core/index.js";
import { type Cancellation, type Consistency, createRevisions } from "../engine/index.js";
import type { Store } from "../store/index.js";

export async function readRevision(
  store: Store,
  consistency: Consistency | undefined,
  signal?: Cancellation,
  maxWaitMs?: number,
): Promise<Revision> {
  return createRevisions(store, 0, maxWaitMs).resolve(consistency, signal);
}
