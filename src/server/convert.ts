/**
 * Converters between wire messages (protobuf-es) and Latch's plain core/store types, in both
 * directions: the server reads requests with the `from*` functions and the client builds them with
 * the `to*` ones. Values read from the wire are checked by the service layer's validation
 * (`service/validate.ts`), given the wire's field names so that errors name the offending field.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ObjectRef, Relationship, SubjectRef } from "../core/index.js";
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
import { checkChainLength, invalidArgument } from "../service/index.js";
import type { Precondition, RelationshipFilter, RelationshipUpdate } from "../store/index.js";
import {
  type FilterRules,
  filterFromWire,
  preconditionFromWire,
  subjectRefFromWire,
  updateFromWire,
} from "./wire-shapes.js";

// ---- from the wire ----

export {
  consistencyFromWire as consistencyFromProto,
  contextFromWire as contextFromProto,
  objectRefFromWire as objectRefFromProto,
  relationshipFromWire as relationshipFromProto,
  subjectRefFromWire as subjectRefFromProto,
  timestampFromProto,
} from "./wire-shapes.js";

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
  const principals = onBehalfOf.map((ref, i) => subjectRefFromWire(ref, `${prefix}on_behalf_of[${i}]`));
  return principals.length === 0 ? { subjectGrants } : { onBehalfOf: principals, subjectGrants };
}

/** latch.v1's filters name a resource type, and may name a caveat. */
const LATCH_FILTERS: FilterRules = { anyResourceType: false, idOrPrefix: false };

export function filterFromProto(
  msg: RelationshipFilterMessage | undefined,
  field: string,
): RelationshipFilter {
  return filterFromWire(msg, field, LATCH_FILTERS);
}

export function preconditionFromProto(msg: PreconditionMessage, field: string): Precondition {
  return preconditionFromWire(msg, field, LATCH_FILTERS, "MUST_MATCH or MUST_NOT_MATCH");
}

export function updateFromProto(msg: RelationshipUpdateMessage, field: string): RelationshipUpdate {
  return updateFromWire(msg, field, "CREATE, TOUCH or DELETE");
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
