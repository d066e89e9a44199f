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
import type {
  Precondition as PreconditionMessage,
  RelationshipFilter as RelationshipFilterMessage,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import type { Precondition, RelationshipFilter, RelationshipUpdate } from "../../store/index.js";
import { type FilterRules, filterFromWire, preconditionFromWire, updateFromWire } from "../wire-shapes.js";

// ---- references ----

export {
  caveatFromWire as caveatFromSpice,
  consistencyFromWire as consistencyFromSpice,
  contextFromWire as contextFromSpice,
  objectRefFromWire as objectRefFromSpice,
  relationshipFromWire as relationshipFromSpice,
  subjectRefFromWire as subjectRefFromSpice,
} from "../wire-shapes.js";

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

export function caveatToSpice(caveat: CaveatRef): ContextualizedCaveat {
  return create(ContextualizedCaveatSchema, {
    caveatName: caveat.name,
    ...(caveat.context === undefined ? {} : { context: caveat.context as JsonObject }),
  });
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

export function updateFromSpice(msg: RelationshipUpdateMessage, field: string): RelationshipUpdate {
  return updateFromWire(msg, field, "OPERATION_CREATE, OPERATION_TOUCH or OPERATION_DELETE");
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

/** SpiceDB's filters may leave out the resource type (the store then spans every type). */
const SPICE_FILTERS: FilterRules = { anyResourceType: true, idOrPrefix: true };

export function filterFromSpice(
  msg: RelationshipFilterMessage | undefined,
  field: string,
): RelationshipFilter {
  return filterFromWire(msg, field, SPICE_FILTERS);
}

export function preconditionFromSpice(msg: PreconditionMessage, field: string): Precondition {
  return preconditionFromWire(msg, field, SPICE_FILTERS, "OPERATION_MUST_MATCH or OPERATION_MUST_NOT_MATCH");
}

// ---- tokens, consistency and cursors ----

/** A ZedToken is Latch's revision token as it is: both are opaque strings to the client. */
export function zedTokenToSpice(token: string): ZedToken {
  return create(ZedTokenSchema, { token });
}

/** A cursor is Latch's opaque paging token as it is; an empty one is no cursor. */
export function cursorFromSpice(msg: Cursor | undefined): string | undefined {
  return msg === undefined || msg.token === "" ? undefined : msg.token;
}

export function cursorToSpice(token: string): Cursor {
  return create(CursorSchema, { token });
}
