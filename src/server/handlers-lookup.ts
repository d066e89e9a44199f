/**
 * LookupResources and LookupSubjects: the engine's streams, one message per result. A deadline
 * ends the stream with DEADLINE_EXCEEDED and the cursor after the last result sent, in the
 * error details (trailers), so that a client resumes without gaps or duplicates.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { isLatchError, LatchError } from "../core/index.js";
import type { Engine, RequestOptions, SubjectExclusion } from "../engine/index.js";
import {
  LookupPermissionship,
  type LookupResourcesRequest,
  type LookupResourcesResponseSchema,
  type LookupSubjectsRequest,
  type LookupSubjectsResponseSchema,
  type ResolvedSubjectSchema,
} from "../gen/latch/v1/permission_service_pb.js";
import type { Decider } from "../service/index.js";
import { delegationFromProto } from "./convert.js";
import type { CallContext } from "./grpc-adapter.js";
import { resourcesQueryOf, subjectsQueryOf } from "./request-shapes.js";
import { caveatInfo } from "./wire-shapes.js";

type ResourcesResponse = MessageInitShape<typeof LookupResourcesResponseSchema>;
type SubjectsResponse = MessageInitShape<typeof LookupSubjectsResponseSchema>;
type Resolved = MessageInitShape<typeof ResolvedSubjectSchema>;

function lookupPermissionship(state: "ALLOWED" | "CONDITIONAL"): LookupPermissionship {
  return state === "CONDITIONAL"
    ? LookupPermissionship.CONDITIONAL_PERMISSION
    : LookupPermissionship.HAS_PERMISSION;
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
  const query = resourcesQueryOf(req);
  const results = decider.lookupResources(
    {
      ...query,
      ...delegationFromProto(req.onBehalfOf, req.subjectGrants),
      ...(req.actorToken === "" ? {} : { actorToken: req.actorToken }),
    },
    ctx.requestOptions ?? { signal: ctx.signal },
  );
  let last = query.cursor;
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
  const cursor = req.optionalCursor?.token ?? "";
  const query = {
    ...subjectsQueryOf(req),
    ...(req.optionalConcreteLimit > 0 ? { limit: req.optionalConcreteLimit } : {}),
    ...(cursor === "" ? {} : { cursor }),
  };
  let last = query.cursor;
  try {
    for await (const r of engine.lookupSubjects(query, { signal: ctx.signal })) {
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
        afterResultCursor: { token: r.cursor },
      };
      last = r.cursor;
    }
  } catch (error) {
    throw withCursor(error, last);
  }
}
