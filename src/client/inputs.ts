/** The string conveniences: relationship, object and subject strings become core types. */
import {
  type ObjectRef,
  parseObjectRef,
  parseRelationship,
  parseSubjectRef,
  type Relationship,
  type SubjectRef,
} from "../core/index.js";
import type { ObjectInput, RelationshipInput, SubjectInput } from "./types.js";

export function toObject(input: ObjectInput): ObjectRef {
  return typeof input === "string" ? parseObjectRef(input) : input;
}

export function toSubject(input: SubjectInput): SubjectRef {
  return typeof input === "string" ? parseSubjectRef(input) : input;
}

export function toRelationship(input: RelationshipInput): Relationship {
  return typeof input === "string" ? parseRelationship(input) : input;
}

/** Builds an object only with the keys whose value is defined (for exactOptionalPropertyTypes). */
export function defined<T extends Record<string, unknown>>(
  value: T,
): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}
