/** Relationship filters as SQL predicates with numbered parameters. */
import type { RelationshipFilter } from "../index.js";

export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** LIKE pattern for "starts with": the id alphabet includes `_`, a LIKE wildcard. */
export function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Rows live at revision `rev` and not expired at `now` (both parameter placeholders). */
export function visibleAt(rev: string, now: string, alias = ""): string {
  const a = alias === "" ? "" : `${alias}.`;
  return `${a}created_rev <= ${rev} AND ${a}deleted_rev > ${rev} AND (${a}expires_at IS NULL OR ${a}expires_at > ${now})`;
}

export function filterPredicates(filter: RelationshipFilter, p: Params, alias = ""): string[] {
  const a = alias === "" ? "" : `${alias}.`;
  const where: string[] = [];
  if (filter.resourceType !== undefined) where.push(`${a}resource_type = ${p.add(filter.resourceType)}`);
  if (filter.resourceId !== undefined) where.push(`${a}resource_id = ${p.add(filter.resourceId)}`);
  if (filter.resourceIdPrefix !== undefined && filter.resourceIdPrefix !== "") {
    where.push(`${a}resource_id LIKE ${p.add(prefixPattern(filter.resourceIdPrefix))}`);
  }
  if (filter.relation !== undefined) where.push(`${a}relation = ${p.add(filter.relation)}`);
  const s = filter.subject;
  if (s !== undefined) {
    where.push(`${a}subject_type = ${p.add(s.type)}`);
    if (s.id !== undefined) where.push(`${a}subject_id = ${p.add(s.id)}`);
    if (s.relation !== undefined)
      where.push(`${a}subject_relation = ${p.add(s.relation === "..." ? "" : s.relation)}`);
  }
  if (filter.caveatName !== undefined) where.push(`${a}caveat_name = ${p.add(filter.caveatName)}`);
  return where;
}
