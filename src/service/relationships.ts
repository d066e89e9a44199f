/** Reading relationships page by page, and exporting them in batches, at one revision. */
import type { Relationship, Revision } from "../core/index.js";
import type { ReadPage, RelationshipFilter, Store } from "../store/index.js";

/** Relationships per store read and per export batch. */
export const PAGE_SIZE = 1000;

export interface ReadPagesOptions {
  readonly revision: Revision;
  /** Relationships in all; all of them when absent. */
  readonly limit?: number;
  readonly cursor?: string;
  readonly signal?: AbortSignal;
  /**
   * What an aborted signal does between pages: "throw" its reason (the embedded client), or
   * "end" the stream quietly (the server, whose call is already over).
   */
  readonly onAbort?: "throw" | "end";
}

/**
 * The relationships matching `filter`, a page per store read. Every page is read at the revision
 * the first one was read at, so a long read sees one snapshot.
 */
export async function* readRelationshipPages(
  store: Store,
  filter: RelationshipFilter,
  options: ReadPagesOptions,
): AsyncGenerator<ReadPage> {
  let revision = options.revision;
  let left = options.limit ?? Number.POSITIVE_INFINITY;
  let cursor = options.cursor;
  const signal = options.signal;
  while (left > 0) {
    if (signal?.aborted === true) {
      if (options.onAbort === "end") return;
      throw signal.reason;
    }
    const page = await store.readRelationships(filter, {
      revision,
      limit: Math.min(PAGE_SIZE, left),
      ...(cursor === undefined ? {} : { cursor }),
    });
    revision = page.revision;
    yield page;
    left -= page.relationships.length;
    if (page.cursor === undefined || page.relationships.length === 0) return;
    cursor = page.cursor;
  }
}

/**
 * Every relationship at `revision`, in batches of PAGE_SIZE. Always at least one batch, so that
 * an empty store still tells the caller its revision.
 */
export async function* exportBatches(
  store: Store,
  revision: Revision,
  signal?: AbortSignal,
): AsyncGenerator<Relationship[]> {
  let batch: Relationship[] = [];
  for await (const r of store.exportRelationships(revision)) {
    if (signal?.aborted === true) throw signal.reason;
    batch.push(r);
    if (batch.length >= PAGE_SIZE) {
      yield batch;
      batch = [];
    }
  }
  yield batch;
}
