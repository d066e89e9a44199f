/**
 * `createEmbedded`: the LatchClient in process, on a SQLite database, with no network. The same
 * validation and the same answers as the server; errors are the same LatchErrors (by `kind`).
 */
import type { AuditOptions, AuditRecorder } from "../audit/index.js";
import type { ObjectRef, Relationship, SubjectRef } from "../core/index.js";
import { LatchError } from "../core/index.js";
import type { Delegated, Engine, EngineOptions } from "../engine/index.js";
import { type OpenOptions, openLatch } from "../open/index.js";
import { createPostureReport } from "../posture/index.js";
import {
  checkChainLength,
  checkObjectRef,
  checkSubjectRef,
  DEFAULT_SERVICE_LIMITS,
  type Decider,
  type Decorator,
  exportBatches,
  type PermissionWatch,
  permissionName,
  queryDecisions,
  readRelationshipPages,
  readRevision,
  typeName,
  watchChanges,
  watchDecisions,
} from "../service/index.js";
import { isSuspended } from "../signals/index.js";
import { latestReader, type Store } from "../store/index.js";
import type { MirrorOptions } from "../store/mirror/index.js";
import { type ApprovalCalls, embeddedApprovalCalls } from "./approvals.js";
import { defined, toObject, toRelationship, toSubject } from "./inputs.js";
import { embeddedSignalCalls, type SignalCalls } from "./signals.js";
import type { CallOptions, DelegationParams, LatchClient, RelationshipInput } from "./types.js";

export interface EmbeddedOptions {
  /** A SQLite file path, or `:memory:`. */
  readonly database: string;
  /** An open store (e.g. PostgreSQL) used instead of `database`; the client closes it. */
  readonly store?: Store;
  /** Written at open unless the stored schema is already this text. */
  readonly schema?: string;
  readonly engine?: Omit<EngineOptions, "store">;
  readonly watchPollMs?: number;
  /**
   * The in-memory copy of the relationships that answers the engine's reads (default on, up to
   * 5,000,000 relationships); `false` reads everything from the database.
   */
  readonly mirror?: MirrorOptions | false;
  /** Decorators on the decision seam (Check, CheckBulk, LookupResources), outermost first. */
  readonly decorators?: readonly Decorator[];
  /** On-behalf-of chains: the delegation permission of each principal type (default `delegate`). */
  readonly delegation?: { readonly delegationPermission?: Readonly<Record<string, string>> };
  /**
   * Actor tokens: the JWKS (`{ keys: [...] }`, every key with its `alg`), issuer and audience that
   * verify RFC 8693 JWTs stating the subject and chain; without it a request carrying one is refused.
   */
  readonly actorTokens?: OpenOptions["actorTokens"];
  /**
   * The decision audit trail, in the same datastore: on by default with the server's defaults
   * (policy `agents`: every decision acting for someone and every DENIED one; mode `async`),
   * caller `embedded` unless named. A plain allowed check records nothing and costs one branch.
   * `false` (or policy `off`) records nothing. `close()` writes queued records first.
   */
  readonly audit?: Omit<AuditOptions, "log"> | false;
  /** Security signals (docs/signals.md): the transmitter and rules of `sendSignal`; `false` turns the gate off. */
  readonly signals?: OpenOptions["signals"];
  /** Human approval (docs/approvals.md): rules, webhook, polling interval; `false` turns it off. */
  readonly approvals?: OpenOptions["approvals"];
}

export interface EmbeddedClient extends LatchClient {
  readonly store: Store;
  readonly engine: Engine;
  /** The audit recorder (its `stats()`, `flush()`), unless auditing is off. */
  readonly recorder: AuditRecorder | undefined;
}

/** The server's checks (the service layer's), so that both modes refuse the same references. */
function object(input: Parameters<typeof toObject>[0], field: string): ObjectRef {
  return checkObjectRef(toObject(input), field);
}

function subject(input: Parameters<typeof toSubject>[0], field: string): SubjectRef {
  return checkSubjectRef(toSubject(input), field);
}

function signalOf(options: CallOptions | undefined): AbortSignal | undefined {
  const signals = [
    ...(options?.signal === undefined ? [] : [options.signal]),
    ...(options?.timeoutMs === undefined ? [] : [AbortSignal.timeout(options.timeoutMs)]),
  ];
  return signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
}

function requestOptions(options: CallOptions | undefined): { signal?: AbortSignal; requestId?: string } {
  const signal = signalOf(options);
  return {
    ...(signal === undefined ? {} : { signal }),
    ...(options?.requestId === undefined ? {} : { requestId: options.requestId }),
  };
}

function contextual(list: readonly RelationshipInput[] | undefined): {
  contextualRelationships?: Relationship[];
} {
  return list === undefined || list.length === 0 ? {} : { contextualRelationships: list.map(toRelationship) };
}

type PermissionCalls = Pick<
  LatchClient,
  "check" | "checkBulk" | "expand" | "lookupResources" | "lookupSubjects" | "watchPermissions"
>;
type DataCalls = Omit<
  LatchClient,
  keyof PermissionCalls | keyof ApprovalCalls | keyof SignalCalls | "close" | "postureReport"
>;

/** The chain as the server decodes it: principals checked and named by their wire field. */
function delegation(params: DelegationParams, prefix = ""): Delegated {
  const chain = params.onBehalfOf;
  if (chain !== undefined) checkChainLength(chain.length, prefix);
  return defined({
    onBehalfOf: chain?.map((p, i) => subject(p, `${prefix}on_behalf_of[${i}]`)),
    subjectGrants: params.subjectGrants,
  });
}

/** Decisions go through the decider (the seam governance decorates); expand and LookupSubjects to the engine. */
function permissionCalls(
  decider: Decider,
  engine: Engine,
  permissions: PermissionWatch,
  watches: AbortSignal,
): PermissionCalls {
  return {
    async *watchPermissions(params, opts) {
      const signal = opts?.signal;
      const events = permissions.watch(
        defined({
          resourceType: typeName(params.resourceType, "resource_object_type"),
          permission: permissionName(params.permission, "permission"),
          subject: subject(params.subject, "subject"),
          context: params.context,
          checkpoints: params.checkpoints,
          // "" is no token, as over the wire (an empty ZedToken field).
          after: params.after === "" ? undefined : params.after,
          ...delegation(params),
        }),
        { signal: signal === undefined ? watches : AbortSignal.any([signal, watches]) },
      );
      for await (const e of events) {
        yield { kind: e.kind, resourceId: e.resourceId, missing: e.missing, token: e.token };
      }
    },

    async check(params, opts) {
      const result = await decider.check(
        defined({
          resource: object(params.resource, "resource"),
          permission: params.permission,
          subject: subject(params.subject, "subject"),
          context: params.context,
          consistency: params.consistency,
          explain: params.explain,
          ...delegation(params),
          actorToken: params.actorToken,
          ...contextual(params.contextualRelationships),
          consumeApproval: params.consumeApproval,
        }),
        requestOptions(opts),
      );
      return {
        state: result.state,
        ...(result.approvalRule === undefined ? {} : { approvalRule: result.approvalRule }),
        ...(result.approvalId === undefined ? {} : { approvalId: result.approvalId }),
        allowed: result.state === "ALLOWED",
        missing: result.missing,
        token: result.token,
        ...(result.explain === undefined ? {} : { explain: result.explain }),
      };
    },

    async checkBulk(params, opts) {
      const result = await decider.checkBulk(
        defined({
          items: params.items.map((item, i) =>
            defined({
              resource: object(item.resource, `items[${i}].resource`),
              permission: item.permission,
              subject: subject(item.subject, `items[${i}].subject`),
              context: item.context,
              ...delegation(item, `items[${i}].`),
              consumeApproval: item.consumeApproval,
            }),
          ),
          consistency: params.consistency,
          actorToken: params.actorToken,
          ...contextual(params.contextualRelationships),
        }),
        requestOptions(opts),
      );
      return { results: result.results, token: result.token };
    },

    async expand(params, opts) {
      const result = await engine.expand(
        defined({
          resource: object(params.resource, "resource"),
          permission: params.permission,
          consistency: params.consistency,
        }),
        requestOptions(opts),
      );
      return { tree: result.tree, token: result.token };
    },

    async *lookupResources(params, opts) {
      const results = decider.lookupResources(
        defined({
          resourceType: typeName(params.resourceType, "resource_object_type"),
          permission: params.permission,
          subject: subject(params.subject, "subject"),
          context: params.context,
          consistency: params.consistency,
          limit: params.limit,
          cursor: params.cursor,
          ...delegation(params),
          actorToken: params.actorToken,
        }),
        requestOptions(opts),
      );
      for await (const r of results) {
        yield {
          resourceId: r.resourceId,
          state: r.state,
          missing: r.missing,
          cursor: r.cursor,
          token: r.token,
        };
      }
    },

    async *lookupSubjects(params, opts) {
      const relation = params.subjectRelation;
      const results = engine.lookupSubjects(
        defined({
          resource: object(params.resource, "resource"),
          permission: params.permission,
          subjectType: typeName(params.subjectType, "subject_object_type"),
          subjectRelation: relation === "" || relation === "..." ? undefined : relation,
          context: params.context,
          consistency: params.consistency,
          limit: params.limit,
          cursor: params.cursor,
        }),
        requestOptions(opts),
      );
      for await (const r of results) {
        yield {
          subjectId: r.subject.id,
          subject: r.subject,
          ...(r.excluded === undefined || r.excluded.length === 0 ? {} : { excluded: r.excluded }),
          state: r.state,
          missing: r.missing,
          cursor: r.cursor,
          token: r.token,
        };
      }
    },
  };
}

/** Relationships and schema go to the store, through the service's paging, revisions and watch. */
function dataCalls(store: Store, watches: AbortSignal, watchPollMs: number): DataCalls {
  return {
    async writeRelationships(params) {
      const revision = await store.write(
        params.updates.map((u) => ({ operation: u.operation, relationship: toRelationship(u.relationship) })),
        params.preconditions ?? [],
      );
      return { token: store.encodeRevision(revision) };
    },

    async deleteRelationships(params) {
      const result = await store.deleteRelationships(
        params.filter,
        defined({ limit: params.limit, preconditions: params.preconditions }),
      );
      return { token: store.encodeRevision(result.revision), deleted: result.deleted };
    },

    async *readRelationships(params, opts) {
      const signal = signalOf(opts);
      const revision = await readRevision(store, params.consistency);
      const token = store.encodeRevision(revision);
      const pages = readRelationshipPages(
        store.at(revision),
        params.filter,
        defined({ limit: params.limit, cursor: params.cursor, signal }),
      );
      for await (const page of pages) {
        const last = page.relationships.length - 1;
        for (const [i, relationship] of page.relationships.entries()) {
          yield {
            relationship,
            token,
            ...(i === last && page.cursor !== undefined ? { cursor: page.cursor } : {}),
          };
        }
      }
    },

    async *watch(params, opts) {
      const signal = signalOf(opts);
      const batches = watchChanges(store, {
        ...(params?.after === undefined ? {} : { after: store.decodeRevision(params.after) }),
        objectTypes: params?.objectTypes ?? [],
        pollMs: watchPollMs,
        signal: signal === undefined ? watches : AbortSignal.any([signal, watches]),
      });
      for await (const batch of batches) {
        yield {
          token: store.encodeRevision(batch.revision),
          schemaUpdated: batch.schemaUpdated,
          updates: batch.changes.map((c) => ({ operation: c.operation, relationship: c.relationship })),
        };
      }
    },

    async importRelationships(relationships, opts) {
      async function* parsed() {
        for await (const r of relationships) yield toRelationship(r);
      }
      const result = await store.importRelationships(
        parsed(),
        defined({
          batchSize:
            opts?.batchSize === undefined
              ? undefined
              : Math.min(opts.batchSize, DEFAULT_SERVICE_LIMITS.maxImportBatch),
        }),
      );
      return { token: store.encodeRevision(result.revision), count: result.count };
    },

    async *exportRelationships(params, opts) {
      const signal = signalOf(opts);
      const revision = await readRevision(store, params?.consistency);
      const token = store.encodeRevision(revision);
      for await (const batch of exportBatches(store.at(revision), signal)) {
        yield { relationships: batch, token };
      }
    },

    async writeSchema(schema) {
      const revision = await store.writeSchema(schema);
      return { token: store.encodeRevision(revision) };
    },

    async readSchema() {
      const stored = await (await latestReader(store)).readSchema();
      if (stored === undefined)
        throw new LatchError("schema/not-found", "not-found", "no schema has been written");
      return { schema: stored.text, token: store.encodeRevision(stored.revision) };
    },

    queryDecisions: (params) => queryDecisions(store.decisions, params ?? {}),

    async *watchDecisions(params, opts) {
      const signal = signalOf(opts);
      yield* watchDecisions(store.decisions, {
        ...params,
        pollMs: watchPollMs,
        signal: signal === undefined ? watches : AbortSignal.any([signal, watches]),
      });
    },

    verifyDecisions: () => store.decisions.verify(),
  };
}

export async function createEmbedded(options: EmbeddedOptions): Promise<EmbeddedClient> {
  const latch = await openLatch(
    defined({
      database: options.database,
      store: options.store,
      mirror: options.mirror,
      schema: options.schema,
      engine: options.engine,
      decorators: options.decorators,
      delegation: options.delegation,
      actorTokens: options.actorTokens,
      audit: options.audit === false ? undefined : { caller: "embedded", ...options.audit },
      approvals: options.approvals,
      signals: options.signals,
    }),
  );
  const { store, engine, decider, recorder } = latch;
  const watches = new AbortController();

  return {
    store,
    engine,
    recorder,
    ...permissionCalls(decider, engine, latch.permissions, watches.signal),
    ...dataCalls(store, watches.signal, options.watchPollMs ?? 50),
    ...embeddedApprovalCalls(latch.approvals),
    async postureReport(params) {
      const revision = params?.atRevision === undefined ? undefined : store.decodeRevision(params.atRevision);
      return (
        await createPostureReport({
          store,
          engine,
          config: params?.config,
          revision,
          save: params?.save,
          ...(latch.signals === undefined
            ? {}
            : { isSuspended: (subject: string) => isSuspended(latch.signals!, subject) }),
        })
      ).report;
    },
    ...embeddedSignalCalls(store, latch.signals),
    async close() {
      watches.abort();
      await latch.close();
    },
  };
}
