/** Reading relationships page by page, and exporting them in batches, at one revision. */
import type { Relationship } from "../core/index.js";
import { nonNegativeInt, type ReadPage, type RelationshipFilter, type StoreReader } from "../store/index.js";

/** Relationships per store read and per export batch. */
export const PAGE_SIZE = 1000;

export interface ReadPagesOptions {
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
 * The relationships matching `filter`, a page per store read, every page at the reader's
 * revision, so a long read sees one snapshot.
 */
export async function* readRelationshipPages(
  reader: StoreReader,
  filter: RelationshipFilter,
  options: ReadPagesOptions,
): AsyncGenerator<ReadPage> {
  // -1, 1.5 or NaN would read as "nothing" and Infinity as "all": refused, as the gRPC client does.
  let left = nonNegativeInt(options.limit, "limit") ?? Number.POSITIVE_INFINITY;
  let cursor = options.cursor;
  const signal = options.signal;
  while (left > 0) {
    if (signal?.aborted === true) {
      if (options.onAbort === "end") return;
      throw signal.reason;
    }
    const page = await reader.readRelationships(filter, {
      limit: Math.min(PAGE_SIZE, left),
      ...(cursor === undefined ? {} : { cursor }),
    });
    yield page;
    left -= page.relationships.length;
    if (page.cursor === undefined || page.relationships.length === 0) return;
    cursor = page.cursor;
  }
}

/**
 * Every relationship at the reader's revision, in batches of PAGE_SIZE. Always at least one batch,
 * so that an empty store still tells the caller its revision.
 */
export async function* exportBatches(
  reader: StoreReader,
  signal?: AbortSignal,
): AsyncGenerator<Relationship[]> {
  let batch: Relationship[] = [];
  for await (const r of reader.exportRelationships()) {
    if (signal?.aborted === true) throw signal.reason;
    batch.push(r);
    if (batch.length >= PAGE_SIZE) {
      yield batch;
      batch = [];
    }
  }
  yield batch;
}
