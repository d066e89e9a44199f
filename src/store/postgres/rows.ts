/** Relationship <-> row conversion, and the column arrays that `unnest` turns back into rows. */
import type { Relationship } from "../../core/index.js";
import { serializeContext, subjectRelationOf } from "../index.js";

/** The columns every relationship read selects, in this order (rows come back as arrays). */
export const COLUMNS =
  "resource_type, resource_id, relation, subject_type, subject_id, subject_relation, caveat_name, caveat_context, expires_at";

export type Row = [string, string, string, string, string, string, string, unknown, Date | null];

export function fromRow(row: readonly unknown[], offset = 0): Relationship {
  const subjectRelation = row[offset + 5] as string;
  const caveatName = row[offset + 6] as string;
  const context = row[offset + 7] as Record<string, unknown> | null;
  const expires = row[offset + 8] as Date | null;
  const subject =
    subjectRelation === ""
      ? { type: row[offset + 3] as string, id: row[offset + 4] as string }
      : { type: row[offset + 3] as string, id: row[offset + 4] as string, relation: subjectRelation };
  const base = {
    resource: { type: row[offset] as string, id: row[offset + 1] as string },
    relation: row[offset + 2] as string,
    subject,
  };
  const caveat =
    caveatName === "" ? undefined : context === null ? { name: caveatName } : { name: caveatName, context };
  if (caveat === undefined) return expires === null ? base : { ...base, expiration: expires };
  return expires === null ? { ...base, caveat } : { ...base, caveat, expiration: expires };
}

/** Column-wise arrays of relationships, the parameters of an `unnest(...)` insert. */
export interface Columns {
  readonly resourceType: string[];
  readonly resourceId: string[];
  readonly relation: string[];
  readonly subjectType: string[];
  readonly subjectId: string[];
  readonly subjectRelation: string[];
  readonly caveatName: string[];
  readonly caveatContext: (string | null)[];
  readonly expiresAt: (string | null)[];
  readonly seq: number[];
}

export function emptyColumns(): Columns {
  return {
    resourceType: [],
    resourceId: [],
    relation: [],
    subjectType: [],
    subjectId: [],
    subjectRelation: [],
    caveatName: [],
    caveatContext: [],
    expiresAt: [],
    seq: [],
  };
}

export function pushColumns(c: Columns, r: Relationship, seq: number): void {
  c.resourceType.push(r.resource.type);
  c.resourceId.push(r.resource.id);
  c.relation.push(r.relation);
  c.subjectType.push(r.subject.type);
  c.subjectId.push(r.subject.id);
  c.subjectRelation.push(subjectRelationOf(r) ?? "");
  c.caveatName.push(r.caveat?.name ?? "");
  c.caveatContext.push(serializeContext(r));
  c.expiresAt.push(r.expiration === undefined ? null : r.expiration.toISOString());
  c.seq.push(seq);
}

export function columnValues(c: Columns): unknown[] {
  return [
    c.resourceType,
    c.resourceId,
    c.relation,
    c.subjectType,
    c.subjectId,
    c.subjectRelation,
    c.caveatName,
    c.caveatContext,
    c.expiresAt,
    c.seq,
  ];
}

/**
 * PostgreSQL's text form of an array (`{"a","b",NULL}`), as node-postgres would send it; built by
 * the caller when it is large, so that the driver does not serialize it in one go.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  return `{${arrayElements(values)}}`;
}

/** An array literal's elements, without the braces: parts of one literal join with commas. */
export function arrayElements(values: readonly unknown[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = "NULL";
    else if (typeof v === "number") parts[i] = String(v);
    else if (typeof v === "boolean") parts[i] = v ? "t" : "f";
    else {
      const text = String(v);
      parts[i] = NEEDS_ESCAPE.test(text)
        ? `"${text.replace(NEEDS_ESCAPE_ALL, (c) => `\\${c}`)}"`
        : `"${text}"`;
    }
  }
  return parts.join(",");
}

const NEEDS_ESCAPE = /["\\]/;
const NEEDS_ESCAPE_ALL = /["\\]/g;
