/**
 * `createEngine`: Check (check.ts), CheckBulk (check-bulk.ts), Expand and the lookups over one
 * set of shared dependencies (check-deps.ts): the limits, the revision resolver, the subproblem
 * cache, the subjects' memberships, revision tokens and flights.
 */

import { type ContextLimits, DEFAULT_CONTEXT_LIMITS, LatchError } from "../core/index.js";
import type { Store } from "../store/index.js";
import { checkNow } from "./check.js";
import { checkBulk } from "./check-bulk.js";
import { abortCheck, CheckDeps, type EngineLimits, MembershipCache } from "./check-deps.js";
import { type CheckNow, withCheckNow } from "./check-now.js";
import { createSharedResults } from "./dispatch/index.js";
import { expandTree } from "./expand.js";
import { MAX_DEPTH_LIMIT } from "./limits.js";
import { withLookupBatches } from "./lookup-batches.js";
import { lookupResourceBatches, lookupResources } from "./lookup-resources.js";
import { lookupSubjects } from "./lookup-subjects.js";
import { createRevisions } from "./revisions.js";
import type {
  Engine,
  EngineStats,
  ExpandRequest,
  ExpandResult,
  LookupResourcesRequest,
  RequestOptions,
} from "./types.js";
import { resolveMember } from "./validate-request.js";

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
  /**
   * Longest wait for a revision token ahead of the store (written through another replica, not
   * seen here yet) when the request has no deadline that ends it first (default 5,000 ms).
   */
  readonly maxRevisionWaitMs?: number;
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

function isDelegated(request: { readonly onBehalfOf?: readonly unknown[] }): boolean {
  return request.onBehalfOf !== undefined && request.onBehalfOf.length > 0;
}

/**
 * The engine answers for the subject alone; a chain it ignored would allow more than the chain
 * does, so it refuses one. The delegation decorator strips the chain before it asks the engine.
 */
function notDelegating(): LatchError {
  return new LatchError(
    "delegation/not-enabled",
    "failed-precondition",
    "this request has an on-behalf-of chain, but no delegation decorator is installed to answer it",
  );
}

// biome-ignore lint/correctness/useYield: it only refuses
async function* refuseDelegated(): AsyncGenerator<never, void, undefined> {
  throw notDelegating();
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
  const limits: EngineLimits = {
    maxDepth,
    maxBulkItems: options.maxBulkItems ?? 1000,
    maxContextual: options.maxContextualRelationships ?? 100,
    maxCaveatCost: options.maxCaveatCost,
    contextLimits: { ...DEFAULT_CONTEXT_LIMITS, ...options.contextLimits },
  };
  const cached = options.cache !== false;
  const deps = new CheckDeps(
    store,
    limits,
    createRevisions(store, options.quantizationMs ?? 100, options.maxRevisionWaitMs),
    cached
      ? createSharedResults(options.cache?.maxEntries ?? 100_000, options.cache?.maxBytes ?? 64 * 1024 * 1024)
      : undefined,
    cached ? new MembershipCache() : undefined,
  );
  const lookupDeps = deps.lookupDeps();

  const now: CheckNow = (request, opts, asAsked) => {
    if (isDelegated(request)) throw notDelegating();
    return checkNow(deps, request, opts, asAsked);
  };

  return {
    // The plain form is the same in an async function: whatever `now` throws is a rejection.
    check: withCheckNow(async (request, opts) => now(request, opts), now),

    checkBulk: (request, opts) =>
      request.items.some(isDelegated) ? Promise.reject(notDelegating()) : checkBulk(deps, request, opts),

    async expand(request: ExpandRequest, opts?: RequestOptions): Promise<ExpandResult> {
      abortCheck(opts?.signal);
      const revision = await deps.revisions.resolve(request.consistency, opts?.signal);
      const plan = await deps.revisions.planAt(revision);
      const member = resolveMember(plan, request.resource, request.permission);
      const tree = await expandTree(store.at(revision), member, request.resource.id, opts?.signal, maxDepth);
      return { tree, revision, token: deps.tokens.of(revision) };
    },

    lookupResources: withLookupBatches(
      (request: LookupResourcesRequest, opts?: RequestOptions) =>
        isDelegated(request) ? refuseDelegated() : lookupResources(lookupDeps, request, opts),
      (request, opts) =>
        isDelegated(request) ? refuseDelegated() : lookupResourceBatches(lookupDeps, request, opts),
    ),

    lookupSubjects: (request, opts) => lookupSubjects(lookupDeps, request, opts),

    stats(): EngineStats {
      const shared = deps.shared;
      return { cacheHits: shared?.hits ?? 0, cacheMisses: shared?.misses ?? 0, dispatches: deps.dispatches };
    },
  };
}
