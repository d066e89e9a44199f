/** SchemaService: ReadSchema, WriteSchema, ReflectSchema, ComputablePermissions, DependentRelations, DiffSchema. */
import type { SchemaService } from "../../gen/authzed/api/v1/schema_service_pb.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { AuthzedDeps } from "./deps.js";

type Methods = (typeof SchemaService)["method"];

export function schemaHandlers(_deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  return {};
}
