/**
 * Health checking and reflection, so that generic tools (grpcurl, grpc_health_probe, grpcui) can
 * find and call the API. Both are served without auth: they reveal nothing that the public proto
 * files do not.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import {
  FileDescriptorSetSchema,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
} from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { file_latch_v1_audit_service } from "../gen/latch/v1/audit_service_pb.js";
import { file_latch_v1_core } from "../gen/latch/v1/core_pb.js";
import { file_latch_v1_permission_service } from "../gen/latch/v1/permission_service_pb.js";
import { file_latch_v1_relationship_service } from "../gen/latch/v1/relationship_service_pb.js";
import { file_latch_v1_schema_service } from "../gen/latch/v1/schema_service_pb.js";
import { AUTHZED_FILES, AUTHZED_SERVICE_NAMES } from "./authzed/index.js";

export const SERVICE_NAMES = [
  "latch.v1.PermissionService",
  "latch.v1.RelationshipService",
  "latch.v1.SchemaService",
  "latch.v1.AuditService",
  ...AUTHZED_SERVICE_NAMES,
] as const;

const FILES: readonly GenFile[] = [
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_latch_v1_core,
  file_latch_v1_permission_service,
  file_latch_v1_relationship_service,
  file_latch_v1_schema_service,
  file_latch_v1_audit_service,
  // SpiceDB's API beside Latch's own; its list repeats struct and timestamp, which are kept once.
  ...AUTHZED_FILES,
].filter((file, i, all) => all.indexOf(file) === i);

/** Reflection reads descriptors built from the generated code, so no .proto file is needed at run time. */
export function addReflection(server: Server): void {
  const set = create(FileDescriptorSetSchema, { file: FILES.map((f) => f.proto) });
  const definition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  new ReflectionService(definition).addToServer(server);
}

export function addHealth(server: Server): HealthImplementation {
  const health = new HealthImplementation({
    "": "SERVING",
    ...Object.fromEntries(SERVICE_NAMES.map((name) => [name, "SERVING"])),
  });
  health.addToServer(server);
  return health;
}
