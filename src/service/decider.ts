/**
 * The decision seam: every Check, CheckBulk and LookupResources of every transport goes through
 * one Decider. Later features that govern decisions (delegation chains, the audit trail, approval
 * gates, suspensions) are Decorators composed here, so that no transport has to know of them.
 *
 * The engine is itself a Decider: with no decorator, `decorate(engine)` returns the engine, and a
 * Check costs no extra call or allocation.
 */
import {
  type CheckResult,
  type Engine,
  type LookupBatchOptions,
  type LookupResourceResult,
  type LookupResourcesRequest,
  lookupBatchesOf,
} from "../engine/index.js";

export type Decider = Pick<Engine, "check" | "checkBulk" | "lookupResources">;

/** Wraps a decider: a decorator calls `next` to decide, and may refuse, record or amend. */
export type Decorator = (next: Decider) => Decider;

/** `decorators[0]` is outermost: it sees a request first and the answer last. */
export function decorate(decider: Decider, ...decorators: readonly Decorator[]): Decider {
  let result = decider;
  for (let i = decorators.length - 1; i >= 0; i--) result = decorators[i]!(result);
  return result;
}

/** Read by the audit recorder (structurally) when a gate on the seam turned an answer into DENIED. */
export interface WithReason {
  readonly reason?: string;
}

/**
 * The answer a gate gives instead of `result`: DENIED for `reason`, with the explain tree kept
 * under it. The witness goes: it proves what the gate does not grant.
 */
export function deniedWithReason(result: CheckResult, reason: string): CheckResult & WithReason {
  const { witness: _, ...rest } = result;
  return {
    ...rest,
    state: "DENIED",
    missing: [],
    ...(result.explain === undefined
      ? {}
      : { explain: { label: reason, state: "DENIED", children: [result.explain] } }),
    reason,
  };
}

/** Each result of `results` as a chunk of its own: the fallback for a decider without chunks. */
export async function* singleBatches(
  results: AsyncIterable<LookupResourceResult>,
): AsyncGenerator<readonly LookupResourceResult[], void, undefined> {
  for await (const result of results) yield [result];
}

/**
 * The decider's LookupResources a chunk at a time: in the engine's chunks when its
 * `lookupResources` carries a chunked form (engine/lookup-batches.ts: every decorator down to the
 * engine gave one), else one result per chunk.
 */
export function lookupBatches(
  decider: Pick<Decider, "lookupResources">,
  request: LookupResourcesRequest,
  options?: LookupBatchOptions,
): AsyncIterable<readonly LookupResourceResult[]> {
  const batches = lookupBatchesOf(decider.lookupResources);
  return batches === undefined
    ? singleBatches(decider.lookupResources(request, options))
    : batches(request, options);
}
