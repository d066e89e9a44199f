/**
 * Validation of references and names on plain values, shared by every transport: the gRPC
 * handlers call it after decoding a message, the embedded client on what the caller passed. The
 * `field` argument is the wire name (`resource.object_type`), so both modes name the same field.
 */
import {
  clip,
  ELLIPSIS_RELATION,
  isValidObjectId,
  type ObjectRef,
  RELATION_NAME_PATTERN,
  RELATION_NAME_RULE,
  type SubjectRef,
  TYPE_NAME_PATTERN,
  TYPE_NAME_RULE,
  WILDCARD_ID,
} from "../core/index.js";
import { invalidArgument } from "./errors.js";

export function typeName(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!TYPE_NAME_PATTERN.test(value))
    throw invalidArgument(field, `"${clip(value)}" is not a valid type name (${TYPE_NAME_RULE})`);
  return value;
}

export function relationName(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!RELATION_NAME_PATTERN.test(value))
    throw invalidArgument(field, `"${clip(value)}" is not a valid relation name (${RELATION_NAME_RULE})`);
  return value;
}

/** A relation's rule, named as a permission in the message (the request's field is a permission). */
export function permissionName(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!RELATION_NAME_PATTERN.test(value))
    throw invalidArgument(field, `"${clip(value)}" is not a valid permission name (${RELATION_NAME_RULE})`);
  return value;
}

export function objectId(value: string, field: string, wildcard: boolean): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (value === WILDCARD_ID && wildcard) return value;
  if (!isValidObjectId(value)) throw invalidArgument(field, `"${clip(value)}" is not a valid object id`);
  return value;
}

/** An object reference's type and id, checked; `field` names the reference (`resource`). */
export function objectRef(type: string, id: string, field: string): ObjectRef {
  return { type: typeName(type, `${field}.object_type`), id: objectId(id, `${field}.object_id`, false) };
}

/**
 * A subject reference, checked. `relation` is "" or `...` for the object itself; a wildcard has
 * none. Fields are named as the wire names them (`subject.object.object_type`).
 */
export function subjectRef(type: string, id: string, relation: string, field: string): SubjectRef {
  const checkedType = typeName(type, `${field}.object.object_type`);
  const checkedId = objectId(id, `${field}.object.object_id`, true);
  if (relation === "" || relation === ELLIPSIS_RELATION) return { type: checkedType, id: checkedId };
  if (checkedId === WILDCARD_ID)
    throw invalidArgument(`${field}.optional_relation`, "a wildcard subject has no relation");
  return { type: checkedType, id: checkedId, relation: relationName(relation, `${field}.optional_relation`) };
}

/** Checks a plain ObjectRef (the embedded client's input) as the server checks a decoded one. */
export function checkObjectRef(ref: ObjectRef, field: string): ObjectRef {
  return objectRef(ref.type, ref.id, field);
}

/** Checks a plain SubjectRef (the embedded client's input) as the server checks a decoded one. */
export function checkSubjectRef(ref: SubjectRef, field: string): SubjectRef {
  return subjectRef(ref.type, ref.id, ref.relation ?? "", field);
}
