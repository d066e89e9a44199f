/**
 * Converters between wire messages (protobuf-es) and Latch's plain core/store types, in both
 * directions: the server reads requests with the `from*` functions and the client builds them with
 * the `to*` ones. Values read from the wire are checked by the service layer's validation
 * (`service/validate.ts`), given the wire's field names so that errors name the offending field.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ELLIPSIS_RELATION, type ObjectRef, type Relationship, type SubjectRef } from "../core/index.js";
import type { Consistency, Delegated } from "../engine/index.js";
import {
  type Consistency as ConsistencyMessage,
  ConsistencySchema,
  type ObjectReference,
  ObjectReferenceSchema,
  Precondition_Operation,
  type Precondition as PreconditionMessage,
  PreconditionSchema,
  type RelationshipFilter as RelationshipFilterMessage,
  RelationshipFilterSchema,
  type Relationship as RelationshipMessage,
  RelationshipSchema,
  RelationshipUpdate_Operation,
  type RelationshipUpdate as RelationshipUpdateMessage,
  RelationshipUpdateSchema,
  type SubjectReference,
  SubjectReferenceSchema,
} from "../gen/latch/v1/core_pb.js";
import { SubjectGrants } from "../gen/latch/v1/permission_service_pb.js";
import {
  checkChainLength,
  invalidArgument,
  objectId,
  objectRef,
  relationName,
  subjectRef,
  typeName,
} from "../service/index.js";
import type { Precondition, RelationshipFilter, RelationshipUpdate, SubjectFilter } from "../store/index.js";

// ---- from the wire ----

export function objectRefFromProto(msg: ObjectReference | undefined, field: string): ObjectRef {
  if (msg === undefined) throw invalidArgument(field, "is required");
  return objectRef(msg.objectType, msg.objectId, field);
}

export function subjectRefFromProto(msg: SubjectReference | undefined, field: string): SubjectRef {
  if (msg?.object === undefined) throw invalidArgument(`${field}.object`, "is required");
  return subjectRef(msg.object.objectType, msg.object.objectId, msg.optionalRelation, field);
}

/**
 * A request's on-behalf-of chain and subject grants, or `{}` when it has neither (the common case,
 * which costs a length test). `prefix` names the request (`items[2].`) in errors.
 */
export function delegationFromProto(
  onBehalfOf: readonly SubjectReference[],
  grants: SubjectGrants,
  prefix = "",
): Delegated {
  if (onBehalfOf.length === 0 && grants === SubjectGrants.UNSPECIFIED) return {};
  let subjectGrants: Delegated["subjectGrants"];
  if (grants === SubjectGrants.NOT_REQUIRED) subjectGrants = "not-required";
  else if (grants === SubjectGrants.REQUIRED || grants === SubjectGrants.UNSPECIFIED)
    subjectGrants = "required";
  else throw invalidArgument(`${prefix}subject_grants`, `unknown value ${grants}`);
  // Refused before decoding the principals: a long list costs nothing more than its length.
  checkChainLength(onBehalfOf.length, prefix);
  const principals = onBehalfOf.map((ref, i) => subjectRefFromProto(ref, `${prefix}on_behalf_of[${i}]`));
  return principals.length === 0 ? { subjectGrants } : { onBehalfOf: principals, subjectGrants };
}

export function contextFromProto(ctx: JsonObject | undefined): Readonly<Record<string, unknown>> | undefined {
  return ctx === undefined ? undefined : (ctx as Record<string, unknown>);
}

/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;
const MAX_NANOS = 999_999_999;

/**
 * A Timestamp as a Date, refusing what the well-known type forbids instead of letting
 * `timestampDate` carry overflowing nanos into the seconds (an expiration the caller did not write).
 */
export function timestampFromProto(ts: Timestamp, field: string): Date {
  if (!Number.isInteger(ts.nanos) || ts.nanos < 0 || ts.nanos > MAX_NANOS) {
    throw invalidArgument(`${field}.nanos`, `must be 0..999,999,999, got ${ts.nanos}`);
  }
  if (ts.seconds < MIN_SECONDS || ts.seconds > MAX_SECONDS) {
    throw invalidArgument(
      `${field}.seconds`,
      `must be within 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z (${MIN_SECONDS}..${MAX_SECONDS}), got ${ts.seconds}`,
    );
  }
  return timestampDate(ts);
}

export function relationshipFromProto(msg: RelationshipMessage | undefined, field: string): Relationship {
  if (msg === undefined) throw invalidArgument(field, "is required");
  const resource = objectRefFromProto(msg.resource, `${field}.resource`);
  const relation = relationName(msg.relation, `${field}.relation`);
  const subject = subjectRefFromProto(msg.subject, `${field}.subject`);
  const caveat = msg.optionalCaveat;
  let caveatRef: Relationship["caveat"];
  if (caveat !== undefined) {
    typeName(caveat.caveatName, `${field}.optional_caveat.caveat_name`);
    caveatRef =
      caveat.context === undefined || Object.keys(caveat.context).length === 0
        ? { name: caveat.caveatName }
        : { name: caveat.caveatName, context: caveat.context as Record<string, unknown> };
  }
  return {
    resource,
    relation,
    subject,
    ...(caveatRef === undefined ? {} : { caveat: caveatRef }),
    ...(msg.optionalExpiresAt === undefined
      ? {}
      : { expiration: timestampFromProto(msg.optionalExpiresAt, `${field}.optional_expires_at`) }),
  };
}

export function consistencyFromProto(
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

export function filterFromProto(
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
  return {
    resourceType: typeName(msg.resourceType, `${field}.resource_type`),
    ...(msg.optionalResourceId === ""
      ? {}
      : { resourceId: objectId(msg.optionalResourceId, `${field}.optional_resource_id`, false) }),
    ...(msg.optionalResourceIdPrefix === "" ? {} : { resourceIdPrefix: msg.optionalResourceIdPrefix }),
    ...(msg.optionalRelation === ""
      ? {}
      : { relation: relationName(msg.optionalRelation, `${field}.optional_relation`) }),
    ...(subjectFilter === undefined ? {} : { subject: subjectFilter }),
    ...(msg.optionalCaveatName === "" ? {} : { caveatName: msg.optionalCaveatName }),
  };
}

export function preconditionFromProto(msg: PreconditionMessage, field: string): Precondition {
  const filter = filterFromProto(msg.filter, `${field}.filter`);
  switch (msg.operation) {
    case Precondition_Operation.MUST_MATCH:
      return { operation: "must-match", filter };
    case Precondition_Operation.MUST_NOT_MATCH:
      return { operation: "must-not-match", filter };
    default:
      throw invalidArgument(`${field}.operation`, "must be MUST_MATCH or MUST_NOT_MATCH");
  }
}

const UPDATE_OPS: Readonly<Record<number, RelationshipUpdate["operation"]>> = {
  [RelationshipUpdate_Operation.CREATE]: "create",
  [RelationshipUpdate_Operation.TOUCH]: "touch",
  [RelationshipUpdate_Operation.DELETE]: "delete",
};

export function updateFromProto(msg: RelationshipUpdateMessage, field: string): RelationshipUpdate {
  const operation = UPDATE_OPS[msg.operation];
  if (operation === undefined) throw invalidArgument(`${field}.operation`, "must be CREATE, TOUCH or DELETE");
  return { operation, relationship: relationshipFromProto(msg.relationship, `${field}.relationship`) };
}

// ---- to the wire ----

export function objectRefToProto(ref: ObjectRef): ObjectReference {
  return create(ObjectReferenceSchema, { objectType: ref.type, objectId: ref.id });
}

export function subjectRefToProto(ref: SubjectRef): SubjectReference {
  return create(SubjectReferenceSchema, {
    object: objectRefToProto(ref),
    optionalRelation: ref.relation ?? "",
  });
}

export function relationshipToProto(r: Relationship): RelationshipMessage {
  return create(RelationshipSchema, {
    resource: objectRefToProto(r.resource),
    relation: r.relation,
    subject: subjectRefToProto(r.subject),
    ...(r.caveat === undefined
      ? {}
      : {
          optionalCaveat: {
            caveatName: r.caveat.name,
            ...(r.caveat.context === undefined ? {} : { context: r.caveat.context as JsonObject }),
          },
        }),
    ...(r.expiration === undefined ? {} : { optionalExpiresAt: timestampFromDate(r.expiration) }),
  });
}

export function consistencyToProto(c: Consistency | undefined): ConsistencyMessage | undefined {
  if (c === undefined) return undefined;
  switch (c.kind) {
    case "minimize-latency":
      return create(ConsistencySchema, { requirement: { case: "minimizeLatency", value: true } });
    case "fully-consistent":
      return create(ConsistencySchema, { requirement: { case: "fullyConsistent", value: true } });
    case "at-least-as-fresh":
      return create(ConsistencySchema, {
        requirement: { case: "atLeastAsFresh", value: { token: c.token } },
      });
    case "at-exact-snapshot":
      return create(ConsistencySchema, {
        requirement: { case: "atExactSnapshot", value: { token: c.token } },
      });
  }
}

export function filterToProto(f: RelationshipFilter): RelationshipFilterMessage {
  return create(RelationshipFilterSchema, {
    resourceType: f.resourceType ?? "",
    optionalResourceId: f.resourceId ?? "",
    optionalResourceIdPrefix: f.resourceIdPrefix ?? "",
    optionalRelation: f.relation ?? "",
    optionalCaveatName: f.caveatName ?? "",
    ...(f.subject === undefined
      ? {}
      : {
          optionalSubjectFilter: {
            subjectType: f.subject.type,
            optionalSubjectId: f.subject.id ?? "",
            ...(f.subject.relation === undefined
              ? {}
              : { optionalRelation: { relation: f.subject.relation } }),
          },
        }),
  });
}

export function preconditionToProto(p: Precondition): PreconditionMessage {
  return create(PreconditionSchema, {
    operation:
      p.operation === "must-match"
        ? Precondition_Operation.MUST_MATCH
        : Precondition_Operation.MUST_NOT_MATCH,
    filter: filterToProto(p.filter),
  });
}

export function updateToProto(u: RelationshipUpdate): RelationshipUpdateMessage {
  const operation =
    u.operation === "create"
      ? RelationshipUpdate_Operation.CREATE
      : u.operation === "touch"
        ? RelationshipUpdate_Operation.TOUCH
        : RelationshipUpdate_Operation.DELETE;
  return create(RelationshipUpdateSchema, { operation, relationship: relationshipToProto(u.relationship) });
}
