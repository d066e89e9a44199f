/**
 * LookupResources and LookupSubjects: the engine's streams, one message per result. A deadline
 * ends the stream with DEADLINE_EXCEEDED and the cursor after the last result sent, in the
 * error details (trailers), so that a client resumes without gaps or duplicates.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ELLIPSIS_RELATION, isLatchError, LatchError } from "../core/index.js";
import type { Engine, RequestOptions, SubjectExclusion } from "../engine/index.js";
import {
  LookupPermissionship,
  type LookupResourcesRequest,
  type LookupResourcesResponseSchema,
  type LookupSubjectsRequest,
  type LookupSubjectsResponseSchema,
  type ResolvedSubjectSchema,
} from "../gen/latch/v1/permission_service_pb.js";
import { type Decider, invalidArgument, permissionName, typeName } from "../service/index.js";
import {
  consistencyFromProto,
  contextFromProto,
  delegationFromProto,
  objectRefFromProto,
  subjectRefFromProto,
} from "./convert.js";
import type { CallContext } from "./grpc-adapter.js";

type ResourcesResponse = MessageInitShape<typeof LookupResourcesResponseSchema>;
type SubjectsResponse = MessageInitShape<typeof LookupSubjectsResponseSchema>;
type Resolved = MessageInitShape<typeof ResolvedSubjectSchema>;

function lookupPermissionship(state: "ALLOWED" | "CONDITIONAL"): LookupPermissionship {
  return state === "CONDITIONAL"
    ? LookupPermissionship.CONDITIONAL_PERMISSION
    : LookupPermissionship.HAS_PERMISSION;
}

function caveatInfo(missing: readonly string[]): {
  partialCaveatInfo?: { missingRequiredContext: string[] };
} {
  return missing.length === 0 ? {} : { partialCaveatInfo: { missingRequiredContext: [...missing] } };
}

/**
 * As SpiceDB sends them: HAS_PERMISSION when the exclusion holds for sure, CONDITIONAL_PERMISSION
 * with the parameters that would decide it.
 */
function exclusionToProto(e: SubjectExclusion): Resolved {
  return {
    subjectObjectId: e.id,
    permissionship: lookupPermissionship(e.state === "EXCLUDED" ? "ALLOWED" : "CONDITIONAL"),
    ...caveatInfo(e.missing),
  };
}

/** The engine's deadline error, re-made with the cursor of the last result that left this server. */
function withCursor(error: unknown, cursor: string | undefined): unknown {
  if (!isLatchError(error) || error.kind !== "deadline-exceeded") return error;
  if (error.details.cursor === cursor) return error;
  const details = { ...error.details };
  if (cursor === undefined) delete details.cursor;
  else details.cursor = cursor;
  return new LatchError(error.code, error.kind, error.message, details);
}

export async function* lookupResources(
  decider: Pick<Decider, "lookupResources">,
  req: LookupResourcesRequest,
  ctx: Pick<CallContext, "signal"> & { readonly requestOptions?: RequestOptions },
): AsyncGenerator<ResourcesResponse> {
  const cursor = req.optionalCursor?.token ?? "";
  const results = decider.lookupResources(
    {
      resourceType: typeName(req.resourceObjectType, "resource_object_type"),
      permission: permissionName(req.permission, "permission"),
      subject: subjectRefFromProto(req.subject, "subject"),
      ...optional("context", contextFromProto(req.context)),
      ...optional("consistency", consistencyFromProto(req.consistency, "consistency")),
      ...(req.optionalLimit > 0 ? { limit: req.optionalLimit } : {}),
      ...(cursor === "" ? {} : { cursor }),
      ...delegationFromProto(req.onBehalfOf, req.subjectGrants),
      ...(req.actorToken === "" ? {} : { actorToken: req.actorToken }),
    },
    ctx.requestOptions ?? { signal: ctx.signal },
  );
  let last: string | undefined = cursor === "" ? undefined : cursor;
  try {
    for await (const r of results) {
      // Checked before handing a result on, so that the one the deadline stops is never half-sent.
      if (ctx.signal.aborted) throw ctx.signal.reason;
      yield {
        lookedUpAt: { token: r.token },
        resourceObjectId: r.resourceId,
        permissionship: lookupPermissionship(r.state),
        ...caveatInfo(r.missing),
        afterResultCursor: { token: r.cursor },
      };
      last = r.cursor;
    }
  } catch (error) {
    throw withCursor(error, last);
  }
}

export async function* lookupSubjects(
  engine: Engine,
  req: LookupSubjectsRequest,
  ctx: Pick<CallContext, "signal">,
): AsyncGenerator<SubjectsResponse> {
  if (req.optionalConcreteLimit > 0) {
    throw invalidArgument("optional_concrete_limit", "is not supported: LookupSubjects returns all subjects");
  }
  if ((req.optionalCursor?.token ?? "") !== "") {
    throw invalidArgument("optional_cursor", "is not supported: LookupSubjects returns all subjects");
  }
  const relation = req.optionalSubjectRelation;
  const results = engine.lookupSubjects(
    {
      resource: objectRefFromProto(req.resource, "resource"),
      permission: permissionName(req.permission, "permission"),
      subjectType: typeName(req.subjectObjectType, "subject_object_type"),
      ...(relation === "" || relation === ELLIPSIS_RELATION
        ? {}
        : { subjectRelation: permissionName(relation, "optional_subject_relation") }),
      ...optional("context", contextFromProto(req.context)),
      ...optional("consistency", consistencyFromProto(req.consistency, "consistency")),
    },
    { signal: ctx.signal },
  );
  for await (const r of results) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const subject: Resolved = {
      subjectObjectId: r.subject.id,
      permissionship: lookupPermissionship(r.state),
      ...caveatInfo(r.missing),
    };
    yield {
      lookedUpAt: { token: r.token },
      subject,
      excludedSubjects: (r.excluded ?? []).map(exclusionToProto),
    };
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
