/** Row <-> relationship conversion and filter SQL, shared by every statement of the SQLite store. */
import type { CaveatRef, Relationship, Revision, SubjectRef } from "../../core/index.js";
import type { RelationshipKey } from "../cursor.js";
import { serializeContext } from "../row-keys.js";
import type { RelationshipFilter } from "../types.js";

/** Column order of every relationship read (`.raw()` rows). */
export const REL_COLUMNS =
  "resource_type, resource_id, relation, subject_type, subject_id, subject_relation, caveat_name, caveat_context, expiration";

export const KEY_COLUMNS = "resource_type, resource_id, relation, subject_type, subject_id, subject_relation";

/** Visible at a revision (bound twice) and not expired at a time in ms. */
export const VISIBLE = "created_rev <= ? AND deleted_rev > ? AND (expiration IS NULL OR expiration > ?)";

export type RawRow = unknown[];

/** Columns per relationship in flat rows (REL_COLUMNS order). */
export const RELATIONSHIP_PARAMS = 9;

/**
 * Ends each column of rows as text. No stored column holds it: ids and names are validated, and
 * JSON writes it escaped. `rowsFromText` counts the columns, so a stray one could not shift them.
 */
const END = "\u0000";

/** Validated relationships on their way into an import, as text (`encodeRows`). */
export interface EncodedRows {
  readonly text: string;
  readonly count: number;
}

/**
 * Relationships as one string of their stored columns (null as empty). An import holds and
 * sends them so: a string crosses to a worker thread in one copy, where an array of strings
 * costs about three times as much to send and receive (write-thread.ts), and a stream read ahead
 * leaves one object per chunk for the garbage collector instead of several per relationship.
 */
export function encodeRows(relationships: readonly Relationship[]): EncodedRows {
  let text = "";
  for (const r of relationships) {
    const subjectRelation = r.subject.relation;
    text +=
      r.resource.type +
      END +
      r.resource.id +
      END +
      r.relation +
      END +
      r.subject.type +
      END +
      r.subject.id +
      END +
      (subjectRelation === undefined || subjectRelation === "..." ? "" : subjectRelation) +
      END +
      (r.caveat === undefined ? "" : r.caveat.name) +
      END +
      (r.caveat === undefined ? "" : (serializeContext(r) ?? "")) +
      END +
      (r.expiration === undefined ? "" : String(r.expiration.getTime())) +
      END;
  }
  // Built by appending, the string is a rope: flattened here, where the work overlaps the write
  // thread's, rather than when it is posted.
  text.indexOf("\u0001");
  return { text, count: relationships.length };
}

/** The flat rows (REL_COLUMNS order, one after another) of `encodeRows`'s relationships. */
export function rowsFromText({ text, count }: EncodedRows): unknown[] {
  const rows: unknown[] = text.split(END);
  // The text ends with END: one empty string follows the last column.
  if (rows.length !== count * RELATIONSHIP_PARAMS + 1) {
    throw new Error(`rows of ${count} relationships arrived as ${rows.length - 1} columns`);
  }
  rows.length -= 1;
  for (let at = 0; at < rows.length; at += RELATIONSHIP_PARAMS) {
    if (rows[at + 6] === "") rows[at + 6] = null;
    if (rows[at + 7] === "") rows[at + 7] = null;
    rows[at + 8] = rows[at + 8] === "" ? null : Number(rows[at + 8]);
  }
  return rows;
}

export function rowToRelationship(row: RawRow): Relationship {
  return makeRelationship(
    row[0] as string,
    row[1] as string,
    row[2] as string,
    row[3] as string,
    row[4] as string,
    row[5] as string,
    row[6] as string | null,
    row[7] as string | null,
    row[8] as number | null,
  );
}

/** Builds a relationship from stored columns; optional parts are left out, never set to undefined. */
export function makeRelationship(
  resourceType: string,
  resourceId: string,
  relation: string,
  subjectType: string,
  subjectId: string,
  subjectRelation: string,
  caveatName: string | null,
  context: string | null,
  expiration: number | null,
): Relationship {
  const subject: SubjectRef =
    subjectRelation === ""
      ? { type: subjectType, id: subjectId }
      : { type: subjectType, id: subjectId, relation: subjectRelation };
  const resource = { type: resourceType, id: resourceId };
  if (caveatName === null && expiration === null) return { resource, relation, subject };
  const out: {
    resource: typeof resource;
    relation: string;
    subject: SubjectRef;
    caveat?: CaveatRef;
    expiration?: Date;
  } = { resource, relation, subject };
  if (caveatName !== null) {
    out.caveat = context === null ? { name: caveatName } : { name: caveatName, context: JSON.parse(context) };
  }
  if (expiration !== null) out.expiration = new Date(expiration);
  return out;
}

export function keyOfRow(row: RawRow): RelationshipKey {
  return [
    row[0] as string,
    row[1] as string,
    row[2] as string,
    row[3] as string,
    row[4] as string,
    row[5] as string,
  ];
}

/** Smallest string greater than every string starting with `prefix` (for an index range). */
function prefixUpperBound(prefix: string): string | undefined {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (Number.isNaN(last) || last >= 0xd7ff) return undefined;
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

/** SQL conditions for a filter, pushing their parameters in order. */
/**
 * The WHERE clause of the rows `filter` matches that a reader at `revision` sees at `now`, with
 * its parameters in order.
 */
export function visibleMatches(
  filter: RelationshipFilter,
  revision: Revision,
  now: number,
): { readonly where: string; readonly params: unknown[] } {
  const params: unknown[] = [];
  const where = filterConditions(filter, params);
  where.push(VISIBLE);
  params.push(Number(revision), Number(revision), now);
  return { where: where.join(" AND "), params };
}

export function filterConditions(filter: RelationshipFilter, params: unknown[]): string[] {
  const where: string[] = [];
  if (filter.resourceType !== undefined) {
    where.push("resource_type = ?");
    params.push(filter.resourceType);
  }
  if (filter.resourceId !== undefined) {
    where.push("resource_id = ?");
    params.push(filter.resourceId);
  }
  if (filter.resourceIdPrefix !== undefined && filter.resourceIdPrefix !== "") {
    const upper = prefixUpperBound(filter.resourceIdPrefix);
    where.push("resource_id >= ?");
    params.push(filter.resourceIdPrefix);
    if (upper !== undefined) {
      where.push("resource_id < ?");
      params.push(upper);
    }
    where.push("substr(resource_id, 1, ?) = ?");
    params.push(filter.resourceIdPrefix.length, filter.resourceIdPrefix);
  }
  if (filter.relation !== undefined) {
    where.push("relation = ?");
    params.push(filter.relation);
  }
  const subject = filter.subject;
  if (subject !== undefined) {
    where.push("subject_type = ?");
    params.push(subject.type);
    if (subject.id !== undefined) {
      where.push("subject_id = ?");
      params.push(subject.id);
    }
    if (subject.relation !== undefined) {
      where.push("subject_relation = ?");
      params.push(subject.relation === "..." ? "" : subject.relation);
    }
  }
  if (filter.caveatName !== undefined) {
    where.push("caveat_name = ?");
    params.push(filter.caveatName);
  }
  return where;
}

export function visibleParams(revision: Revision, now: number): [Revision, Revision, number] {
  return [revision, revision, now];
}
