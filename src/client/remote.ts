/** `createClient`: the LatchClient over gRPC. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ChannelCredentials, Client, status as grpcStatus } from "@grpc/grpc-js";
import { LatchError, type ObjectRef, type Relationship, type SubjectRef } from "../core/index.js";
import { AuditService } from "../gen/latch/v1/audit_service_pb.js";
import {
  type Relationship as RelationshipMessage,
  RelationshipUpdate_Operation,
  type SubjectReference,
} from "../gen/latch/v1/core_pb.js";
import {
  type CheckBulkPermissionsResponse,
  type CheckPermissionRequestSchema,
  LookupPermissionship,
  PermissionService,
  type ResolvedSubject,
  SubjectGrants,
  WatchPermissionsResponse_Kind,
} from "../gen/latch/v1/permission_service_pb.js";
import { PostureService } from "../gen/latch/v1/posture_service_pb.js";
import { RelationshipService } from "../gen/latch/v1/relationship_service_pb.js";
import { SchemaService } from "../gen/latch/v1/schema_service_pb.js";
import type { PostureReport } from "../posture/index.js";
// The converters' own files rather than server/index.js: the client needs the wire conversions,
// not the server (its logger, metrics, reflection and health service).
import {
  consistencyToProto,
  filterToProto,
  objectRefToProto,
  preconditionToProto,
  relationshipToProto,
  subjectRefToProto,
  updateToProto,
} from "../server/convert.js";
import {
  decisionFilterToProto,
  decisionFromProto,
  verifyReportFromProto,
} from "../server/convert-decisions.js";
import { expandFromProto, explainFromProto, permissionshipFromProto } from "../server/convert-results.js";
import { useNodeTextEncoding } from "../server/text-encoding.js";
import { type BatchOptions, createCheckBatcher } from "./check-batcher.js";
import { RemoteError } from "./errors.js";
import { createH2Transport, type H2TransportOptions } from "./h2-transport.js";
import { createHttp2Transport } from "./http2-transport.js";
import { defined, toObject, toRelationship, toSubject } from "./inputs.js";
import { remoteApprovalCalls } from "./remote-approvals.js";
import { remoteSignalCalls } from "./remote-signals.js";
import { createTransport, type Transport, type UnaryTransport } from "./transport.js";
import type {
  CheckBulkAnswer,
  CheckBulkParams,
  CheckParams,
  DelegationParams,
  LatchClient,
  PermissionChange,
  RelationshipInput,
  SubjectExclusion,
} from "./types.js";

export interface ClientOptions {
  /** `host:port` */
  readonly address: string;
  readonly token?: string;
  /** `true` for TLS with the system roots, or explicit PEM material. Plaintext when absent. */
  readonly tls?:
    | boolean
    | { readonly rootCerts?: Buffer; readonly privateKey?: Buffer; readonly certChain?: Buffer };
  /** Default deadline of unary calls in ms (default 30 s). */
  readonly timeoutMs?: number;
  /** Attempts for idempotent calls failing with UNAVAILABLE (default 3). */
  readonly maxAttempts?: number;
  /** Largest response accepted, in bytes (default 64 MiB). */
  readonly maxMessageBytes?: number;
  /**
   * How calls travel: `"h2"` (the default) over HTTP/2 framed by the client itself on one socket
   * (h2-transport.ts; server streams such as lookups, reads, watch and export too, stream-call.ts),
   * `"http2"` the unary calls over node:http2 (http2-transport.ts), `"grpc-js"` everything over
   * grpc-js. What the chosen transport does not carry (ImportRelationships always; server streams
   * on `"http2"`) uses grpc-js.
   */
  readonly transport?: "h2" | "http2" | "grpc-js";
  /**
   * Most HTTP/2 connections the `"h2"` and `"http2"` transports spread calls over (default 1): the next one is
   * opened when every open one has `streamsPerConnection` calls in flight.
   */
  readonly connections?: number;
  /** Calls in flight that make a connection saturated, `"h2"` and `"http2"` transports (default 64). */
  readonly streamsPerConnection?: number;
  /**
   * The last stream id a `"h2"` connection uses before the pool opens the next one (default
   * 2^31-1, HTTP/2's limit; set low only to exercise that path in tests).
   */
  readonly streamIdLimit?: number;
  /** Keepalive ping interval while calls are in flight, `"h2"` and `"http2"` transports (ms, default 10 s). */
  readonly keepaliveMs?: number;
  /** Unanswered ping time after which the connection is dropped (ms, default 5 s). */
  readonly keepaliveTimeoutMs?: number;
  /**
   * Automatic batching of concurrent `check()` calls into CheckBulk (check-batcher.ts): on by
   * default, gathering the checks of one event-loop turn; `false` sends every check alone.
   */
  readonly batch?: BatchOptions | false;
}

function relationshipFromWire(msg: RelationshipMessage | undefined): Relationship {
  const r = msg!;
  const o = r.subject?.object;
  const rel = r.subject?.optionalRelation ?? "";
  const caveat = r.optionalCaveat;
  return {
    resource: { type: r.resource?.objectType ?? "", id: r.resource?.objectId ?? "" },
    relation: r.relation,
    subject: { type: o?.objectType ?? "", id: o?.objectId ?? "", ...(rel === "" ? {} : { relation: rel }) },
    ...(caveat === undefined
      ? {}
      : {
          caveat: {
            name: caveat.caveatName,
            ...(caveat.context === undefined || Object.keys(caveat.context).length === 0
              ? {}
              : { context: caveat.context }),
          },
        }),
    ...(r.optionalExpiresAt === undefined ? {} : { expiration: timestampDate(r.optionalExpiresAt) }),
  };
}

/**
 * The client's own deadline timer may fire before the server's trailers arrive: the cursor after
 * the last item received is the exact place to resume either way.
 */
function withResumeCursor(error: unknown, cursor: string | undefined): unknown {
  if (!(error instanceof LatchError) || error.kind !== "deadline-exceeded") return error;
  const details = { ...error.details };
  if (cursor === undefined) delete details.cursor;
  else details.cursor = cursor;
  const status = error instanceof RemoteError ? error.status : grpcStatus.DEADLINE_EXCEEDED;
  return new RemoteError(error.code, error.kind, error.message, status, details);
}

function lookupState(p: LookupPermissionship): "ALLOWED" | "CONDITIONAL" {
  return p === LookupPermissionship.CONDITIONAL_PERMISSION ? "CONDITIONAL" : "ALLOWED";
}

/** Anything but CONDITIONAL_PERMISSION (an unset field too) reads as excluded for sure. */
function exclusionState(s: ResolvedSubject): Pick<SubjectExclusion, "state" | "missing"> {
  return s.permissionship === LookupPermissionship.CONDITIONAL_PERMISSION
    ? { state: "CONDITIONAL", missing: s.partialCaveatInfo?.missingRequiredContext ?? [] }
    : { state: "EXCLUDED", missing: [] };
}

async function* batches<T>(source: AsyncIterable<T> | Iterable<T>, size: number): AsyncIterable<T[]> {
  let batch: T[] = [];
  for await (const item of source) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** The most a limit's field holds: every limit travels in a uint32. */
const MAX_WIRE_LIMIT = 2 ** 32 - 1;

/**
 * A limit for its uint32 field, where 0 means "no limit" (proto3 sends no absent number). Refused
 * as the embedded client refuses it, with its code (lookups: the engine's; reads and deletes: the
 * store's), and above what the field holds rather than by protobuf's encoder (a plain Error).
 * `least` 1 where 0 is refused (a delete); else a 0 never reaches the wire: the caller answers it
 * itself, with nothing, as the embedded client does.
 */
function wireLimit(
  limit: number | undefined,
  code: "lookup/invalid-limit" | "store/invalid-limit",
  least: 0 | 1 = 0,
): number {
  if (limit === undefined) return 0;
  if (!Number.isInteger(limit) || limit < least || limit > MAX_WIRE_LIMIT) {
    throw new LatchError(
      code,
      "invalid-argument",
      `limit must be an integer from ${least} to ${MAX_WIRE_LIMIT}, got ${limit}`,
      { field: "limit", limit },
    );
  }
  return limit;
}

/**
 * proto3 sends an empty actor token as none at all, and the server would then take the request's
 * claimed chain unverified. The embedded client's verifier refuses it: refuse it here the same way.
 */
function refuseEmptyActorToken(token: string | undefined): void {
  if (token === "") {
    throw new LatchError(
      "delegation/invalid-actor-token",
      "unauthenticated",
      "actor token: empty; leave actorToken out to send none",
      { field: "actor_token" },
    );
  }
}

const P = PermissionService.method;
const R = RelationshipService.method;
const S = SchemaService.method;

// Init shapes, not messages: the Check codec (check-codec.ts) writes them as they are, and
// protobuf-es's `create` (the other paths) builds the messages from them once.
const objectInit = (ref: ObjectRef) => ({ objectType: ref.type, objectId: ref.id });
const subjectInit = (ref: SubjectRef) => ({ object: objectInit(ref), optionalRelation: ref.relation ?? "" });

const contextual = (list: readonly RelationshipInput[] | undefined) =>
  (list ?? []).map((r) => relationshipToProto(toRelationship(r)));

type PermissionCalls = Pick<
  LatchClient,
  "check" | "checkBulk" | "expand" | "lookupResources" | "lookupSubjects" | "watchPermissions"
>;
type RelationshipCalls = Pick<
  LatchClient,
  | "writeRelationships"
  | "deleteRelationships"
  | "readRelationships"
  | "watch"
  | "importRelationships"
  | "exportRelationships"
>;
type SchemaCalls = Pick<LatchClient, "writeSchema" | "readSchema">;
type AuditCalls = Pick<LatchClient, "queryDecisions" | "watchDecisions" | "verifyDecisions">;

type CheckRequestInit = { -readonly [K in keyof CheckInit]: CheckInit[K] };
type CheckInit = Exclude<MessageInitShape<typeof CheckPermissionRequestSchema>, { $typeName: string }>;

/**
 * A check's CheckPermission request, field by field: built for every check sent alone, where a
 * `defined({...})` over every field (an Object.entries pass with its arrays, and another for the
 * delegation fields) cost about 2,500 of the 68,000 instructions of a whole sequential check
 * (callgrind, bench/client-instructions.ts seq).
 */
function checkRequest(params: CheckParams): CheckRequestInit {
  refuseEmptyActorToken(params.actorToken);
  const request: CheckRequestInit = {
    resource: objectInit(toObject(params.resource)),
    subject: subjectInit(toSubject(params.subject)),
    withTracing: params.explain ?? false,
    contextualRelationships: contextual(params.contextualRelationships),
  };
  if (params.permission !== undefined) request.permission = params.permission;
  if (params.context !== undefined) request.context = params.context as never;
  const consistency = consistencyToProto(params.consistency);
  if (consistency !== undefined) request.consistency = consistency;
  if (params.onBehalfOf !== undefined || params.subjectGrants !== undefined)
    Object.assign(request, delegationToProto(params));
  if (params.actorToken !== undefined) request.actorToken = params.actorToken;
  if (params.consumeApproval !== undefined) request.consumeApproval = params.consumeApproval;
  return request;
}

function delegationToProto(params: DelegationParams): {
  onBehalfOf?: SubjectReference[];
  subjectGrants?: SubjectGrants;
} {
  const grants = params.subjectGrants;
  return defined({
    onBehalfOf: params.onBehalfOf?.map((p) => subjectRefToProto(toSubject(p))),
    subjectGrants:
      grants === undefined
        ? undefined
        : grants === "not-required"
          ? SubjectGrants.NOT_REQUIRED
          : SubjectGrants.REQUIRED,
  });
}

/** One item of a CheckBulk request; field by field, not by `defined()`: once per item of every bulk. */
function bulkItemInit(item: CheckBulkParams["items"][number]) {
  const init: {
    resource: ReturnType<typeof objectInit>;
    permission: string;
    subject: ReturnType<typeof subjectInit>;
    context?: never;
    onBehalfOf?: SubjectReference[];
    subjectGrants?: SubjectGrants;
    consumeApproval?: boolean;
  } = {
    resource: objectInit(toObject(item.resource)),
    permission: item.permission,
    subject: subjectInit(toSubject(item.subject)),
  };
  if (item.context !== undefined) init.context = item.context as never;
  if (item.onBehalfOf !== undefined || item.subjectGrants !== undefined)
    Object.assign(init, delegationToProto(item));
  if (item.consumeApproval !== undefined) init.consumeApproval = item.consumeApproval;
  return init;
}

/** One answer of a CheckBulk response, without spreads (once per item). */
function bulkResultOf(
  pair: CheckBulkPermissionsResponse["pairs"][number],
): CheckBulkAnswer["results"][number] {
  const { response } = pair;
  if (response.case !== "item")
    return {
      ok: false,
      error: {
        code: response.value?.errorCode ?? "internal",
        message: response.value?.message ?? "no answer",
      },
    };
  const value = response.value;
  const result: { -readonly [K in keyof BulkOk]: BulkOk[K] } = {
    ok: true,
    state: permissionshipFromProto(value.permissionship),
    missing: value.partialCaveatInfo?.missingRequiredContext ?? [],
  };
  if (value.approvalRule !== "") result.approvalRule = value.approvalRule;
  if (value.approvalId !== "") result.approvalId = value.approvalId;
  return result;
}

type BulkOk = Extract<CheckBulkAnswer["results"][number], { ok: true }>;

const CHANGE_KINDS: Readonly<Record<number, PermissionChange["kind"]>> = {
  [WatchPermissionsResponse_Kind.ADDED]: "ADDED",
  [WatchPermissionsResponse_Kind.CONDITIONAL]: "CONDITIONAL",
  [WatchPermissionsResponse_Kind.REMOVED]: "REMOVED",
  [WatchPermissionsResponse_Kind.SYNCED]: "SYNCED",
  [WatchPermissionsResponse_Kind.RESYNC]: "RESYNC",
};

/** LookupResources and LookupSubjects: streams that resume from the last cursor they gave. */
function lookupCalls(t: Transport): Pick<PermissionCalls, "lookupResources" | "lookupSubjects"> {
  return {
    async *lookupResources(params, opts) {
      refuseEmptyActorToken(params.actorToken);
      const limit = wireLimit(params.limit, "lookup/invalid-limit");
      if (params.limit === 0) return;
      const stream = t.serverStream(
        P.lookupResources,
        defined({
          resourceObjectType: params.resourceType,
          permission: params.permission,
          subject: subjectRefToProto(toSubject(params.subject)),
          context: params.context as never,
          consistency: consistencyToProto(params.consistency),
          optionalLimit: limit,
          optionalCursor: params.cursor === undefined ? undefined : { token: params.cursor },
          ...delegationToProto(params),
          actorToken: params.actorToken,
        }),
        opts,
        true,
      );
      let last = params.cursor;
      try {
        for await (const r of stream) {
          const cursor = r.afterResultCursor?.token ?? "";
          yield {
            resourceId: r.resourceObjectId,
            state: lookupState(r.permissionship),
            missing: r.partialCaveatInfo?.missingRequiredContext ?? [],
            cursor,
            token: r.lookedUpAt?.token ?? "",
          };
          last = cursor;
        }
      } catch (error) {
        throw withResumeCursor(error, last);
      }
    },

    async *lookupSubjects(params, opts) {
      const limit = wireLimit(params.limit, "lookup/invalid-limit");
      if (params.limit === 0) return;
      const stream = t.serverStream(
        P.lookupSubjects,
        defined({
          resource: objectRefToProto(toObject(params.resource)),
          permission: params.permission,
          subjectObjectType: params.subjectType,
          optionalSubjectRelation: params.subjectRelation ?? "",
          context: params.context as never,
          consistency: consistencyToProto(params.consistency),
          optionalConcreteLimit: limit,
          optionalCursor: params.cursor === undefined ? undefined : { token: params.cursor },
        }),
        opts,
        true,
      );
      const relation = params.subjectRelation;
      const ref = (id: string): SubjectRef => ({
        type: params.subjectType,
        id,
        ...(relation === undefined || relation === "" || relation === "..." || id === "*"
          ? {}
          : { relation }),
      });
      let last = params.cursor;
      try {
        for await (const r of stream) {
          const cursor = r.afterResultCursor?.token ?? "";
          const id = r.subject?.subjectObjectId ?? "";
          yield {
            subjectId: id,
            subject: ref(id),
            ...(r.excludedSubjects.length === 0
              ? {}
              : {
                  excluded: r.excludedSubjects.map(
                    (s): SubjectExclusion => ({ ...ref(s.subjectObjectId), ...exclusionState(s) }),
                  ),
                }),
            state: lookupState(r.subject?.permissionship ?? LookupPermissionship.HAS_PERMISSION),
            missing: r.subject?.partialCaveatInfo?.missingRequiredContext ?? [],
            cursor,
            token: r.lookedUpAt?.token ?? "",
          };
          last = cursor;
        }
      } catch (error) {
        throw withResumeCursor(error, last);
      }
    },
  };
}

function permissionCalls(t: Transport): PermissionCalls {
  return {
    async *watchPermissions(params, opts) {
      const stream = t.serverStream(
        P.watchPermissions,
        defined({
          resourceObjectType: params.resourceType,
          permission: params.permission,
          subject: subjectRefToProto(toSubject(params.subject)),
          onBehalfOf: params.onBehalfOf?.map((p) => subjectRefToProto(toSubject(p))),
          context: params.context as never,
          checkpoints: params.checkpoints,
          optionalStartCursor: params.after === undefined ? undefined : { token: params.after },
        }),
        opts,
        false,
      );
      for await (const r of stream) {
        const kind = CHANGE_KINDS[r.kind];
        // A kind this client does not know would leave its set wrong: refuse rather than guess.
        if (kind === undefined) {
          throw new LatchError(
            "watch/unknown-event",
            "internal",
            `WatchPermissions sent event kind ${r.kind}, unknown to this client: upgrade the client`,
            { kind: r.kind },
          );
        }
        yield {
          kind,
          resourceId: r.resourceObjectId,
          missing: r.partialCaveatInfo?.missingRequiredContext ?? [],
          token: r.changedAt?.token ?? "",
        };
      }
    },

    async check(params, opts) {
      const res = await t.unary(P.checkPermission, checkRequest(params), opts, true);
      const state = permissionshipFromProto(res.permissionship);
      const explain = res.debugTrace === undefined ? undefined : explainFromProto(res.debugTrace);
      return {
        state,
        ...(res.approvalRule === "" ? {} : { approvalRule: res.approvalRule }),
        ...(res.approvalId === "" ? {} : { approvalId: res.approvalId }),
        allowed: state === "ALLOWED",
        missing: res.partialCaveatInfo?.missingRequiredContext ?? [],
        token: res.checkedAt?.token ?? "",
        ...(explain === undefined ? {} : { explain }),
      };
    },

    async checkBulk(params, opts) {
      refuseEmptyActorToken(params.actorToken);
      const res = await t.unary(
        P.checkBulkPermissions,
        defined({
          items: params.items.map(bulkItemInit),
          consistency: consistencyToProto(params.consistency),
          contextualRelationships: contextual(params.contextualRelationships),
          actorToken: params.actorToken,
        }),
        opts,
        true,
      );
      return {
        token: res.checkedAt?.token ?? "",
        results: res.pairs.map(bulkResultOf),
      };
    },

    async expand(params, opts) {
      const res = await t.unary(
        P.expandPermissionTree,
        defined({
          resource: objectRefToProto(toObject(params.resource)),
          permission: params.permission,
          consistency: consistencyToProto(params.consistency),
        }),
        opts,
        true,
      );
      return { tree: expandFromProto(res.treeRoot!), token: res.expandedAt?.token ?? "" };
    },

    ...lookupCalls(t),
  };
}

function relationshipCalls(t: Transport): RelationshipCalls {
  return {
    async writeRelationships(params, opts) {
      const res = await t.unary(
        R.writeRelationships,
        {
          updates: params.updates.map((u) =>
            updateToProto({ operation: u.operation, relationship: toRelationship(u.relationship) }),
          ),
          optionalPreconditions: (params.preconditions ?? []).map(preconditionToProto),
        },
        opts,
        false,
      );
      return { token: res.writtenAt?.token ?? "" };
    },

    async deleteRelationships(params, opts) {
      // 0 is "no limit" on the wire: a limit of 0 would delete every match. The store refuses it.
      const limit = wireLimit(params.limit, "store/invalid-limit", 1);
      const res = await t.unary(
        R.deleteRelationships,
        {
          relationshipFilter: filterToProto(params.filter),
          optionalPreconditions: (params.preconditions ?? []).map(preconditionToProto),
          optionalLimit: limit,
        },
        opts,
        false,
      );
      return { token: res.deletedAt?.token ?? "", deleted: Number(res.relationshipsDeletedCount) };
    },

    async *readRelationships(params, opts) {
      const limit = wireLimit(params.limit, "store/invalid-limit");
      if (params.limit === 0) return;
      const stream = t.serverStream(
        R.readRelationships,
        defined({
          relationshipFilter: filterToProto(params.filter),
          consistency: consistencyToProto(params.consistency),
          optionalLimit: limit,
          optionalCursor: params.cursor === undefined ? undefined : { token: params.cursor },
        }),
        opts,
        true,
      );
      for await (const r of stream) {
        yield {
          relationship: relationshipFromWire(r.relationship),
          token: r.readAt?.token ?? "",
          ...(r.afterResultCursor === undefined ? {} : { cursor: r.afterResultCursor.token }),
        };
      }
    },

    async *watch(params, opts) {
      const stream = t.serverStream(
        R.watch,
        defined({
          optionalObjectTypes: [...(params?.objectTypes ?? [])],
          optionalStartCursor: params?.after === undefined ? undefined : { token: params.after },
        }),
        opts,
        false,
      );
      for await (const r of stream) {
        yield {
          token: r.changesThrough?.token ?? "",
          schemaUpdated: r.schemaUpdated,
          updates: r.updates.map((u) => ({
            operation:
              u.operation === RelationshipUpdate_Operation.DELETE ? ("delete" as const) : ("touch" as const),
            relationship: relationshipFromWire(u.relationship),
          })),
        };
      }
    },

    async importRelationships(relationships, opts) {
      const size = opts?.batchSize ?? 1000;
      async function* requests() {
        for await (const batch of batches(relationships, size)) {
          yield { relationships: batch.map((r) => relationshipToProto(toRelationship(r))) };
        }
      }
      const res = await t.clientStream(R.importRelationships, requests(), opts);
      return { count: Number(res.numLoaded), token: res.writtenAt?.token ?? "" };
    },

    async *exportRelationships(params, opts) {
      const stream = t.serverStream(
        R.exportRelationships,
        defined({ consistency: consistencyToProto(params?.consistency) }),
        opts,
        true,
      );
      for await (const r of stream) {
        yield { token: r.readAt?.token ?? "", relationships: r.relationships.map(relationshipFromWire) };
      }
    },
  };
}

function schemaCalls(t: Transport): SchemaCalls {
  return {
    async writeSchema(schema, opts) {
      const res = await t.unary(S.writeSchema, { schema }, opts, false);
      return { token: res.writtenAt?.token ?? "" };
    },

    async readSchema(opts) {
      const res = await t.unary(S.readSchema, {}, opts, true);
      return { schema: res.schemaText, token: res.readAt?.token ?? "" };
    },
  };
}

const A = AuditService.method;

function auditCalls(t: Transport): AuditCalls {
  return {
    async queryDecisions(params, opts) {
      const res = await t.unary(
        A.queryDecisions,
        {
          filter: decisionFilterToProto(params ?? {}),
          pageSize: params?.pageSize ?? 0,
          cursor: params?.cursor ?? "",
        },
        opts,
        true,
      );
      return {
        decisions: res.decisions.map(decisionFromProto),
        ...(res.nextCursor === "" ? {} : { cursor: res.nextCursor }),
      };
    },

    async *watchDecisions(params, opts) {
      const stream = t.serverStream(
        A.watchDecisions,
        { filter: decisionFilterToProto(params ?? {}), after: params?.after ?? "" },
        opts,
        false,
      );
      for await (const r of stream) {
        if (r.decision !== undefined) yield { decision: decisionFromProto(r.decision), cursor: r.cursor };
      }
    },

    async verifyDecisions(opts) {
      return verifyReportFromProto(await t.unary(A.verifyDecisions, {}, opts, true));
    },
  };
}

function postureCalls(t: Transport): Pick<LatchClient, "postureReport"> {
  return {
    async postureReport(params, opts) {
      const res = await t.unary(
        PostureService.method.report,
        { config: params?.config ?? "", atRevision: params?.atRevision ?? "", save: params?.save ?? false },
        opts,
        params?.save !== true,
      );
      return JSON.parse(res.reportJson) as PostureReport;
    },
  };
}

export function createClient(options: ClientOptions): LatchClient {
  useNodeTextEncoding();
  const tls = options.tls;
  const credentials =
    tls === undefined || tls === false
      ? ChannelCredentials.createInsecure()
      : tls === true
        ? ChannelCredentials.createSsl()
        : ChannelCredentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null);
  const channel = new Client(options.address, credentials, {
    "grpc.max_receive_message_length": options.maxMessageBytes ?? 64 * 1024 * 1024,
    "grpc.max_send_message_length": options.maxMessageBytes ?? 64 * 1024 * 1024,
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxAttempts = options.maxAttempts ?? 3;
  const grpc = createTransport(channel, {
    ...(options.token === undefined ? {} : { token: options.token }),
    timeoutMs,
    maxAttempts,
  });
  const t: Transport =
    options.transport === "grpc-js" ? grpc : withLeanUnary(grpc, options, timeoutMs, maxAttempts);
  const permission = permissionCalls(t);
  const batcher =
    options.batch === false ? undefined : createCheckBatcher({ ...permission, timeoutMs }, options.batch);

  return {
    ...permission,
    ...(batcher === undefined ? {} : { check: (params, opts) => batcher.check(params, opts) }),
    ...relationshipCalls(t),
    ...schemaCalls(t),
    ...auditCalls(t),
    ...postureCalls(t),
    ...remoteApprovalCalls(t),
    ...remoteSignalCalls(t),
    async close() {
      t.close();
    },
  };
}

/** The grpc-js transport with its unary calls sent over our own HTTP/2 framing or node:http2 instead. */
function withLeanUnary(
  grpc: Transport,
  options: ClientOptions,
  timeoutMs: number,
  maxAttempts: number,
): Transport {
  const tls = options.tls;
  const makeUnary: (o: H2TransportOptions) => UnaryTransport & Partial<Pick<Transport, "serverStream">> =
    options.transport === "http2" ? createHttp2Transport : createH2Transport;
  const http2 = makeUnary({
    address: options.address,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(tls === undefined || tls === false
      ? {}
      : {
          tls: tls === true ? {} : defined({ ca: tls.rootCerts, key: tls.privateKey, cert: tls.certChain }),
        }),
    timeoutMs,
    maxAttempts,
    maxMessageBytes: options.maxMessageBytes ?? 64 * 1024 * 1024,
    ...defined({
      connections: options.connections,
      streamsPerConnection: options.streamsPerConnection,
      streamIdLimit: options.streamIdLimit,
      keepaliveMs: options.keepaliveMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs,
    }),
  });
  return {
    unary: (method, request, opts, idempotent) => http2.unary(method, request, opts, idempotent),
    serverStream: (method, request, opts, idempotent) =>
      // Server streams go over the h2 framing too (stream-call.ts); node:http2 has none, so on the
      // "http2" transport they stay on grpc-js, as does ImportRelationships (a client stream).
      http2.serverStream !== undefined
        ? http2.serverStream(method, request, opts, idempotent)
        : grpc.serverStream(method, request, opts, idempotent),
    clientStream: (method, requests, opts) => grpc.clientStream(method, requests, opts),
    close() {
      http2.close();
      grpc.close();
    },
  };
}
