/** How every backend keys and stores a relationship's parts, so both agree on identity and context. */
import type { Relationship } from "../core/index.js";
import type { RelationshipKey } from "./cursor.js";
import { subjectRelationOf } from "./describe.js";

/** The six identity columns in table order; a relation-less subject stores `""`. */
export function relationshipKey(r: Relationship): RelationshipKey {
  return [
    r.resource.type,
    r.resource.id,
    r.relation,
    r.subject.type,
    r.subject.id,
    subjectRelationOf(r) ?? "",
  ];
}

/** The identity as one NUL-separated string, for sets and maps. */
export function relationshipKeyString(r: Relationship): string {
  const s = r.subject;
  return `${r.resource.type}\u0000${r.resource.id}\u0000${r.relation}\u0000${s.type}\u0000${s.id}\u0000${subjectRelationOf(r) ?? ""}`;
}

/** Stored caveat context is JSON; an empty context is stored as none. */
export function serializeContext(r: Relationship): string | null {
  const context = r.caveat?.context;
  if (context === undefined || Object.keys(context).length === 0) return null;
  return JSON.stringify(context, (_key, value) =>
    typeof value === "bigint"
      ? value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString()
      : value,
  );
}
