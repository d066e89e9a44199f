/**
 * `openLatch`: the one place that wires store, in-memory copy, engine and decision seam together,
 * for `latch serve` and `createEmbedded` alike. A module of its own, above the service rather than
 * in it, because it names concrete parts (the SQLite backend, the mirror) and the service imports
 * only the store interface; that keeps `service/` loadable without better-sqlite3 (the gRPC client
 * uses its validation). Opening SQLite is the embedded default; any other store (PostgreSQL) is
 * opened by the caller and passed in.
 */

import {
  type ApprovalFlow,
  type AttributesOf,
  createApprovalFlow,
  createWebhookNotifier,
  validateStoredRules,
  type WebhookOptions,
} from "../approvals/index.js";
import { type AuditOptions, type AuditRecorder, createAuditRecorder } from "../audit/index.js";
import { createEngine, type Engine, type EngineOptions } from "../engine/index.js";
import {
  type ActorTokenOptions,
  createActorScopeGate,
  createActorTokens,
  createActorTokenVerifier,
  createDelegation,
  createPermissionWatch,
  type Decider,
  type Decorator,
  type DelegationOptions,
  decorate,
  type PermissionWatch,
  type PermissionWatchOptions,
} from "../service/index.js";
import { openSignals, type Signals, type SignalsOptions } from "../signals/index.js";
import { delegateStore, latestReader, type Store } from "../store/index.js";
import { createMirroredStore, type MirroredStore, type MirrorOptions } from "../store/mirror/index.js";
import { createSqliteStore } from "../store/sqlite/index.js";

export interface OpenOptions {
  /** A SQLite file path, or `:memory:`; used when `store` is absent. */
  readonly database?: string;
  /** An open store (e.g. PostgreSQL) used instead of `database`; closed by `close()`. */
  readonly store?: Store;
  /**
   * The in-memory copy of the relationships in front of the store (default on, up to 5,000,000
   * relationships); `false` reads everything from the database.
   */
  readonly mirror?: MirrorOptions | false;
  /**
   * Wraps the store the engine and the service use (metrics, a health gate), after the mirror,
   * which it is given too (for its stats). `close()` still closes the unwrapped store.
   */
  readonly wrapStore?: (store: Store, mirror: MirroredStore | undefined) => Store;
  /** Written at open unless the stored schema is already this text. */
  readonly schema?: string;
  /** Called when `schema` was written (not when it was already stored). */
  readonly onSchemaWritten?: () => void;
  readonly engine?: Omit<EngineOptions, "store">;
  /** Decorators on the decision seam, outermost first. */
  readonly decorators?: readonly Decorator[];
  /**
   * On-behalf-of chains (`service/delegation`): always answered, by a decorator innermost on the
   * seam, so the decorators above see the chain; these options name the delegation permissions.
   */
  readonly delegation?: Omit<DelegationOptions, "maxBulkItems">;
  /**
   * Actor tokens (RFC 8693 JWTs verified against this JWKS, issuer and audience) that state the
   * subject and chain instead of the caller. Without it a request carrying a token is refused.
   */
  readonly actorTokens?: ActorTokenOptions;
  /**
   * Records decisions in the opened store's audit trail (`store.decisions`), by a recorder
   * outermost among `decorators` (it records what they answered too). Absent: nothing recorded
   * (`latch serve` passes its `--audit*` flags here). `close()` writes queued records first.
   */
  readonly audit?: Omit<AuditOptions, "log">;
  /**
   * Human approval for high-risk actions (src/approvals): always on unless `false`; the rules are
   * the stored ones, replaced at open by `rules` when given (validated against the schema).
   */
  readonly approvals?:
    | false
    | {
        /** A rules file's text, written at open unless it is already the stored one. */
        readonly rules?: string;
        /** Its name, for error messages. */
        readonly rulesFile?: string;
        readonly pollIntervalMs?: number;
        /** How often rules written through another replica are looked for (default 5000 ms; 0: never). */
        readonly rulesRefreshMs?: number;
        /** How long the gate remembers that an action has no approval (default 1000 ms). */
        readonly closedForMs?: number;
        readonly now?: () => number;
        /** Notify approvers of each new request by a signed webhook. */
        readonly webhook?: Omit<WebhookOptions, "log">;
      };
  /**
   * WatchPermissions (`OpenedLatch.permissions`): its bounds, and the decorators that change what
   * a subject may do and so must shape the watched sets too (suspensions, signal attributes),
   * outermost first, above delegation. The audit recorder and the approval gate are left out:
   * keeping a set current records no decision and asks for no approval.
   */
  readonly watchPermissions?: Omit<PermissionWatchOptions, "store" | "decider" | "delegationPermission"> & {
    readonly decorators?: readonly Decorator[];
  };
  /**
   * Security signals (src/signals): the gate that applies suspensions and subject attributes to
   * every decision is always on unless `false` (any replica may write them); a transmitter and a
   * rules file make this process able to receive SETs too.
   */
  readonly signals?: false | SignalsOptions;
}

export interface OpenedLatch {
  /** The store requests use: the mirror (if any) over the opened store, then `wrapStore`. */
  readonly store: Store;
  /** The in-memory copy, when there is one (for its stats). */
  readonly mirror: MirroredStore | undefined;
  readonly engine: Engine;
  /** Where every decision goes: the engine, under the decorators. */
  readonly decider: Decider;
  /** The approval flow (undefined with `approvals: false`). */
  readonly approvals: ApprovalFlow | undefined;
  /** The recorder `audit` asked for (undefined without it, or with policy `off`). */
  readonly recorder: AuditRecorder | undefined;
  /** WatchPermissions over this store; idle (no feed read) until someone subscribes. */
  readonly permissions: PermissionWatch;
  /** Security signals: the subject state view, the gate and the SET receiver (undefined with `signals: false`). */
  readonly signals: Signals | undefined;
  /** Writes queued decision records (stopping the writer thread), then closes the store (and the mirror over it). */
  close(): Promise<void>;
}

async function writeSchema(store: Store, options: OpenOptions): Promise<void> {
  if (options.schema === undefined) return;
  const stored = await (await latestReader(store)).readSchema();
  if (stored?.text === options.schema) return;
  await store.writeSchema(options.schema);
  options.onSchemaWritten?.();
}

async function openApprovals(
  store: Store,
  decider: Decider,
  options: OpenOptions,
  attributesOf: AttributesOf,
): Promise<ApprovalFlow | undefined> {
  const settings = options.approvals;
  if (settings === false) return undefined;
  const notifier =
    settings?.webhook === undefined
      ? undefined
      : createWebhookNotifier({ ...settings.webhook, log: store.decisions });
  const flow = createApprovalFlow({
    store,
    decider,
    attributesOf,
    ...(settings?.now === undefined ? {} : { now: settings.now }),
    ...(settings?.pollIntervalMs === undefined ? {} : { pollIntervalMs: settings.pollIntervalMs }),
    ...(settings?.closedForMs === undefined ? {} : { closedForMs: settings.closedForMs }),
    ...(notifier === undefined
      ? {}
      : {
          onRequest: (approval) => notifier.notify({ type: "approval.requested", approval }),
          onDecide: (approval) => notifier.notify({ type: "approval.decided", approval }),
        }),
  });
  const stored = await store.approvals.readRules();
  if (settings?.rules !== undefined && stored?.text !== settings.rules)
    await flow.writeRules(settings.rules, settings.rulesFile);
  else await flow.loadRules();
  return flow;
}

/**
 * Every schema write through the opened latch re-validates the stored approval rules inside its
 * transaction (innermost, so that `wrapStore`'s wrappers, which callers may key by identity, stay
 * outermost).
 */
function guardSchemaWrites(store: Store): Store {
  return {
    ...delegateStore(store),
    writeSchema: (text, options) =>
      store.writeSchema(text, { ...options, validateRules: validateStoredRules }),
  };
}

/** Picks up rules written through another replica; a version that does not compile is retried, never applied. */
function refreshRules(flow: ApprovalFlow | undefined, options: OpenOptions): () => void {
  const every = options.approvals === false ? 0 : (options.approvals?.rulesRefreshMs ?? 5_000);
  if (flow === undefined || every <= 0) return () => undefined;
  const timer = setInterval(() => void flow.loadRules().catch(() => undefined), every);
  timer.unref();
  return () => clearInterval(timer);
}

export async function openLatch(options: OpenOptions): Promise<OpenedLatch> {
  const opened = options.store ?? (await createSqliteStore({ path: options.database ?? ":memory:" }));
  const mirror = options.mirror === false ? undefined : createMirroredStore(opened, options.mirror);
  const raw = mirror ?? opened;
  const guarded = options.approvals === false ? raw : guardSchemaWrites(raw);
  const store = options.wrapStore === undefined ? guarded : options.wrapStore(guarded, mirror);
  try {
    // Rules given at open replace the stored ones, and are checked against this schema then.
    await writeSchema(
      options.approvals !== false && options.approvals?.rules !== undefined ? raw : store,
      options,
    );
  } catch (error) {
    await raw.close();
    throw error;
  }
  // Built before anything is opened would be nicer, but a bad JWKS must still close the store.
  let verify: ReturnType<typeof createActorTokenVerifier> | undefined;
  try {
    verify = options.actorTokens === undefined ? undefined : createActorTokenVerifier(options.actorTokens);
  } catch (error) {
    await raw.close();
    throw error;
  }
  let recorder: AuditRecorder | undefined;
  try {
    recorder =
      options.audit === undefined || options.audit.policy === "off"
        ? undefined
        : createAuditRecorder({ ...options.audit, log: opened.decisions });
  } catch (error) {
    await raw.close();
    throw error;
  }
  const engine = createEngine({ ...options.engine, store });
  const delegation = createDelegation({
    ...options.delegation,
    maxBulkItems: options.engine?.maxBulkItems ?? 1000,
  });
  let approvals: ApprovalFlow | undefined;
  let signals: Signals | undefined;
  try {
    // Signals open after approvals: the gate reads their attributes once they are there.
    approvals = await openApprovals(
      store,
      decorate(engine, delegation),
      options,
      (subject) => signals?.states.latest(subject.type, subject.id)?.attributes,
    );
  } catch (error) {
    await raw.close();
    throw error;
  }
  try {
    signals = options.signals === false ? undefined : await openSignals(store, options.signals);
  } catch (error) {
    await raw.close();
    throw error;
  }
  const stopRefresh = refreshRules(approvals, options);
  const { decorators: watchDecorators, ...watchOptions } = options.watchPermissions ?? {};
  const permissions = createPermissionWatch({
    ...watchOptions,
    store,
    // The signal gate shapes the watched sets as it shapes every answer: a suspended subject's set
    // empties, attributes feed its caveats.
    decider: decorate(
      engine,
      ...(watchDecorators ?? []),
      ...(signals === undefined ? [] : [signals.gate]),
      delegation,
    ),
    ...(options.delegation?.delegationPermission === undefined
      ? {}
      : { delegationPermission: options.delegation.delegationPermission }),
    ...(options.engine?.maxBulkItems === undefined ? {} : { maxBulkItems: options.engine.maxBulkItems }),
  });
  // A signal changes a subject's state at a revision: the sets it appears in are recomputed there.
  const stopSignalWatch = signals?.states.onSubjectStateChanged(({ revision, states }) => {
    for (const { subject } of states) {
      const colon = subject.indexOf(":");
      permissions.subjectChanged({
        subject: { type: subject.slice(0, colon), id: subject.slice(colon + 1) },
        revision,
      });
    }
  });
  return {
    store,
    mirror,
    engine,
    recorder,
    approvals,
    permissions,
    signals,
    decider: decorate(
      engine,
      // Outermost: every other decorator (audit, approval) sees the verified chain, never a token.
      createActorTokens(verify),
      ...(recorder === undefined ? [] : [recorder.decorator]),
      ...(options.decorators ?? []),
      // Inside the recorder (which records APPROVAL_REQUIRED and the approval id), outside
      // delegation (whose answer, for the whole chain, it gates).
      ...(approvals === undefined ? [] : [approvals.gate]),
      // Inside the recorder: a request outside its token's scope is recorded as DENIED, with why.
      ...(verify === undefined ? [] : [createActorScopeGate()]),
      // Inside the recorder (which records the suspension's reason) and the approval gate (a
      // suspended subject is DENIED, never asked to wait for an approval), outside delegation,
      // whose chain it judges whole.
      ...(signals === undefined ? [] : [signals.gate]),
      delegation,
    ),
    async close() {
      stopRefresh();
      approvals?.close();
      stopSignalWatch?.();
      permissions.close();
      signals?.close();
      try {
        // Written, then the writer thread and its connection stopped, before the store closes.
        await recorder?.close();
      } finally {
        await raw.close();
      }
    },
  };
}
