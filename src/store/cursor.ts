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
  /**
   * The store's signed token for `revision`, in cursors a caller reads at without naming the
   * revision otherwise (SpiceDB's, which pin their read): the caller resolves it as an exact
   * snapshot (store identity, mac, reached yet, compacted) and requires it to stand for
   * `revision`. The store's own reads check `revision` against theirs and ignore it.
   */
  readonly token?: string;
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

/**
 * SHA-256 of `text`, truncated to 128 bits, as base64url (22 characters): what binds a cursor to
 * the request it continues. Unlike a short checksum, no one finds two requests that share one,
 * so a cursor of one request is never taken as another's.
 */
export function requestDigest(text: string): string {
  return createHash("sha256").update(text).digest().subarray(0, 16).toString("base64url");
}

export function encodeCursor(cursor: ReadCursor, filter: RelationshipFilter): string {
  return cursorEncoder(filter)(cursor);
}

/** `encodeCursor` for many cursors of one filter (a cursor per result): the fingerprint is hashed once. */
export function cursorEncoder(filter: RelationshipFilter): (cursor: ReadCursor) => string {
  const f = filterFingerprint(filter);
  return (cursor) => {
    const fields =
      cursor.token === undefined
        ? { r: cursor.revision.toString(), k: cursor.after, f }
        : { r: cursor.revision.toString(), k: cursor.after, f, z: cursor.token };
    return Buffer.from(JSON.stringify(fields), "utf8").toString("base64url");
  };
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
  const { r, k, f, z } = value as { r?: unknown; k?: unknown; f?: unknown; z?: unknown };
  if (typeof r !== "string" || !/^\d{1,19}$/.test(r)) throw bad("no revision");
  if (!Array.isArray(k) || k.length !== 6 || !k.every((p) => typeof p === "string")) throw bad("no key");
  if (z !== undefined && typeof z !== "string") throw bad("bad revision token");
  if (f !== filterFingerprint(filter)) {
    throw new StoreError(
      "cursor/filter-mismatch",
      "invalid-argument",
      "read cursor belongs to a different filter: a cursor continues the read that produced it. Repeat the original filter, or start without a cursor.",
    );
  }
  const after = k as unknown as RelationshipKey;
  return z === undefined ? { revision: BigInt(r), after } : { revision: BigInt(r), after, token: z };
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
