/**
 * Read cursors: base64url JSON of the last key returned, the snapshot revision and a fingerprint of
 * the filter. Carrying the revision makes later pages read the same snapshot as the first (no
 * duplicates, no gaps while writes happen); the fingerprint refuses a cursor reused with another
 * filter, which would silently skip or repeat rows.
 */
import { createHash } from "node:crypto";
import type { Revision } from "../core/index.js";
import { StoreError } from "./errors.js";
import type { RelationshipFilter } from "./types.js";

/** resource type, resource id, relation, subject type, subject id, subject relation ("" for none). */
export type RelationshipKey = readonly [string, string, string, string, string, string];

export interface ReadCursor {
  readonly revision: Revision;
  readonly after: RelationshipKey;
}

export function filterFingerprint(filter: RelationshipFilter): string {
  const s = filter.subject;
  const parts = [
    filter.resourceType,
    filter.resourceId,
    filter.resourceIdPrefix,
    filter.relation,
    s?.type,
    s?.id,
    s?.relation,
    filter.caveatName,
  ];
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url").slice(0, 12);
}

export function encodeCursor(cursor: ReadCursor, filter: RelationshipFilter): string {
  return cursorEncoder(filter)(cursor);
}

/** `encodeCursor` for many cursors of one filter (a cursor per result): the fingerprint is hashed once. */
export function cursorEncoder(filter: RelationshipFilter): (cursor: ReadCursor) => string {
  const f = filterFingerprint(filter);
  return (cursor) =>
    Buffer.from(JSON.stringify({ r: cursor.revision.toString(), k: cursor.after, f }), "utf8").toString(
      "base64url",
    );
}

function bad(why: string): StoreError {
  return new StoreError(
    "cursor/malformed",
    "invalid-argument",
    `read cursor is not valid: ${why}. Pass back the cursor of the previous page unchanged.`,
  );
}

export function decodeCursor(token: string, filter: RelationshipFilter): ReadCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad("not a cursor");
  }
  if (typeof value !== "object" || value === null) throw bad("not a cursor");
  const { r, k, f } = value as { r?: unknown; k?: unknown; f?: unknown };
  if (typeof r !== "string" || !/^\d{1,19}$/.test(r)) throw bad("no revision");
  if (!Array.isArray(k) || k.length !== 6 || !k.every((p) => typeof p === "string")) throw bad("no key");
  if (f !== filterFingerprint(filter)) {
    throw new StoreError(
      "cursor/filter-mismatch",
      "invalid-argument",
      "read cursor belongs to a different filter: a cursor continues the read that produced it. Repeat the original filter, or start without a cursor.",
    );
  }
  return { revision: BigInt(r), after: k as unknown as RelationshipKey };
}

/** The key a cursor continues after, for a read at `revision`: a cursor of another revision is refused. */
export function cursorAfter(token: string, filter: RelationshipFilter, revision: Revision): RelationshipKey {
  const cursor = decodeCursor(token, filter);
  if (cursor.revision !== revision) {
    throw new StoreError(
      "cursor/revision-mismatch",
      "invalid-argument",
      `the cursor reads revision ${cursor.revision} but this read is at revision ${revision}; continue at the cursor's revision.`,
    );
  }
  return cursor.after;
}
