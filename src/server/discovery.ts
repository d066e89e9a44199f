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
import {
  type Server,
  type ServerDuplexStream,
  type ServiceDefinition,
  status,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { file_latch_v1_approval_service } from "../gen/latch/v1/approval_service_pb.js";
import { file_latch_v1_audit_service } from "../gen/latch/v1/audit_service_pb.js";
import { file_latch_v1_core } from "../gen/latch/v1/core_pb.js";
import { file_latch_v1_permission_service } from "../gen/latch/v1/permission_service_pb.js";
import { file_latch_v1_posture_service } from "../gen/latch/v1/posture_service_pb.js";
import { file_latch_v1_relationship_service } from "../gen/latch/v1/relationship_service_pb.js";
import { file_latch_v1_schema_service } from "../gen/latch/v1/schema_service_pb.js";
import { file_latch_v1_signal_service } from "../gen/latch/v1/signal_service_pb.js";
import { AUTHZED_FILES, AUTHZED_SERVICE_NAMES } from "./authzed/index.js";

export const SERVICE_NAMES = [
  "latch.v1.PermissionService",
  "latch.v1.RelationshipService",
  "latch.v1.SchemaService",
  "latch.v1.AuditService",
  "latch.v1.ApprovalService",
  "latch.v1.PostureService",
  "latch.v1.SignalService",
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
  file_latch_v1_approval_service,
  file_latch_v1_posture_service,
  file_latch_v1_signal_service,
  // SpiceDB's API beside Latch's own; its list repeats struct and timestamp, which are kept once.
  ...AUTHZED_FILES,
].filter((file, i, all) => all.indexOf(file) === i);

type Handlers = UntypedServiceImplementation;

/** The services and handlers a ReflectionService adds, caught instead of added. */
function servicesOf(reflection: ReflectionService): { definition: ServiceDefinition; handlers: Handlers }[] {
  const added: { definition: ServiceDefinition; handlers: Handlers }[] = [];
  reflection.addToServer({
    addService: (definition: ServiceDefinition, handlers: Handlers) => added.push({ definition, handlers }),
  } as unknown as Server);
  return added;
}

/**
 * Reflection reads descriptors built from the generated code, so no .proto file is needed at run
 * time. It indexes them on its first call, not when the server starts: with SpiceDB's API beside
 * Latch's that indexing takes 100-300 ms here, which every start (and every test's server) would
 * pay for a service few callers use.
 */
export function addReflection(server: Server): void {
  let real: ReturnType<typeof servicesOf> | undefined;
  const load = () => {
    if (real !== undefined) return real;
    const set = create(FileDescriptorSetSchema, { file: FILES.map((f) => f.proto) });
    const definition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
    real = servicesOf(new ReflectionService(definition));
    return real;
  };
  // The same services (v1 and v1alpha) as an empty ReflectionService adds, each handler passing
  // its call to the indexed one's.
  for (const [i, { definition, handlers }] of servicesOf(new ReflectionService({})).entries()) {
    const lazy: Handlers = {};
    for (const name of Object.keys(handlers)) {
      // Reflection's only method is a bidirectional stream: one argument, the call.
      lazy[name] = ((call: ServerDuplexStream<unknown, unknown>) => {
        let handler: (call: ServerDuplexStream<unknown, unknown>) => void;
        try {
          handler = load()[i]!.handlers[name] as typeof handler;
        } catch {
          // Never a crash for a request: the descriptors are built from generated code, so this is
          // a bug of ours, said as one.
          call.emit("error", { code: status.INTERNAL, details: "reflection could not index the API" });
          return;
        }
        handler(call);
      }) as UntypedHandleCall;
    }
    server.addService(definition, lazy);
  }
}

export function addHealth(server: Server): HealthImplementation {
  const health = new HealthImplementation({
    "": "SERVING",
    ...Object.fromEntries(SERVICE_NAMES.map((name) => [name, "SERVING"])),
  });
  health.addToServer(server);
  return health;
}
