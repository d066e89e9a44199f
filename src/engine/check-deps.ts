/**
 * What Check, CheckBulk and the lookups share: the engine's limits and the state that outlives a
 * request (subproblem results, the subject memberships, revision tokens, flights), each owned by
 * the object that keeps it, and the request-scoped pieces built from them (a request context, an
 * in-memory walk, a batched run). `createEngine` builds one; check.ts and check-bulk.ts use it.
 */
import { createCache } from "../cache/index.js";
import { type ContextLimits, LatchError, type Relationship, type Revision } from "../core/index.js";
import type { MemorySnapshot, Store } from "../store/index.js";
import {
  createDispatcher,
  createRequestResults,
  type Dispatcher,
  recall,
  remember,
  type SharedResults,
  subproblemKey,
} from "./dispatch/index.js";
import { mergeContext } from "./evaluate-caveats.js";
import { evaluate, solve } from "./evaluator.js";
import type { LookupDeps } from "./lookup-context.js";
import type { Member } from "./membership.js";
import { buildMembershipIndex, type MembershipIndex, snapshotMembershipIndex } from "./membership-index.js";
import type { Plan, PlanMember } from "./plan.js";
import type { CachedResult, RequestContext, ResultStore, TraceNode } from "./request-context.js";
import type { Revisions } from "./revisions.js";
import { SnapshotWalk, type WalkAnswer } from "./snapshot-walk.js";
import type { Cancellation, CaveatTrace, CheckRequest } from "./types.js";
import type { Proof } from "./witness.js";

/** A witnessed answer as remembered (see `CheckDeps.recallWitnessed`). */
export interface WitnessedAnswer {
  readonly m: Member | undefined;
  readonly proof: Proof;
  readonly until: number;
}

/** Verdicts of plain memberships, shared: no caveat decides them. */
export const ALLOWED = Object.freeze({ state: "ALLOWED", missing: Object.freeze([]) } as const);
export const DENIED = Object.freeze({ state: "DENIED", missing: Object.freeze([]) } as const);

export interface EngineLimits {
  readonly maxDepth: number;
  readonly maxBulkItems: number;
  readonly maxContextual: number;
  /** Cost budget of one caveat evaluation (the conditions' default when undefined). */
  readonly maxCaveatCost: number | undefined;
  readonly contextLimits: ContextLimits;
}

export function abortCheck(signal: Cancellation | undefined): void {
  if (signal?.aborted) {
    throw new LatchError("request/deadline-exceeded", "deadline-exceeded", "the request was aborted");
  }
}

/** A subject's memberships at a revision: shared by every request, whichever walk built them. */
export class MembershipCache {
  private readonly entries = createCache<{ index: MembershipIndex | null; validUntil: number }>({
    maxEntries: 10_000,
  });

  static key(plan: Plan, revision: Revision, subjectKey: string): string {
    return `${plan.id}|${revision}|${subjectKey}`;
  }

  known(key: string, now: number): { index: MembershipIndex | null } | undefined {
    const hit = this.entries.get(key);
    return hit !== undefined && hit.validUntil > now ? hit : undefined;
  }

  keep(key: string, index: MembershipIndex | null): void {
    this.entries.set(key, { index, validUntil: index?.validUntil ?? Number.POSITIVE_INFINITY });
  }
}

/** Tokens are HMAC-signed: sign each revision once. */
export class RevisionTokens {
  private readonly tokens = new Map<Revision, string>();
  // The last one asked for, tested first: most checks ask at the revision the one before asked at,
  // and mostly as the same BigInt object, which `===` matches at once where a Map's lookup of a
  // BigInt key compares its value in the runtime.
  private lastRevision: Revision | undefined;
  private lastToken = "";

  constructor(private readonly store: Store) {}

  of(revision: Revision): string {
    if (revision === this.lastRevision) return this.lastToken;
    let token = this.tokens.get(revision);
    if (token === undefined) {
      token = this.store.encodeRevision(revision);
      if (this.tokens.size > 1024) this.tokens.clear();
      this.tokens.set(revision, token);
    }
    this.lastRevision = revision;
    this.lastToken = token;
    return token;
  }
}

/** Concurrent identical top-level walks run once (their result does not depend on the context). */
export class TopFlights {
  private readonly running = new Map<string, Promise<Member | undefined>>();

  /** The running walk for `key`, or undefined after starting `start()` under it. */
  join(
    key: string,
    start: () => Promise<Member | undefined>,
  ): { own: Promise<Member | undefined> } | { joined: Promise<Member | undefined> } {
    const running = this.running.get(key);
    if (running !== undefined) return { joined: running };
    const own = start();
    this.running.set(key, own);
    const clear = () => this.running.delete(key);
    own.then(clear, clear);
    return { own };
  }
}

export class CheckDeps {
  /** Subproblems computed, for the engine's stats. */
  dispatches = 0;
  /** Every subproblem of every request goes through it: cache, single-flight, evaluator. */
  readonly dispatcher: Dispatcher<RequestContext> = createDispatcher(evaluate);
  readonly topFlights = new TopFlights();
  readonly tokens: RevisionTokens;
  /**
   * Witnessed answers of whole checks, apart from the subproblem cache (whose answers carry no
   * proof, so a witnessing walk shares none of them): a repeated witnessing check is answered
   * here. Kept only when the engine keeps a cache.
   */
  private readonly witnessed;

  constructor(
    readonly store: Store,
    readonly limits: EngineLimits,
    readonly revisions: Revisions,
    /** The shared subproblem cache; undefined when the engine runs without one. */
    readonly shared: SharedResults | undefined,
    private readonly memberships: MembershipCache | undefined,
  ) {
    this.tokens = new RevisionTokens(store);
    this.witnessed =
      shared === undefined
        ? undefined
        : createCache<WitnessedAnswer>({ maxEntries: 10_000, sizeOf: (_, key) => 256 + key.length * 2 });
  }

  /** A remembered witnessed answer for the checked object (`topKey`) that still holds at `now`. */
  recallWitnessed(key: string | undefined, now: number): WitnessedAnswer | undefined {
    if (key === undefined) return undefined;
    const hit = this.witnessed?.get(key);
    return hit !== undefined && hit.until > now ? hit : undefined;
  }

  /** Keeps the in-memory walk's witnessed answer (exact, and within the depth limit, as `answerBy`). */
  rememberWitnessed(key: string | undefined, walk: SnapshotWalk, m: Member | undefined): void {
    if (key === undefined || walk.height > this.limits.maxDepth) return;
    this.witnessed?.set(key, { m, proof: walk.witness(), until: walk.validUntil });
  }

  makeContext(
    plan: Plan,
    revision: Revision,
    subject: CheckRequest["subject"],
    subjectKey: string,
    contextual: ReadonlyMap<string, readonly Relationship[]> | undefined,
    explain: boolean,
    signal: Cancellation | undefined,
    tuples: RequestContext["tuples"],
    results: ResultStore,
    witness = false,
  ): RequestContext {
    const shares = !explain && !witness && contextual === undefined;
    // One object shape for every request (no spread, no accessor): the evaluator reads it on every node.
    const ctx: { -readonly [K in keyof RequestContext]: RequestContext[K] } = {
      plan,
      revision,
      reader: this.store.at(revision),
      subject,
      subjectKey,
      contextual,
      results,
      tuples,
      explain,
      witness,
      maxDepth: this.limits.maxDepth,
      signal,
      now: Date.now(),
      dispatches: 0,
      pacer: undefined,
      dispatcher: this.dispatcher,
      state: shares ? { waitingOn: undefined } : undefined,
      membershipIndex: undefined,
    };
    // Explanations use the subject's memberships too, so they answer as plain checks do.
    const memberships = this.memberships;
    if (contextual === undefined && subject.relation === undefined) {
      // Built lazily, once per request, and shared across requests at the same revision.
      let pending: Promise<MembershipIndex | null> | undefined;
      const key = MembershipCache.key(plan, revision, subjectKey);
      ctx.membershipIndex = () => {
        if (pending !== undefined) return pending;
        const hit = memberships?.known(key, ctx.now);
        pending =
          hit !== undefined
            ? Promise.resolve(hit.index)
            : buildMembershipIndex(ctx).then((built) => {
                memberships?.keep(key, built);
                return built;
              });
        return pending;
      };
    }
    return ctx;
  }

  /** A synchronous walk over the store's in-memory snapshot (see snapshot-walk.ts). */
  snapshotWalk(
    plan: Plan,
    revision: Revision,
    snapshot: MemorySnapshot,
    subject: CheckRequest["subject"],
    subjectKey: string,
    /** Keep each answer's proof (see snapshot-walk.ts). */
    witness = false,
  ): SnapshotWalk {
    const memberships = this.memberships;
    return new SnapshotWalk(
      plan,
      snapshot,
      subject,
      this.limits.maxDepth,
      () => {
        const key = MembershipCache.key(plan, revision, subjectKey);
        const hit = memberships?.known(key, Date.now());
        if (hit !== undefined) return hit.index;
        const built = snapshotMembershipIndex(plan, subject, snapshot);
        // Undefined: a partial snapshot cannot tell; the batched evaluator builds it from the store.
        if (built !== undefined) memberships?.keep(key, built);
        return built;
      },
      witness,
    );
  }

  /**
   * The walk's answer for one object, counted, and cached under `key` (when given) like the
   * batched evaluator's; undefined when the walk cannot tell and the batched evaluator must.
   */
  answerBy(walk: SnapshotWalk, member: PlanMember, id: string, key: string | undefined): WalkAnswer {
    const steps = walk.steps;
    const m = walk.check(member, id);
    if (m === undefined) return undefined;
    this.dispatches += walk.steps - steps;
    if (key !== undefined && this.shared !== undefined && walk.height <= this.limits.maxDepth)
      remember(this.shared, key, m === false ? undefined : m, walk.validUntil, walk.height);
    return m;
  }

  /** The checked object's key in the shared cache; undefined when the engine keeps none. */
  topKey(
    plan: Plan,
    revision: Revision,
    member: PlanMember,
    id: string,
    subjectKey: string,
  ): string | undefined {
    return this.shared === undefined ? undefined : subproblemKey(plan.id, revision, member, id, subjectKey);
  }

  /**
   * A remembered answer for the checked object itself (depth 1, so all of `maxDepth` is left), read
   * through the cache decorator before any request context is built.
   */
  recall(key: string, now: number): CachedResult | undefined {
    return this.shared === undefined ? undefined : recall(this.shared, key, now, this.limits.maxDepth);
  }

  resultsFor(contextual: unknown): ResultStore {
    // Contextual relationships change answers for this request only: keep them out of the cache.
    return contextual !== undefined || this.shared === undefined ? createRequestResults() : this.shared;
  }

  /** The batched evaluator's answer for `ids`, counted. */
  async run(ctx: RequestContext, member: PlanMember, ids: readonly string[]) {
    try {
      return await solve(ctx, member, ids);
    } finally {
      this.dispatches += ctx.dispatches;
    }
  }

  /** Evaluates a trace node's caveat again with its merged context, for an explanation. */
  traceLeaf(plan: Plan, context: CheckRequest["context"]) {
    const maxCaveatCost = this.limits.maxCaveatCost;
    return (node: TraceNode): CaveatTrace | undefined => {
      if (node.caveat === undefined) return undefined;
      const merged = mergeContext(context, node.caveat.context);
      const def = plan.schema.caveats.get(node.caveat.name);
      if (def === undefined)
        return { name: node.caveat.name, context: merged, result: "error", error: "unknown" };
      const r = def.condition.evaluate(
        merged,
        maxCaveatCost === undefined ? undefined : { maxCost: maxCaveatCost },
      );
      return {
        name: node.caveat.name,
        context: merged,
        result: r.kind,
        ...(r.kind === "missing" ? { missing: r.missing } : {}),
        ...(r.kind === "error" ? { error: r.message } : {}),
      };
    };
  }

  /** What the lookups need of the engine, so they check exactly as Check does. */
  lookupDeps(): LookupDeps {
    return {
      store: this.store,
      revisions: this.revisions,
      results: this.shared,
      dispatcher: this.dispatcher,
      maxDepth: this.limits.maxDepth,
      maxCaveatCost: this.limits.maxCaveatCost,
      contextLimits: this.limits.contextLimits,
      tokenOf: (revision) => this.tokens.of(revision),
      makeContext: (plan, revision, subject, subjectKey, signal, tuples, results, witness) =>
        this.makeContext(
          plan,
          revision,
          subject,
          subjectKey,
          undefined,
          false,
          signal,
          tuples,
          results,
          witness,
        ),
      countDispatches: (n) => {
        this.dispatches += n;
      },
    };
  }
}
