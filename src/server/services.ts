/**
 * What the server serves, apart from how: each service's descriptor with its handlers, built over
 * one backend (store, engine, decider). The gRPC server and the HTTP server (Connect) take the
 * same list, so a method is implemented once whatever the transport.
 */
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { ApprovalFlow } from "../approvals/index.js";
import type { Engine } from "../engine/index.js";
import { ExperimentalService } from "../gen/authzed/api/v1/experimental_service_pb.js";
import { PermissionsService } from "../gen/authzed/api/v1/permission_service_pb.js";
import { SchemaService as AuthzedSchemaService } from "../gen/authzed/api/v1/schema_service_pb.js";
import { WatchService } from "../gen/authzed/api/v1/watch_service_pb.js";
import { ApprovalService } from "../gen/latch/v1/approval_service_pb.js";
import { AuditService } from "../gen/latch/v1/audit_service_pb.js";
import { PermissionService } from "../gen/latch/v1/permission_service_pb.js";
import { PostureService } from "../gen/latch/v1/posture_service_pb.js";
import { RelationshipService } from "../gen/latch/v1/relationship_service_pb.js";
import { SchemaService } from "../gen/latch/v1/schema_service_pb.js";
import { SignalService } from "../gen/latch/v1/signal_service_pb.js";
import { createPermissionWatch, type Decider, type PermissionWatch } from "../service/index.js";
import { isSuspended, type Signals } from "../signals/index.js";
import type { Store } from "../store/index.js";
import { authzedCheckPermissionCodec } from "./authzed/check-permission-codec.js";
import { addAuthzedServices, toAuthzedWireError } from "./authzed/index.js";
import { checkBulkPermissionsCodec } from "./check-bulk-codec.js";
import { checkPermissionCodec } from "./check-permission-codec.js";
import type { WireError } from "./errors.js";
import type { ServiceImplementation } from "./grpc-adapter.js";
import type { ServerCodec } from "./grpc-definition.js";
import { approvalHandlers } from "./handlers-approvals.js";
import { auditHandlers } from "./handlers-audit.js";
import { permissionHandlers } from "./handlers-permission.js";
import { postureHandlers } from "./handlers-posture.js";
import { relationshipHandlers } from "./handlers-relationship.js";
import { schemaHandlers } from "./handlers-schema.js";
import { signalHandlers } from "./handlers-signals.js";
import type { ServerLimits } from "./limits.js";
import { postureReportCodec } from "./posture-codec.js";

/** What the handlers of one caller work on. */
export interface Backend {
  readonly store: Store;
  readonly engine: Engine;
  /** Where Check, CheckBulk and LookupResources are decided (the service layer's seam). */
  readonly decider: Decider;
  /** The approval flow behind ApprovalService (`openLatch().approvals`); without it, its calls are refused. */
  readonly approvals?: ApprovalFlow | undefined;
  /**
   * WatchPermissions' live sets (`openLatch().permissions`); when absent, one over `store` and
   * `decider` (which then also records the re-checks, if `decider` records decisions).
   */
  readonly permissions?: PermissionWatch | undefined;
  /** Security signals behind SignalService (`openLatch().signals`); without it, SendSignal is refused. */
  readonly signals?: Signals | undefined;
}

/** One service as served: its descriptor, its handlers and (gRPC only) its hand-written codecs. */
export interface ServedService<S extends GenServiceMethods = GenServiceMethods> {
  readonly service: GenService<S>;
  readonly impl: ServiceImplementation<S>;
  /** Used by grpc-js instead of protobuf-es's reflection for these methods (grpc-definition.ts). */
  readonly codecs?: Readonly<Record<string, ServerCodec>>;
  /** How a failure becomes a status when the service speaks another API's errors (authzed.api.v1). */
  readonly toWireError?: (error: unknown, requestId: string) => WireError;
}

/** What handlers need besides the backend: the same for every backend of a server. */
export interface ServiceSettings {
  readonly limits: ServerLimits;
  /** How often Watch and WatchDecisions poll the store when idle. */
  readonly watchPollMs: number;
  /** Aborted at shutdown so that endless streams end. */
  readonly shutdown: AbortSignal;
}

function served<S extends GenServiceMethods>(
  service: GenService<S>,
  impl: ServiceImplementation<S>,
  codecs?: Readonly<Record<string, ServerCodec>>,
  toWireError?: (error: unknown, requestId: string) => WireError,
): ServedService {
  return {
    service,
    impl,
    ...(codecs === undefined ? {} : { codecs }),
    ...(toWireError === undefined ? {} : { toWireError }),
  } as unknown as ServedService;
}

/** A service without its handlers: what a router needs to know (testing-mode.ts). */
export type ServiceShape = Omit<ServedService, "impl">;

const POSTURE_CODECS: Readonly<Record<string, ServerCodec>> = { report: postureReportCodec };

const CHECK_CODECS: Readonly<Record<string, ServerCodec>> = {
  checkPermission: checkPermissionCodec,
  checkBulkPermissions: checkBulkPermissionsCodec,
};

/** Latch's own services (latch.v1), in the order latchServices gives them. */
const LATCH_SERVICES: readonly ServiceShape[] = [
  { service: PermissionService, codecs: CHECK_CODECS },
  { service: RelationshipService },
  { service: SchemaService },
  { service: AuditService },
  { service: ApprovalService },
  { service: PostureService, codecs: POSTURE_CODECS },
  { service: SignalService },
] as unknown as ServiceShape[];

/** Latch's own services (latch.v1) over one backend. */
function latchServices(backend: Backend, settings: ServiceSettings): ServedService[] {
  const { store, engine, decider, approvals, signals } = backend;
  const { limits, watchPollMs, shutdown } = settings;
  const permissions =
    backend.permissions ??
    createPermissionWatch({ store, decider, pollMs: watchPollMs, maxBulkItems: limits.maxBulkItems });
  return [
    served(
      PermissionService,
      permissionHandlers(engine, limits, decider, { permissions, shutdown }),
      CHECK_CODECS,
    ),
    served(RelationshipService, relationshipHandlers({ store, limits, watchPollMs, shutdown })),
    served(SchemaService, schemaHandlers(store, limits)),
    served(AuditService, auditHandlers({ store, watchPollMs, shutdown })),
    served(ApprovalService, approvalHandlers({ approvals, shutdown })),
    // An owner suspended by a signal leaves its agents orphaned (posture's `orphan-identity`).
    served(
      PostureService,
      postureHandlers({
        store,
        engine,
        ...(signals === undefined ? {} : { isSuspended: (subject) => isSuspended(signals, subject) }),
      }),
      POSTURE_CODECS,
    ),
    served(SignalService, signalHandlers({ store, signals })),
  ];
}

/** SpiceDB's services (authzed.api.v1) over one backend, as authzed/index.ts registers them. */
function authzedServices(backend: Backend, settings: ServiceSettings): ServedService[] {
  const out: ServedService[] = [];
  addAuthzedServices(
    (service, impl, codecs, toWireError) => out.push(served(service, impl, codecs, toWireError)),
    {
      ...backend,
      ...settings,
    },
  );
  return out;
}

/**
 * The authzed.api.v1 services without handlers, for the testing mode's routers; a test keeps it
 * equal to what authzedServices gives.
 */
const AUTHZED_SHAPES: readonly ServiceShape[] = [
  { service: PermissionsService, codecs: { checkPermission: authzedCheckPermissionCodec } },
  { service: AuthzedSchemaService, codecs: {} },
  { service: WatchService, codecs: {} },
  { service: ExperimentalService, codecs: {} },
].map((shape) => ({ ...shape, toWireError: toAuthzedWireError }) as unknown as ServiceShape);

/** Every service the server serves, over one backend: latch.v1, then authzed.api.v1. */
export function servedServices(backend: Backend, settings: ServiceSettings): ServedService[] {
  return [...latchServices(backend, settings), ...authzedServices(backend, settings)];
}

/** The shapes of servedServices, in its order. */
export const SERVED_SHAPES: readonly ServiceShape[] = [...LATCH_SERVICES, ...AUTHZED_SHAPES];
