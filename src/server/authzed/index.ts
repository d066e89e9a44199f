/**
 * SpiceDB's wire API, authzed.api.v1, served beside latch.v1 on the same gRPC server: the same
 * token auth (the services are added with the server's `add`, so the auth interceptor guards
 * them), the same service layer and decision seam, SpiceDB's error shape (errors.ts).
 *
 * Each service's handlers live in a file of their own; a method a file does not (yet) implement
 * answers UNIMPLEMENTED with a message saying so.
 */
import type { GenFile, GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import {
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
} from "@bufbuild/protobuf/wkt";
import { file_authzed_api_v1_core } from "../../gen/authzed/api/v1/core_pb.js";
import { file_authzed_api_v1_debug } from "../../gen/authzed/api/v1/debug_pb.js";
import { file_authzed_api_v1_error_reason } from "../../gen/authzed/api/v1/error_reason_pb.js";
import {
  ExperimentalService,
  file_authzed_api_v1_experimental_service,
} from "../../gen/authzed/api/v1/experimental_service_pb.js";
import {
  file_authzed_api_v1_permission_service,
  PermissionsService,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import {
  file_authzed_api_v1_schema_service,
  SchemaService,
} from "../../gen/authzed/api/v1/schema_service_pb.js";
import {
  file_authzed_api_v1_watch_service,
  WatchService,
} from "../../gen/authzed/api/v1/watch_service_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import type { WireError } from "../errors.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { ServerCodec } from "../grpc-definition.js";
import { authzedCheckPermissionCodec } from "./check-permission-codec.js";
import type { AuthzedDeps } from "./deps.js";
import { toAuthzedWireError, unimplemented } from "./errors.js";
import { experimentalHandlers } from "./experimental-service.js";
import { decisionHandlers } from "./permissions-decisions.js";
import { relationshipHandlers } from "./permissions-relationships.js";
import { schemaHandlers } from "./schema-service.js";
import { watchHandlers } from "./watch-service.js";

export * from "./convert.js";
export type { AuthzedDeps } from "./deps.js";
export {
  AuthzedError,
  ERROR_DOMAIN,
  type ErrorFacts,
  itemStatus,
  type Reason,
  rpcStatus,
  type SpiceStatus,
  spiceStatusOf,
  toAuthzedWireError,
  tooManyStatus,
  unimplemented,
} from "./errors.js";

export const AUTHZED_SERVICE_NAMES = [
  "authzed.api.v1.PermissionsService",
  "authzed.api.v1.SchemaService",
  "authzed.api.v1.WatchService",
  "authzed.api.v1.ExperimentalService",
] as const;

/** The descriptors reflection serves for authzed.api.v1, dependencies first. */
export const AUTHZED_FILES: readonly GenFile[] = [
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_rpc_status,
  file_google_rpc_error_details,
  file_authzed_api_v1_error_reason,
  file_authzed_api_v1_core,
  file_authzed_api_v1_debug,
  file_authzed_api_v1_permission_service,
  file_authzed_api_v1_schema_service,
  file_authzed_api_v1_watch_service,
  file_authzed_api_v1_experimental_service,
];

/** The server's way to register a service (server.ts `add`): guarded by the auth interceptor. */
export type AddService = <S extends GenServiceMethods>(
  service: GenService<S>,
  impl: ServiceImplementation<S>,
  codecs?: Readonly<Record<string, ServerCodec>>,
  toWireError?: (error: unknown, requestId: string) => WireError,
) => void;

/** The handlers given, and for every other method one that answers UNIMPLEMENTED. */
function withUnimplemented<S extends GenServiceMethods>(
  service: GenService<S>,
  given: Partial<ServiceImplementation<S>>,
): ServiceImplementation<S> {
  const out: Record<string, unknown> = { ...given };
  for (const m of service.methods) {
    if (typeof out[m.localName] === "function") continue;
    const method = `${service.typeName}/${m.name}`;
    out[m.localName] =
      m.methodKind === "server_streaming"
        ? // biome-ignore lint/correctness/useYield: a stream that fails before its first message
          async function* () {
            throw unimplemented(method);
          }
        : async () => {
            throw unimplemented(method);
          };
  }
  return out as ServiceImplementation<S>;
}

/** Adds the four authzed.api.v1 services to the server, each with SpiceDB's error shape. */
export function addAuthzedServices(add: AddService, deps: AuthzedDeps): void {
  // CheckPermission, the hot call, by latch.v1's hand codec; the rest by protobuf-es.
  const codecs: Readonly<Record<string, ServerCodec>> = { checkPermission: authzedCheckPermissionCodec };
  add(
    PermissionsService,
    withUnimplemented(PermissionsService, { ...decisionHandlers(deps), ...relationshipHandlers(deps) }),
    codecs,
    toAuthzedWireError,
  );
  add(SchemaService, withUnimplemented(SchemaService, schemaHandlers(deps)), {}, toAuthzedWireError);
  add(WatchService, withUnimplemented(WatchService, watchHandlers(deps)), {}, toAuthzedWireError);
  add(
    ExperimentalService,
    withUnimplemented(ExperimentalService, experimentalHandlers(deps)),
    {},
    toAuthzedWireError,
  );
}
