/**
 * PermissionsService's relationship calls: ReadRelationships, WriteRelationships,
 * DeleteRelationships, ImportBulkRelationships and ExportBulkRelationships.
 */
import type { PermissionsService } from "../../gen/authzed/api/v1/permission_service_pb.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { AuthzedDeps } from "./deps.js";

type Methods = (typeof PermissionsService)["method"];

export function relationshipHandlers(_deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  return {};
}
