/**
 * `createEngine`: Check, CheckBulk and Expand over a store. Each request resolves its revision and
 * the schema plan at that revision, walks the permission graph through the dispatcher (and so the
 * cache), then evaluates the caveat expression it collected once, with the request context.
 */

import { createCache } from "../cache/index.js";
import {
  type ContextLimits,
  DEFAULT_CONTEXT_LIMITS,
  LatchError,
  type Relationship,
  type Revision,
} from "../core/index.js";
import type { MemorySnapshot, Store } from "../store/index.js";
import { type CaveatEvaluator, createCaveatEvaluator, mergeContext } from "./evaluate-caveats.js";
import { dispatch, resultKeyOf } from "./evaluator.js";
import { expandTree } from "./expand.js";
import { toExplainNode } from "./explain.js";
import { MAX_DEPTH_LIMIT } from "./limits.js";
import type { LookupDeps } from "./lookup-context.js";
import { lookupResources } from "./lookup-resources.js";
import { lookupSubjects } from "./lookup-subjects.js";
import type { Member } from "./membership.js";
import { buildMembershipIndex, type MembershipIndex, snapshotMembershipIndex } from "./membership-index.js";
import { COSTLY_ITEM, createPacer } from "./pacer.js";
import type { Plan, PlanMember } from "./plan.js";
import type { CachedResult, Flight, RequestContext, ResultStore, TraceNode } from "./request-context.js";
import { createRequestResults, createSharedResults, type SharedResults } from "./results.js";
import { createRevisions } from "./revisions.js";
import { SnapshotWalk, type WalkAnswer } from "./snapshot-walk.js";
import type {
  Cancellation,
  CaveatTrace,
  CheckBulkItemResult,
  CheckBulkRequest,
  CheckBulkResult,
  CheckRequest,
  CheckResult,
  Engine,
  EngineStats,
  ExpandRequest,
  ExpandResult,
  RequestOptions,
} from "./types.js";
import { indexContextual, resolveMember, validateContext, validateSubject } from "./validate-request.js";
import type { Acc } from "./walk-stack.js";

/** Verdicts of plain memberships, shared: no caveat decides them. */
const ALLOWED = Object.freeze({ state: "ALLOWED", missing: Object.freeze([]) } as const);
const DENIED = Object.freeze({ state: "DENIED", missing: Object.freeze([]) } as const);

export { MAX_DEPTH_LIMIT };

export interface EngineOptions {
  readonly store: Store;
  /**
   * Most dispatch hops one check may go from its resource (default 50, at most 1,000); see
   * walk-stack.ts for how hops are counted.
   */
  readonly maxDepth?: number;
  /** Subproblem cache bounds, or `false` for none (default 100,000 entries, 64 MiB). */
  readonly cache?: { readonly maxEntries?: number; readonly maxBytes?: number } | false;
  /** How long `minimize-latency` reuses the current revision (default 100 ms). */
  readonly quantizationMs?: number;
  /** Most items in one CheckBulk (default 1,000). */
  readonly maxBulkItems?: number;
  /** Most contextual relationships in one request (default 100). */
  readonly maxContextualRelationships?: number;
  /**
   * Cost budget of one caveat evaluation (default 200,000, see conditions/cost.ts); over it the
   * check fails with `check/caveat-cost-exceeded`.
   */
  readonly maxCaveatCost?: number;
  /** Bounds on a request's caveat context (default 10,000 values, depth 16, strings of 64 KiB). */
  readonly contextLimits?: Partial<ContextLimits>;
}

export function createEngine(options: EngineOptions): Engine {
  const store = options.store;
  const maxDepth = options.maxDepth ?? 50;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1 || maxDepth > MAX_DEPTH_LIMIT) {
    throw new LatchError(
      "config/invalid",
      "invalid-argument",
      `maxDepth must be an integer from 1 to ${MAX_DEPTH_LIMIT}, got ${maxDepth}`,
      { maxDepth },
    );
  }
  const maxBulkItems = options.maxBulkItems ?? 1000;
  const maxContextual = options.maxContextualRelationships ?? 100;
  const maxCaveatCost = options.maxCaveatCost;
  const contextLimits: ContextLimits = { ...DEFAULT_CONTEXT_LIMITS, ...options.contextLimits };
  const revisions = createRevisions(store, options.quantizationMs ?? 100);
  const shared: SharedResults | undefined =
    options.cache === false
      ? undefined
      : createSharedResults(
          options.cache?.maxEntries ?? 100_000,
          options.cache?.maxBytes ?? 64 * 1024 * 1024,
        );
  let dispatches = 0;
  const inFlight = new Map<string, Promise<Member | undefined>>();
  const flights = new Map<string, Flight>();
  const indexes =
    options.cache === false
      ? undefined
      : createCache<{ index: MembershipIndex | null; validUntil: number }>({ maxEntries: 10_000 });
  // The subject's memberships at a revision: shared by every request, whichever walk built them.
  const membershipKey = (plan: Plan, revision: Revision, subjectKey: string) =>
    `${plan.id}|${revision}|${subjectKey}`;
  const knownMemberships = (key: string, now: number): { index: MembershipIndex | null } | undefined => {
    const hit = indexes?.get(key);
    return hit !== undefined && hit.validUntil > now ? hit : undefined;
  };
  const keepMemberships = (key: string, index: MembershipIndex | null): void => {
    indexes?.set(key, { index, validUntil: index?.validUntil ?? Number.POSITIVE_INFINITY });
  };
  const tokens = new Map<Revision, string>();
  /** Tokens are HMAC-signed: sign each revision once. */
  const tokenOf = (revision: Revision): string => {
    let token = tokens.get(revision);
    if (token === undefined) {
      token = store.encodeRevision(revision);
      if (tokens.size > 1024) tokens.clear();
      tokens.set(revision, token);
    }
    return token;
  };

  const makeContext = (
    plan: Plan,
    revision: Revision,
    subject: CheckRequest["subject"],
    subjectKey: string,
    contextual: ReadonlyMap<string, readonly Relationship[]> | undefined,
    explain: boolean,
    signal: Cancellation | undefined,
    tuples: RequestContext["tuples"],
    results: ResultStore,
  ): RequestContext => {
    const shares = !explain && contextual === undefined;
    // One object shape for every request (no spread, no accessor): the evaluator reads it on every node.
    const ctx: { -readonly [K in keyof RequestContext]: RequestContext[K] } = {
      plan,
      revision,
      store,
      subject,
      subjectKey,
      contextual,
      results,
      tuples,
      explain,
      maxDepth,
      signal,
      now: Date.now(),
      dispatches: 0,
      flights: shares ? flights : undefined,
      state: shares ? { waitingOn: undefined } : undefined,
      membershipIndex: undefined,
    };
    // Explanations use the subject's memberships too, so they answer as plain checks do.
    if (contextual === undefined && subject.relation === undefined) {
      // Built lazily, once per request, and shared across requests at the same revision.
      let pending: Promise<MembershipIndex | null> | undefined;
      const key = membershipKey(plan, revision, subjectKey);
      ctx.membershipIndex = () => {
        if (pending !== undefined) return pending;
        const hit = knownMemberships(key, ctx.now);
        pending =
          hit !== undefined
            ? Promise.resolve(hit.index)
            : buildMembershipIndex(ctx).then((built) => {
                keepMemberships(key, built);
                return built;
              });
        return pending;
      };
    }
    return ctx;
  };

  /** A synchronous walk over the store's in-memory snapshot (see snapshot-walk.ts). */
  const snapshotWalk = (
    plan: Plan,
    revision: Revision,
    snapshot: MemorySnapshot,
    subject: CheckRequest["subject"],
    subjectKey: string,
  ): SnapshotWalk =>
    new SnapshotWalk(plan, snapshot, subject, maxDepth, () => {
      const key = membershipKey(plan, revision, subjectKey);
      const hit = knownMemberships(key, Date.now());
      if (hit !== undefined) return hit.index;
      const built = snapshotMembershipIndex(plan, subject, snapshot);
      keepMemberships(key, built);
      return built;
    });

  /**
   * The walk's answer for one object, counted, and cached under `key` (when given) like the
   * batched evaluator's; undefined when the walk cannot tell and the batched evaluator must.
   */
  const answerBy = (
    walk: SnapshotWalk,
    member: PlanMember,
    id: string,
    key: string | undefined,
  ): WalkAnswer => {
    const steps = walk.steps;
    const m = walk.check(member, id);
    if (m === undefined) return undefined;
    dispatches += walk.steps - steps;
    if (key !== undefined && walk.height <= maxDepth)
      shared?.set(key, m === false ? undefined : m, walk.validUntil, walk.height);
    return m;
  };

  /** A remembered answer at depth 1: only when its height fits (see walk-stack.ts). */
  const fits = (hit: CachedResult | undefined): CachedResult | undefined =>
    hit !== undefined && hit.height <= maxDepth ? hit : undefined;

  const resultsFor = (contextual: unknown): ResultStore =>
    // Contextual relationships change answers for this request only: keep them out of the cache.
    contextual !== undefined || shared === undefined ? createRequestResults() : shared;

  const run = async (ctx: RequestContext, member: PlanMember, ids: readonly string[]) => {
    const acc: Acc = { minCut: Number.POSITIVE_INFINITY, validUntil: Number.POSITIVE_INFINITY, deepest: 0 };
    try {
      return await dispatch(ctx, member, ids, undefined, acc);
    } finally {
      dispatches += ctx.dispatches;
    }
  };

  const traceLeaf =
    (plan: Plan, context: CheckRequest["context"]) =>
    (node: TraceNode): CaveatTrace | undefined => {
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

  const lookupDeps: LookupDeps = {
    store,
    revisions,
    results: shared,
    maxDepth,
    maxCaveatCost,
    contextLimits,
    tokenOf,
    makeContext: (plan, revision, subject, subjectKey, signal, tuples, results) =>
      makeContext(plan, revision, subject, subjectKey, undefined, false, signal, tuples, results),
    countDispatches: (n) => {
      dispatches += n;
    },
  };

  const abortCheck = (signal: Cancellation | undefined) => {
    if (signal?.aborted) {
      throw new LatchError("request/deadline-exceeded", "deadline-exceeded", "the request was aborted");
    }
  };

  return {
    async check(request: CheckRequest, opts?: RequestOptions): Promise<CheckResult> {
      const signal = opts?.signal;
      abortCheck(signal);
      validateContext(request.context, contextLimits);
      const revision = await revisions.resolve(request.consistency);
      const plan = await revisions.planAt(revision);
      const member = resolveMember(plan, request.resource, request.permission);
      const subjectKey = validateSubject(plan, request.subject);
      const contextual = indexContextual(plan, request.contextualRelationships, maxContextual);
      const explain = request.explain === true;
      const id = request.resource.id;
      // Explanations and contextual relationships take the batched walk, with no shared cache.
      const plain = !explain && contextual === undefined;
      // A cached answer needs no request context at all (building one is most of a hit's cost).
      const topKey =
        plain && shared !== undefined ? resultKeyOf(plan.id, revision, member, id, subjectKey) : undefined;
      const cachedTop = fits(topKey === undefined ? undefined : shared?.get(topKey, Date.now()));
      const ctx = () =>
        makeContext(
          plan,
          revision,
          request.subject,
          subjectKey,
          contextual,
          explain,
          signal,
          new Map(),
          resultsFor(contextual),
        );
      let out: Awaited<ReturnType<typeof run>> | undefined;
      let m: Member | undefined;
      // Most checks are answered at once by the in-memory walk, when the store has one.
      const snapshot = plain && cachedTop === undefined ? store.memorySnapshot?.(revision) : undefined;
      const walked =
        snapshot === undefined
          ? undefined
          : answerBy(snapshotWalk(plan, revision, snapshot, request.subject, subjectKey), member, id, topKey);
      if (!plain) {
        out = await run(ctx(), member, [id]);
        m = out.m.get(id);
      } else if (cachedTop !== undefined) {
        m = cachedTop.m;
      } else if (walked !== undefined) {
        m = walked === false ? undefined : walked;
      } else {
        // Concurrent identical walks run once (their result does not depend on the context).
        const key = `${plan.id}|${revision}|${member.label}:${id}@${subjectKey}`;
        let shared = inFlight.get(key);
        if (shared === undefined) {
          shared = run(ctx(), member, [id]).then((r) => r.m.get(id));
          inFlight.set(key, shared);
          const clear = () => inFlight.delete(key);
          shared.then(clear, clear);
          m = await shared;
        } else {
          try {
            m = await shared;
          } catch (e) {
            // The first caller's deadline is not ours.
            if (!(e instanceof LatchError && e.code === "request/deadline-exceeded") || signal?.aborted)
              throw e;
            m = (await run(ctx(), member, [id])).m.get(id);
          }
        }
      }
      const evaluator: CaveatEvaluator | undefined =
        explain || (m !== undefined && m !== true)
          ? createCaveatEvaluator(plan.schema, request.context, false, maxCaveatCost)
          : undefined;
      const verdict = evaluator?.verdict(m) ?? (m === true ? ALLOWED : DENIED);
      const trace = out?.t?.get(id)?.[0];
      return {
        state: verdict.state,
        missing: verdict.missing,
        revision,
        token: tokenOf(revision),
        ...(explain && trace !== undefined
          ? { explain: toExplainNode(trace, evaluator!, traceLeaf(plan, request.context)) }
          : {}),
      };
    },

    async checkBulk(request: CheckBulkRequest, opts?: RequestOptions): Promise<CheckBulkResult> {
      const signal = opts?.signal;
      abortCheck(signal);
      if (request.items.length > maxBulkItems) {
        throw new LatchError(
          "check/too-many-items",
          "resource-exhausted",
          `at most ${maxBulkItems} items per bulk check, got ${request.items.length}`,
          { max: maxBulkItems, count: request.items.length },
        );
      }
      const revision = await revisions.resolve(request.consistency);
      const plan = await revisions.planAt(revision);
      const contextual = indexContextual(plan, request.contextualRelationships, maxContextual);
      const results: CheckBulkItemResult[] = new Array(request.items.length);
      const fail = (i: number, e: unknown) => {
        if (e instanceof LatchError) results[i] = { ok: false, error: { code: e.code, message: e.message } };
        else throw e;
      };
      // Items that ask the same question of the same subject share one batched walk.
      const groups = new Map<string, { member: PlanMember; subjectKey: string; items: number[] }>();
      request.items.forEach((item, i) => {
        try {
          validateContext(item.context, contextLimits);
          const member = resolveMember(plan, item.resource, item.permission);
          const subjectKey = validateSubject(plan, item.subject);
          const key = `${member.label}@${subjectKey}`;
          const group = groups.get(key);
          if (group === undefined) groups.set(key, { member, subjectKey, items: [i] });
          else group.items.push(i);
        } catch (e) {
          fail(i, e);
        }
      });
      const tuples: RequestContext["tuples"] = new Map();
      const resultStore = resultsFor(contextual);
      // One synchronous walk per subject: its answers serve every item of that subject.
      const walks = new Map<string, SnapshotWalk>();
      let snapshot = contextual === undefined ? store.memorySnapshot?.(revision) : undefined;
      const pacer = createPacer(signal);
      for (const group of groups.values()) {
        abortCheck(signal);
        const subject = request.items[group.items[0]!]!.subject;
        const members = new Map<string, Member>();
        let ids: string[] = [];
        if (snapshot !== undefined) {
          let walk = walks.get(group.subjectKey);
          const now = Date.now();
          for (const i of group.items) {
            if (pacer.due() && snapshot !== undefined) {
              // Let other requests run; the snapshot is only good until the yield: take a fresh one.
              await pacer.pause();
              snapshot = store.memorySnapshot?.(revision);
              walks.clear();
              walk = undefined;
            }
            const id = request.items[i]!.resource.id;
            if (snapshot === undefined) {
              ids.push(id);
              continue;
            }
            if (walk === undefined) {
              walk = snapshotWalk(plan, revision, snapshot, subject, group.subjectKey);
              walks.set(group.subjectKey, walk);
            }
            const key =
              shared === undefined
                ? undefined
                : resultKeyOf(plan.id, revision, group.member, id, group.subjectKey);
            const hit = fits(key === undefined ? undefined : shared?.get(key, now));
            if (hit !== undefined) {
              if (hit.m !== undefined) members.set(id, hit.m);
              continue;
            }
            const m = answerBy(walk, group.member, id, key);
            if (m === undefined) ids.push(id);
            else if (m !== false) members.set(id, m);
          }
        } else ids = group.items.map((i) => request.items[i]!.resource.id);
        const ctx = () =>
          makeContext(
            plan,
            revision,
            subject,
            group.subjectKey,
            contextual,
            false,
            signal,
            tuples,
            resultStore,
          );
        try {
          if (ids.length > 0) {
            for (const [id, m] of (await run(ctx(), group.member, ids)).m) members.set(id, m);
            // A snapshot is only good until the next yield: take a fresh one.
            if (snapshot !== undefined) {
              snapshot = store.memorySnapshot?.(revision);
              walks.clear();
            }
          }
        } catch (e) {
          if (!(e instanceof LatchError) || e.code === "request/deadline-exceeded") throw e;
          // Isolate the failure: one item's error must not fail its neighbours.
          const failed = new Set(ids);
          for (const i of group.items) {
            const id = request.items[i]!.resource.id;
            if (!failed.has(id)) continue;
            try {
              const m = (await run(ctx(), group.member, [id])).m.get(id);
              if (m !== undefined) members.set(id, m);
            } catch (inner) {
              if (inner instanceof LatchError && inner.code === "request/deadline-exceeded") throw inner;
              fail(i, inner);
            }
          }
        }
        for (const i of group.items) {
          if (results[i] !== undefined) continue;
          const item = request.items[i]!;
          const m = members.get(item.resource.id);
          try {
            // Plain answers need no caveat evaluator (most items of a bulk check).
            const v =
              m === true
                ? ALLOWED
                : m === undefined
                  ? DENIED
                  : createCaveatEvaluator(plan.schema, item.context, false, maxCaveatCost).verdict(m);
            results[i] = { ok: true, state: v.state, missing: v.missing };
          } catch (e) {
            fail(i, e);
          }
          // A caveat evaluation may take up to its whole cost budget: look at the clock after each.
          if (pacer.due(m === true || m === undefined ? 1 : COSTLY_ITEM)) {
            await pacer.pause();
            if (snapshot !== undefined) {
              snapshot = store.memorySnapshot?.(revision);
              walks.clear();
            }
          }
        }
      }
      return { results, revision, token: tokenOf(revision) };
    },

    async expand(request: ExpandRequest, opts?: RequestOptions): Promise<ExpandResult> {
      abortCheck(opts?.signal);
      const revision = await revisions.resolve(request.consistency);
      const plan = await revisions.planAt(revision);
      const member = resolveMember(plan, request.resource, request.permission);
      const tree = await expandTree(store, revision, member, request.resource.id, opts?.signal, maxDepth);
      return { tree, revision, token: tokenOf(revision) };
    },

    lookupResources: (request, opts) => lookupResources(lookupDeps, request, opts),

    lookupSubjects: (request, opts) => lookupSubjects(lookupDeps, request, opts),

    stats(): EngineStats {
      return { cacheHits: shared?.hits ?? 0, cacheMisses: shared?.misses ?? 0, dispatches };
    },
  };
}
