/**
 * PermissionsService's LookupResources (through the decision seam, as on latch.v1) and
 * LookupSubjects (the engine), as SpiceDB streams them: one message per result.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { WILDCARD_ID } from "../../core/index.js";
import type { Engine, SubjectExclusion } from "../../engine/index.js";
import {
  LookupPermissionship,
  type LookupResourcesRequest,
  type LookupResourcesResponseSchema,
  type LookupSubjectsRequest,
  type LookupSubjectsResponseSchema,
  type ResolvedSubjectSchema,
  LookupSubjectsRequest_WildcardOption as WildcardOption,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import type { Decider } from "../../service/index.js";
import type { CallContext } from "../grpc-adapter.js";
import { resourcesQueryOf, subjectsQueryOf } from "../request-shapes.js";
import { caveatInfo } from "../wire-shapes.js";
import { cursorFromSpice } from "./convert.js";
import { AuthzedError } from "./errors.js";

type Resolved = MessageInitShape<typeof ResolvedSubjectSchema>;

function lookupPermissionship(state: "ALLOWED" | "CONDITIONAL"): LookupPermissionship {
  return state === "CONDITIONAL"
    ? LookupPermissionship.CONDITIONAL_PERMISSION
    : LookupPermissionship.HAS_PERMISSION;
}

/** As SpiceDB sends an exclusion: HAS_PERMISSION when it holds for sure, else CONDITIONAL with what decides it. */
function exclusionToSpice(e: SubjectExclusion): Resolved {
  return {
    subjectObjectId: e.id,
    permissionship: lookupPermissionship(e.state === "EXCLUDED" ? "ALLOWED" : "CONDITIONAL"),
    ...caveatInfo(e.missing),
  };
}

export async function* lookupResources(
  decider: Pick<Decider, "lookupResources">,
  req: LookupResourcesRequest,
  ctx: CallContext,
): AsyncGenerator<MessageInitShape<typeof LookupResourcesResponseSchema>> {
  const results = decider.lookupResources(resourcesQueryOf(req), ctx.requestOptions);
  for await (const r of results) {
    // Checked before handing a result on, so that the one a deadline stops is never half-sent.
    if (ctx.aborted) throw ctx.signal.reason;
    yield {
      lookedUpAt: { token: r.token },
      resourceObjectId: r.resourceId,
      permissionship: lookupPermissionship(r.state),
      ...caveatInfo(r.missing),
      afterResultCursor: { token: r.cursor },
    };
  }
}

export async function* lookupSubjects(
  engine: Pick<Engine, "lookupSubjects">,
  req: LookupSubjectsRequest,
  ctx: CallContext,
): AsyncGenerator<MessageInitShape<typeof LookupSubjectsResponseSchema>> {
  // SpiceDB refuses both the same way: it answers every subject at once.
  if (req.optionalConcreteLimit > 0)
    throw new AuthzedError(
      status.UNIMPLEMENTED,
      "optional_concrete_limit: concrete limit is not yet supported",
    );
  if (cursorFromSpice(req.optionalCursor) !== undefined)
    throw new AuthzedError(status.UNIMPLEMENTED, "optional_cursor: cursor is not yet supported");
  const results = engine.lookupSubjects(subjectsQueryOf(req), { signal: ctx });
  const withoutWildcards = req.wildcardOption === WildcardOption.EXCLUDE_WILDCARDS;
  for await (const r of results) {
    if (ctx.aborted) throw ctx.signal.reason;
    if (withoutWildcards && r.subject.id === WILDCARD_ID) continue;
    const permissionship = lookupPermissionship(r.state);
    const excluded = (r.excluded ?? []).map(exclusionToSpice);
    // The deprecated fields beside `subject` and `excluded_subjects`, filled as SpiceDB still does.
    yield {
      lookedUpAt: { token: r.token },
      subjectObjectId: r.subject.id,
      excludedSubjectIds: excluded.map((e) => e.subjectObjectId ?? ""),
      permissionship,
      ...caveatInfo(r.missing),
      subject: { subjectObjectId: r.subject.id, permissionship, ...caveatInfo(r.missing) },
      excludedSubjects: excluded,
    };
  }
}
