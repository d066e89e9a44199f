/**
 * PermissionsService's decisions: CheckPermission, CheckBulkPermissions, ExpandPermissionTree,
 * LookupResources and LookupSubjects, over the same decision seam as latch.v1.
 */
import type { PermissionsService } from "../../gen/authzed/api/v1/permission_service_pb.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { AuthzedDeps } from "./deps.js";

type Methods = (typeof PermissionsService)["method"];

export function decisionHandlers(_deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  return {};
}
