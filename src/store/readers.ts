/** Helpers for making and finding readers (see `Store.at`). */
import type { Revision } from "../core/index.js";
import type { Store, StoreReader } from "./types.js";

/**
 * `Store.at` that hands back the last reader while the revision stays the same: most requests
 * read at the current revision shared for a quantization window, so a check probing the reader
 * and then reading through it allocates nothing.
 */
export function lastReader(make: (revision: Revision) => StoreReader): (revision: Revision) => StoreReader {
  let last: StoreReader | undefined;
  return (revision) => {
    if (last === undefined || last.revision !== revision) last = make(revision);
    return last;
  };
}

/** A reader at the store's current revision, for reads that want the newest data. */
export async function latestReader(store: Pick<Store, "at" | "currentRevision">): Promise<StoreReader> {
  return store.at(await store.currentRevision());
}
