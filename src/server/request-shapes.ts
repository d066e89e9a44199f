/**
 * The requests latch.v1 and authzed.api.v1 share, decoded once: their generated messages are
 * different types of the same shape, so each decoder reads the fields both have (in wire order, so
 * that the first bad field is the one refused) and each API adds its own (delegation, tracing).
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { ELLIPSIS_RELATION } from "../core/index.js";
import type {
  CheckRequest,
  ExpandRequest,
  LookupResourcesRequest,
  LookupSubjectsRequest,
} from "../engine/index.js";
import { permissionName, typeName } from "../service/index.js";
import {
  type ConsistencyShape,
  consistencyFromWire,
  contextFromWire,
  type ObjectReferenceShape,
  objectRefFromWire,
  optional,
  type SubjectReferenceShape,
  subjectRefFromWire,
} from "./wire-shapes.js";

/** A CheckPermissionRequest's fields that both APIs have. */
interface CheckShape {
  readonly resource?: ObjectReferenceShape | undefined;
  readonly permission: string;
  readonly subject?: SubjectReferenceShape | undefined;
  readonly context?: JsonObject | undefined;
  readonly consistency?: ConsistencyShape | undefined;
}

/** The engine's request for a CheckPermissionRequest, open for the API to add its own fields. */
export function checkRequestOf(req: CheckShape): { -readonly [K in keyof CheckRequest]: CheckRequest[K] } {
  // Built field by field rather than from spreads: this is the hottest call, and each spread is an
  // object made and copied.
  const request: { -readonly [K in keyof CheckRequest]: CheckRequest[K] } = {
    resource: objectRefFromWire(req.resource, "resource"),
    permission: permissionName(req.permission, "permission"),
    subject: subjectRefFromWire(req.subject, "subject"),
  };
  const context = contextFromWire(req.context);
  if (context !== undefined) request.context = context;
  const consistency = consistencyFromWire(req.consistency, "consistency");
  if (consistency !== undefined) request.consistency = consistency;
  return request;
}

type BulkItemFields = {
  -readonly [K in keyof Pick<CheckRequest, "resource" | "permission" | "subject" | "context">]: Pick<
    CheckRequest,
    "resource" | "permission" | "subject" | "context"
  >[K];
};

/** A CheckBulkPermissionsRequestItem's fields that both APIs have; `i` is its place in `items`. */
export function bulkItemOf(item: Omit<CheckShape, "consistency">, i: number): BulkItemFields {
  // Field by field, as checkRequestOf: once per item of every bulk.
  const out: BulkItemFields = {
    resource: objectRefFromWire(item.resource, `items[${i}].resource`),
    permission: permissionName(item.permission, `items[${i}].permission`),
    subject: subjectRefFromWire(item.subject, `items[${i}].subject`),
  };
  const context = contextFromWire(item.context);
  if (context !== undefined) out.context = context;
  return out;
}

export function expandRequestOf(req: {
  readonly resource?: ObjectReferenceShape | undefined;
  readonly permission: string;
  readonly consistency?: ConsistencyShape | undefined;
}): ExpandRequest {
  return {
    resource: objectRefFromWire(req.resource, "resource"),
    permission: permissionName(req.permission, "permission"),
    ...optional("consistency", consistencyFromWire(req.consistency, "consistency")),
  };
}

/** LookupResourcesRequest's fields that latch.v1 and authzed.api.v1 share. */
interface ResourcesRequestShape {
  readonly resourceObjectType: string;
  readonly permission: string;
  readonly subject?: SubjectReferenceShape | undefined;
  readonly context?: JsonObject | undefined;
  readonly consistency?: ConsistencyShape | undefined;
  readonly optionalLimit: number;
  readonly optionalCursor?: { readonly token: string } | undefined;
}

/** The engine's query for either API's LookupResourcesRequest; fields are read (and refused) in wire order. */
export function resourcesQueryOf(req: ResourcesRequestShape): LookupResourcesRequest {
  const cursor = req.optionalCursor?.token ?? "";
  return {
    resourceType: typeName(req.resourceObjectType, "resource_object_type"),
    permission: permissionName(req.permission, "permission"),
    subject: subjectRefFromWire(req.subject, "subject"),
    ...optional("context", contextFromWire(req.context)),
    ...optional("consistency", consistencyFromWire(req.consistency, "consistency")),
    ...(req.optionalLimit > 0 ? { limit: req.optionalLimit } : {}),
    ...(cursor === "" ? {} : { cursor }),
  };
}

/** LookupSubjectsRequest's fields that latch.v1 and authzed.api.v1 share. */
interface SubjectsRequestShape {
  readonly resource?: ObjectReferenceShape | undefined;
  readonly permission: string;
  readonly subjectObjectType: string;
  readonly optionalSubjectRelation: string;
  readonly context?: JsonObject | undefined;
  readonly consistency?: ConsistencyShape | undefined;
}

/** The engine's query for either API's LookupSubjectsRequest; fields are read (and refused) in wire order. */
export function subjectsQueryOf(req: SubjectsRequestShape): LookupSubjectsRequest {
  const relation = req.optionalSubjectRelation;
  return {
    resource: objectRefFromWire(req.resource, "resource"),
    permission: permissionName(req.permission, "permission"),
    subjectType: typeName(req.subjectObjectType, "subject_object_type"),
    ...(relation === "" || relation === ELLIPSIS_RELATION
      ? {}
      : { subjectRelation: permissionName(relation, "optional_subject_relation") }),
    ...optional("context", contextFromWire(req.context)),
    ...optional("consistency", consistencyFromWire(req.consistency, "consistency")),
  };
}
