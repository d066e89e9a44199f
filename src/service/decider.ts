/**
 * The decision seam: every Check, CheckBulk and LookupResources of every transport goes through
 * one Decider. Later features that govern decisions (delegation chains, the audit trail, approval
 * gates, suspensions) are Decorators composed here, so that no transport has to know of them.
 *
 * The engine is itself a Decider: with no decorator, `decorate(engine)` returns the engine, and a
 * Check costs no extra call or allocation.
 */
import type { Engine } from "../engine/index.js";

export type Decider = Pick<Engine, "check" | "checkBulk" | "lookupResources">;

/** Wraps a decider: a decorator calls `next` to decide, and may refuse, record or amend. */
export type Decorator = (next: Decider) => Decider;

/** `decorators[0]` is outermost: it sees a request first and the answer last. */
export function decorate(decider: Decider, ...decorators: readonly Decorator[]): Decider {
  let result = decider;
  for (let i = decorators.length - 1; i >= 0; i--) result = decorators[i]!(result);
  return result;
}
