/**
 * authzed.api.v1 messages <-> Latch's plain types (core, engine, store), for every authzed service.
 * Values read from the wire go through the service layer's validation with SpiceDB's field names,
 * so an error names the field as the caller's client library spells it.
 *
 * SpiceDB spells "no relation" two ways: an empty `optional_relation` and the ellipsis `...`;
 * Latch has one (no relation), and answers with the empty string as SpiceDB does.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type CaveatRef,
  ELLIPSIS_RELATION,
  type ObjectRef,
  type Relationship,
  type SubjectRef,
} from "../../core/index.js";
import type { Consistency } from "../../engine/index.js";
import {
  type ContextualizedCaveat,
  ContextualizedCaveatSchema,
  type Cursor,
  CursorSchema,
  type ObjectReference,
  ObjectReferenceSchema,
  type Relationship as RelationshipMessage,
  RelationshipSchema,
  RelationshipUpdate_Operation,
  type RelationshipUpdate as RelationshipUpdateMessage,
  RelationshipUpdateSchema,
  type SubjectReference,
  SubjectReferenceSchema,
  type ZedToken,
  ZedTokenSchema,
} from "../../gen/authzed/api/v1/core_pb.js";
import {
  type Consistency as ConsistencyMessage,
  Precondition_Operation,
  type Precondition as PreconditionMessage,
  type RelationshipFilter as RelationshipFilterMessage,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import {
  invalidArgument,
  objectId,
  objectRef,
  relationName,
  subjectRef,
  typeName,
} from "../../service/index.js";
import type {
  Precondition,
  RelationshipFilter,
  RelationshipUpdate,
  SubjectFilter,
} from "../../store/index.js";
import { timestampFromProto } from "../convert.js";

// ---- references ----

export function objectRefFromSpice(msg: ObjectReference | undefined, field: string): ObjectRef {
  if (msg === undefined) throw invalidArgument(field, "is required");
  return objectRef(msg.objectType, msg.objectId, field);
}

export function subjectRefFromSpice(msg: SubjectReference | undefined, field: string): SubjectRef {
  if (msg?.object === undefined) throw invalidArgument(`${field}.object`, "is required");
  return subjectRef(msg.object.objectType, msg.object.objectId, msg.optionalRelation, field);
}

export function objectRefToSpice(ref: ObjectRef): ObjectReference {
  return create(ObjectReferenceSchema, { objectType: ref.type, objectId: ref.id });
}

export function subjectRefToSpice(ref: SubjectRef): SubjectReference {
  return create(SubjectReferenceSchema, {
    object: { objectType: ref.type, objectId: ref.id },
    optionalRelation: ref.relation === undefined || ref.relation === ELLIPSIS_RELATION ? "" : ref.relation,
  });
}

// ---- caveats and relationships ----

export function contextFromSpice(ctx: JsonObject | undefined): Readonly<Record<string, unknown>> | undefined {
  return ctx === undefined ? undefined : (ctx as Record<string, unknown>);
}

export function caveatFromSpice(msg: ContextualizedCaveat | undefined, field: string): CaveatRef | undefined {
  if (msg === undefined) return undefined;
  const name = typeName(msg.caveatName, `${field}.caveat_name`);
  return msg.context === undefined || Object.keys(msg.context).length === 0
    ? { name }
    : { name, context: msg.context as Record<string, unknown> };
}

export function caveatToSpice(caveat: CaveatRef): ContextualizedCaveat {
  return create(ContextualizedCaveatSchema, {
    caveatName: caveat.name,
    ...(caveat.context === undefined ? {} : { context: caveat.context as JsonObject }),
  });
}

export function relationshipFromSpice(msg: RelationshipMessage | undefined, field: string): Relationship {
  if (msg === undefined) throw invalidArgument(field, "is required");
  const resource = objectRefFromSpice(msg.resource, `${field}.resource`);
  const relation = relationName(msg.relation, `${field}.relation`);
  const subject = subjectRefFromSpice(msg.subject, `${field}.subject`);
  const caveat = caveatFromSpice(msg.optionalCaveat, `${field}.optional_caveat`);
  return {
    resource,
    relation,
    subject,
    ...(caveat === undefined ? {} : { caveat }),
    ...(msg.optionalExpiresAt === undefined
      ? {}
      : { expiration: timestampFromProto(msg.optionalExpiresAt, `${field}.optional_expires_at`) }),
  };
}

export function relationshipToSpice(r: Relationship): RelationshipMessage {
  return create(RelationshipSchema, {
    resource: objectRefToSpice(r.resource),
    relation: r.relation,
    subject: subjectRefToSpice(r.subject),
    ...(r.caveat === undefined ? {} : { optionalCaveat: caveatToSpice(r.caveat) }),
    ...(r.expiration === undefined ? {} : { optionalExpiresAt: timestampFromDate(r.expiration) }),
  });
}

const UPDATE_OPS: Readonly<Record<number, RelationshipUpdate["operation"]>> = {
  [RelationshipUpdate_Operation.CREATE]: "create",
  [RelationshipUpdate_Operation.TOUCH]: "touch",
  [RelationshipUpdate_Operation.DELETE]: "delete",
};

export function updateFromSpice(msg: RelationshipUpdateMessage, field: string): RelationshipUpdate {
  const operation = UPDATE_OPS[msg.operation];
  if (operation === undefined)
    throw invalidArgument(
      `${field}.operation`,
      "must be OPERATION_CREATE, OPERATION_TOUCH or OPERATION_DELETE",
    );
  return { operation, relationship: relationshipFromSpice(msg.relationship, `${field}.relationship`) };
}

const UPDATE_OPS_TO_SPICE: Readonly<Record<RelationshipUpdate["operation"], RelationshipUpdate_Operation>> = {
  create: RelationshipUpdate_Operation.CREATE,
  touch: RelationshipUpdate_Operation.TOUCH,
  delete: RelationshipUpdate_Operation.DELETE,
};

export function updateToSpice(u: RelationshipUpdate): RelationshipUpdateMessage {
  return create(RelationshipUpdateSchema, {
    operation: UPDATE_OPS_TO_SPICE[u.operation],
    relationship: relationshipToSpice(u.relationship),
  });
}

// ---- filters and preconditions ----

export function filterFromSpice(
  msg: RelationshipFilterMessage | undefined,
  field: string,
): RelationshipFilter {
  if (msg === undefined) throw invalidArgument(field, "is required");
  const subject = msg.optionalSubjectFilter;
  let subjectFilter: SubjectFilter | undefined;
  if (subject !== undefined) {
    const type = typeName(subject.subjectType, `${field}.optional_subject_filter.subject_type`);
    const rel = subject.optionalRelation?.relation;
    subjectFilter = {
      type,
      ...(subject.optionalSubjectId === ""
        ? {}
        : {
            id: objectId(
              subject.optionalSubjectId,
              `${field}.optional_subject_filter.optional_subject_id`,
              true,
            ),
          }),
      ...(rel === undefined ? {} : { relation: rel === ELLIPSIS_RELATION ? "" : rel }),
    };
  }
  if (msg.optionalResourceId !== "" && msg.optionalResourceIdPrefix !== "") {
    throw invalidArgument(
      `${field}.optional_resource_id_prefix`,
      "cannot be given with optional_resource_id: give one of them",
    );
  }
  // SpiceDB's filters may leave out the resource type (the store then spans every type).
  return {
    ...(msg.resourceType === ""
      ? {}
      : { resourceType: typeName(msg.resourceType, `${field}.resource_type`) }),
    ...(msg.optionalResourceId === ""
      ? {}
      : { resourceId: objectId(msg.optionalResourceId, `${field}.optional_resource_id`, false) }),
    ...(msg.optionalResourceIdPrefix === "" ? {} : { resourceIdPrefix: msg.optionalResourceIdPrefix }),
    ...(msg.optionalRelation === ""
      ? {}
      : { relation: relationName(msg.optionalRelation, `${field}.optional_relation`) }),
    ...(subjectFilter === undefined ? {} : { subject: subjectFilter }),
  };
}

export function preconditionFromSpice(msg: PreconditionMessage, field: string): Precondition {
  const filter = filterFromSpice(msg.filter, `${field}.filter`);
  switch (msg.operation) {
    case Precondition_Operation.MUST_MATCH:
      return { operation: "must-match", filter };
    case Precondition_Operation.MUST_NOT_MATCH:
      return { operation: "must-not-match", filter };
    default:
      throw invalidArgument(`${field}.operation`, "must be OPERATION_MUST_MATCH or OPERATION_MUST_NOT_MATCH");
  }
}

// ---- tokens, consistency and cursors ----

/** A ZedToken is Latch's revision token as it is: both are opaque strings to the client. */
export function zedTokenToSpice(token: string): ZedToken {
  return create(ZedTokenSchema, { token });
}

export function zedTokenFromSpice(msg: ZedToken | undefined, field: string): string | undefined {
  if (msg === undefined) return undefined;
  if (msg.token === "") throw invalidArgument(`${field}.token`, "is required");
  return msg.token;
}

export function consistencyFromSpice(
  msg: ConsistencyMessage | undefined,
  field: string,
): Consistency | undefined {
  const req = msg?.requirement;
  switch (req?.case) {
    case undefined:
      return undefined;
    case "minimizeLatency":
      return { kind: "minimize-latency" };
    case "fullyConsistent":
      return { kind: "fully-consistent" };
    case "atLeastAsFresh":
      if (req.value.token === "") throw invalidArgument(`${field}.at_least_as_fresh.token`, "is required");
      return { kind: "at-least-as-fresh", token: req.value.token };
    case "atExactSnapshot":
      if (req.value.token === "") throw invalidArgument(`${field}.at_exact_snapshot.token`, "is required");
      return { kind: "at-exact-snapshot", token: req.value.token };
  }
}

/** A cursor is Latch's opaque paging token as it is; an empty one is no cursor. */
export function cursorFromSpice(msg: Cursor | undefined): string | undefined {
  return msg === undefined || msg.token === "" ? undefined : msg.token;
}

export function cursorToSpice(token: string): Cursor {
  return create(CursorSchema, { token });
}
