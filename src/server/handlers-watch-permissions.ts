/**
 * WatchPermissions over the wire: the service's live set (service/permission-watch), one message
 * per event. The stream ends when the client goes away or the server shuts down.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  SubjectGrants,
  type WatchPermissionsRequest,
  WatchPermissionsResponse_Kind,
  type WatchPermissionsResponseSchema,
} from "../gen/latch/v1/permission_service_pb.js";
import {
  type PermissionEventKind,
  type PermissionWatch,
  permissionName,
  typeName,
  type WatchPermissionsRequest as WatchRequest,
} from "../service/index.js";
import { delegationFromProto } from "./convert.js";
import type { CallContext } from "./grpc-adapter.js";
import { caveatInfo, contextFromWire, optional, subjectRefFromWire } from "./wire-shapes.js";

type Response = MessageInitShape<typeof WatchPermissionsResponseSchema>;

const KINDS: Readonly<Record<PermissionEventKind, WatchPermissionsResponse_Kind>> = {
  ADDED: WatchPermissionsResponse_Kind.ADDED,
  CONDITIONAL: WatchPermissionsResponse_Kind.CONDITIONAL,
  REMOVED: WatchPermissionsResponse_Kind.REMOVED,
  SYNCED: WatchPermissionsResponse_Kind.SYNCED,
  RESYNC: WatchPermissionsResponse_Kind.RESYNC,
};

/** The service's request for the wire's; fields are read (and refused) in wire order. */
export function watchRequestOf(req: WatchPermissionsRequest): WatchRequest {
  const resourceType = typeName(req.resourceObjectType, "resource_object_type");
  const permission = permissionName(req.permission, "permission");
  const subject = subjectRefFromWire(req.subject, "subject");
  const { onBehalfOf } = delegationFromProto(req.onBehalfOf, SubjectGrants.UNSPECIFIED);
  return {
    resourceType,
    permission,
    subject,
    ...optional("onBehalfOf", onBehalfOf),
    ...optional("context", contextFromWire(req.context)),
    ...(req.checkpoints ? { checkpoints: true } : {}),
    // An empty token is no token, as on Watch; any other is judged by the service.
    ...(req.optionalStartCursor === undefined || req.optionalStartCursor.token === ""
      ? {}
      : { after: req.optionalStartCursor.token }),
  };
}

export async function* watchPermissions(
  permissions: PermissionWatch,
  shutdown: AbortSignal,
  req: WatchPermissionsRequest,
  ctx: Pick<CallContext, "signal">,
): AsyncGenerator<Response> {
  const request = watchRequestOf(req);
  const signal = AbortSignal.any([ctx.signal, shutdown]);
  for await (const e of permissions.watch(request, { signal })) {
    yield {
      kind: KINDS[e.kind],
      resourceObjectId: e.resourceId,
      ...caveatInfo(e.missing),
      changedAt: { token: e.token },
    };
  }
}
