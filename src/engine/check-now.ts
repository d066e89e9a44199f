/**
 * Check answered at once when nothing has to be waited for, for a decorator that would only wait
 * for the answer to do more work on this thread (the audit recorder records it): a promise and a
 * turn of the microtask queue per check saved. Like the chunked lookup (lookup-batches.ts), the
 * form rides on the `check` function itself, so a decorator that replaces `check` drops it, and a
 * caller above that decorator falls back to `check`.
 */
import type { CheckRequest, CheckResult, RequestOptions } from "./types.js";

/**
 * A Check's answer, or a promise of it when one has to be waited for; may throw. Given `asAsked`,
 * the answer carries its witness (as with `witness: true`) and `asAsked.answer` is set to the same
 * answer as the request asked for it: a caller that records the witness and answers without it
 * (the audit recorder) needs no copy of the request nor of the answer.
 */
export type CheckNow = (
  request: CheckRequest,
  options?: RequestOptions,
  asAsked?: AsAsked,
) => CheckResult | Promise<CheckResult>;

/** Where a `CheckNow` puts the answer as its request asked for it. */
export interface AsAsked {
  answer: CheckResult | undefined;
}

const NOW = Symbol("latch.checkNow");

/** `check`, carrying `now`: the same Check, answered at once when it can be. */
export function withCheckNow<F extends object>(check: F, now: CheckNow): F {
  Object.defineProperty(check, NOW, { value: now });
  return check;
}

/** The form answering at once that a `check` function carries, if any. */
export function checkNowOf(check: object): CheckNow | undefined {
  return (check as { readonly [NOW]?: CheckNow })[NOW];
}
