/**
 * SpiceDB's HTTP gateway routes: the `google.api.http` annotations of authzed.api.v1 (every one
 * is `post` with `body: "*"`), so that SpiceDB's documented `curl` examples work against Latch.
 * Facts of the published API, listed here as data; http-gateway.ts serves them.
 */

/** One route: POST `path` calls `service`/`method` (the proto names) with the JSON body as request. */
export interface GatewayRoute {
  readonly path: string;
  readonly service: string;
  readonly method: string;
}

const PERMISSIONS = "authzed.api.v1.PermissionsService";
const SCHEMA = "authzed.api.v1.SchemaService";
const WATCH = "authzed.api.v1.WatchService";
const EXPERIMENTAL = "authzed.api.v1.ExperimentalService";

const route = (path: string, service: string, method: string): GatewayRoute => ({ path, service, method });

export const SPICEDB_GATEWAY_ROUTES: readonly GatewayRoute[] = [
  route("/v1/relationships/read", PERMISSIONS, "ReadRelationships"),
  route("/v1/relationships/write", PERMISSIONS, "WriteRelationships"),
  route("/v1/relationships/delete", PERMISSIONS, "DeleteRelationships"),
  route("/v1/permissions/check", PERMISSIONS, "CheckPermission"),
  route("/v1/permissions/checkbulk", PERMISSIONS, "CheckBulkPermissions"),
  route("/v1/permissions/expand", PERMISSIONS, "ExpandPermissionTree"),
  route("/v1/permissions/resources", PERMISSIONS, "LookupResources"),
  route("/v1/permissions/subjects", PERMISSIONS, "LookupSubjects"),
  route("/v1/relationships/importbulk", PERMISSIONS, "ImportBulkRelationships"),
  route("/v1/relationships/exportbulk", PERMISSIONS, "ExportBulkRelationships"),
  route("/v1/schema/read", SCHEMA, "ReadSchema"),
  route("/v1/schema/write", SCHEMA, "WriteSchema"),
  route("/v1/schema/reflectschema", SCHEMA, "ReflectSchema"),
  route("/v1/schema/permissions/computable", SCHEMA, "ComputablePermissions"),
  route("/v1/schema/permissions/dependent", SCHEMA, "DependentRelations"),
  route("/v1/schema/diffschema", SCHEMA, "DiffSchema"),
  route("/v1/watch", WATCH, "Watch"),
  route("/v1/experimental/relationships/bulkimport", EXPERIMENTAL, "BulkImportRelationships"),
  route("/v1/experimental/relationships/bulkexport", EXPERIMENTAL, "BulkExportRelationships"),
  route("/v1/experimental/permissions/bulkcheckpermission", EXPERIMENTAL, "BulkCheckPermission"),
  route("/v1/experimental/reflectschema", EXPERIMENTAL, "ExperimentalReflectSchema"),
  route("/v1/experimental/permissions/computable", EXPERIMENTAL, "ExperimentalComputablePermissions"),
  route("/v1/experimental/permissions/dependent", EXPERIMENTAL, "ExperimentalDependentRelations"),
  route("/v1/experimental/diffschema", EXPERIMENTAL, "ExperimentalDiffSchema"),
  route(
    "/v1/experimental/registerrelationshipcounter",
    EXPERIMENTAL,
    "ExperimentalRegisterRelationshipCounter",
  ),
  route("/v1/experimental/countrelationships", EXPERIMENTAL, "ExperimentalCountRelationships"),
  route(
    "/v1/experimental/unregisterrelationshipcounter",
    EXPERIMENTAL,
    "ExperimentalUnregisterRelationshipCounter",
  ),
];

/**
 * The HTTP status the gateway answers for a gRPC status code (grpc-gateway's mapping, which
 * SpiceDB's gateway uses): index = code.
 */
const HTTP_STATUS_BY_CODE: readonly number[] = [
  200, // OK
  499, // CANCELLED
  500, // UNKNOWN
  400, // INVALID_ARGUMENT
  504, // DEADLINE_EXCEEDED
  404, // NOT_FOUND
  409, // ALREADY_EXISTS
  403, // PERMISSION_DENIED
  429, // RESOURCE_EXHAUSTED
  400, // FAILED_PRECONDITION
  409, // ABORTED
  400, // OUT_OF_RANGE
  501, // UNIMPLEMENTED
  500, // INTERNAL
  503, // UNAVAILABLE
  500, // DATA_LOSS
  401, // UNAUTHENTICATED
];

export function httpStatusOf(code: number): number {
  return HTTP_STATUS_BY_CODE[code] ?? 500;
}
