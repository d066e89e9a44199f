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

/** Validated relationships on their way into an import (`encodeRows`). */
export interface EncodedRows {
  /**
   * Their stored columns in REL_COLUMNS order, each as UTF-8 ended by a zero byte (null as
   * empty), in a buffer of its own: it can be transferred to a worker thread without a copy.
   */
  readonly bytes: Uint8Array;
  readonly count: number;
}

const utf8 = new TextEncoder();

/** Columns appended as bytes to a buffer that grows as needed. */
class ColumnWriter {
  private bytes: Uint8Array;
  private at = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  /** Ids, types and relations are ASCII once validated: byte by byte, else as UTF-8. */
  column(text: string): void {
    const n = text.length;
    if (this.at + n * 3 + 1 > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.at + n * 3 + 1));
      bigger.set(this.bytes.subarray(0, this.at));
      this.bytes = bigger;
    }
    const bytes = this.bytes;
    let at = this.at;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        at = this.at + utf8.encodeInto(text, bytes.subarray(this.at)).written;
        break;
      }
      bytes[at++] = c;
    }
    bytes[at++] = 0;
    this.at = at;
  }

  done(): Uint8Array {
    return this.bytes.slice(0, this.at);
  }
}

/**
 * Relationships as the bytes of their stored columns. An import holds and sends them so: they
 * cross to a worker thread without a copy, and neither the encoding nor a stream read ahead makes
 * garbage for the serving thread's collector (strings built per column cost it more than the
 * import itself at scale m).
 */
export function encodeRows(relationships: readonly Relationship[]): EncodedRows {
  const out = new ColumnWriter(relationships.length * 64 + 64);
  for (const r of relationships) {
    const subjectRelation = r.subject.relation;
    out.column(r.resource.type);
    out.column(r.resource.id);
    out.column(r.relation);
    out.column(r.subject.type);
    out.column(r.subject.id);
    out.column(subjectRelation === undefined || subjectRelation === "..." ? "" : subjectRelation);
    out.column(r.caveat === undefined ? "" : r.caveat.name);
    out.column(r.caveat === undefined ? "" : (serializeContext(r) ?? ""));
    out.column(r.expiration === undefined ? "" : String(r.expiration.getTime()));
  }
  return { bytes: out.done(), count: relationships.length };
}

/**
 * The flat rows (REL_COLUMNS order, one after another) of `encodeRows`'s relationships. The
 * columns are counted: no stored column holds a zero byte (ids and names are validated, JSON
 * escapes it), and a stray one could not shift them.
 */
export function rowsFromBytes({ bytes, count }: EncodedRows): unknown[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const rows: unknown[] = text.split("\u0000");
  // Each column ends with a zero byte: one empty string follows the last.
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
