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
