/**
 * Decoders shared by latch.v1 and authzed.api.v1. Their generated messages are different types of
 * the same shape (latch.v1 took SpiceDB's field names and numbers), so each decoder is written once
 * over the fields both have; convert.ts and authzed/convert.ts bind them to their own messages and
 * keep what differs (enum names in errors, SpiceDB's looser filters).
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type CaveatRef,
  ELLIPSIS_RELATION,
  type ObjectRef,
  type Relationship,
  type SubjectRef,
} from "../core/index.js";
import type { Consistency } from "../engine/index.js";
import { Precondition_Operation, RelationshipUpdate_Operation } from "../gen/latch/v1/core_pb.js";
import {
  invalidArgument,
  objectId,
  objectRef,
  relationName,
  subjectRef,
  typeName,
} from "../service/index.js";
import type { Precondition, RelationshipFilter, RelationshipUpdate, SubjectFilter } from "../store/index.js";

// ---- the shapes both APIs' messages have ----

export interface ObjectReferenceShape {
  readonly objectType: string;
  readonly objectId: string;
}

export interface SubjectReferenceShape {
  readonly object?: ObjectReferenceShape | undefined;
  readonly optionalRelation: string;
}

export interface CaveatShape {
  readonly caveatName: string;
  readonly context?: JsonObject | undefined;
}

export interface RelationshipShape {
  readonly resource?: ObjectReferenceShape | undefined;
  readonly relation: string;
  readonly subject?: SubjectReferenceShape | undefined;
  readonly optionalCaveat?: CaveatShape | undefined;
  readonly optionalExpiresAt?: Timestamp | undefined;
}

export interface ConsistencyShape {
  readonly requirement:
    | { readonly case: "minimizeLatency"; readonly value: boolean }
    | { readonly case: "atLeastAsFresh"; readonly value: { readonly token: string } }
    | { readonly case: "atExactSnapshot"; readonly value: { readonly token: string } }
    | { readonly case: "fullyConsistent"; readonly value: boolean }
    | { readonly case: undefined; readonly value?: undefined };
}

export interface RelationshipFilterShape {
  readonly resourceType: string;
  readonly optionalResourceId: string;
  readonly optionalResourceIdPrefix: string;
  readonly optionalRelation: string;
  readonly optionalSubjectFilter?:
    | {
        readonly subjectType: string;
        readonly optionalSubjectId: string;
        readonly optionalRelation?: { readonly relation: string } | undefined;
      }
    | undefined;
  /** latch.v1 only. */
  readonly optionalCaveatName?: string;
}

/**
 * Both APIs number their operations alike (SpiceDB's numbers), so latch.v1's enums read either.
 */
export interface PreconditionShape {
  readonly operation: number;
  readonly filter?: RelationshipFilterShape | undefined;
}

export interface RelationshipUpdateShape {
  readonly operation: number;
  readonly relationship?: RelationshipShape | undefined;
}

// ---- decoders ----

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

export function objectRefFromWire(msg: ObjectReferenceShape | undefined, field: string): ObjectRef {
  if (msg === undefined) throw invalidArgument(field, "is required");
  return objectRef(msg.objectType, msg.objectId, field);
}

export function subjectRefFromWire(msg: SubjectReferenceShape | undefined, field: string): SubjectRef {
  if (msg?.object === undefined) throw invalidArgument(`${field}.object`, "is required");
  return subjectRef(msg.object.objectType, msg.object.objectId, msg.optionalRelation, field);
}

export function contextFromWire(ctx: JsonObject | undefined): Readonly<Record<string, unknown>> | undefined {
  return ctx === undefined ? undefined : (ctx as Record<string, unknown>);
}

export function caveatFromWire(msg: CaveatShape | undefined, field: string): CaveatRef | undefined {
  if (msg === undefined) return undefined;
  const name = typeName(msg.caveatName, `${field}.caveat_name`);
  return msg.context === undefined || Object.keys(msg.context).length === 0
    ? { name }
    : { name, context: msg.context as Record<string, unknown> };
}

export function relationshipFromWire(msg: RelationshipShape | undefined, field: string): Relationship {
  if (msg === undefined) throw invalidArgument(field, "is required");
  const resource = objectRefFromWire(msg.resource, `${field}.resource`);
  const relation = relationName(msg.relation, `${field}.relation`);
  const subject = subjectRefFromWire(msg.subject, `${field}.subject`);
  const caveat = caveatFromWire(msg.optionalCaveat, `${field}.optional_caveat`);
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

export function consistencyFromWire(
  msg: ConsistencyShape | undefined,
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

/** Where the two APIs' filters differ: SpiceDB's may span every resource type, and refuses an id with a prefix. */
export interface FilterRules {
  readonly anyResourceType: boolean;
  readonly idOrPrefix: boolean;
}

export function filterFromWire(
  msg: RelationshipFilterShape | undefined,
  field: string,
  rules: FilterRules,
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
  if (rules.idOrPrefix && msg.optionalResourceId !== "" && msg.optionalResourceIdPrefix !== "") {
    throw invalidArgument(
      `${field}.optional_resource_id_prefix`,
      "cannot be given with optional_resource_id: give one of them",
    );
  }
  const caveatName = msg.optionalCaveatName ?? "";
  return {
    ...(rules.anyResourceType && msg.resourceType === ""
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
    ...(caveatName === "" ? {} : { caveatName }),
  };
}

/** `expected` is the error's list of operations, spelled as the API's users know them. */
export function preconditionFromWire(
  msg: PreconditionShape,
  field: string,
  rules: FilterRules,
  expected: string,
): Precondition {
  const filter = filterFromWire(msg.filter, `${field}.filter`, rules);
  switch (msg.operation) {
    case Precondition_Operation.MUST_MATCH:
      return { operation: "must-match", filter };
    case Precondition_Operation.MUST_NOT_MATCH:
      return { operation: "must-not-match", filter };
    default:
      throw invalidArgument(`${field}.operation`, `must be ${expected}`);
  }
}

const UPDATE_OPS: Readonly<Record<number, RelationshipUpdate["operation"]>> = {
  [RelationshipUpdate_Operation.CREATE]: "create",
  [RelationshipUpdate_Operation.TOUCH]: "touch",
  [RelationshipUpdate_Operation.DELETE]: "delete",
};

/** `expected` is the error's list of operations, spelled as the API's users know them. */
export function updateFromWire(
  msg: RelationshipUpdateShape,
  field: string,
  expected: string,
): RelationshipUpdate {
  const operation = UPDATE_OPS[msg.operation];
  if (operation === undefined) throw invalidArgument(`${field}.operation`, `must be ${expected}`);
  return { operation, relationship: relationshipFromWire(msg.relationship, `${field}.relationship`) };
}

/** A result's missing caveat parameters, as both APIs' `partial_caveat_info`. */
export function caveatInfo(missing: readonly string[]): {
  partialCaveatInfo?: { missingRequiredContext: string[] };
} {
  return missing.length === 0 ? {} : { partialCaveatInfo: { missingRequiredContext: [...missing] } };
}

/** A field for an object spread, or none when the value is undefined. */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
