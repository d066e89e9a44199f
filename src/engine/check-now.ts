/**
 * Check answered at once when nothing has to be waited for, for a decorator that would only wait
 * for the answer to do more work on this thread (the audit recorder records it): a promise and a
 * turn of the microtask queue per check saved. Like the chunked lookup (lookup-batches.ts), the
 * form rides on the `check` function itself, so a decorator that replaces `check` drops it, and a
 * caller above that decorator falls back to `check`; a decorator that only forwards most checks
 * (delegation, the gates on the seam) passes it on with `checkNowThrough`.
 */
import { carriedForm } from "./carried-form.js";
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

const NOW = carriedForm<CheckNow>("latch.checkNow");

/** `check`, carrying `now`: the same Check, answered at once when it can be. */
export const withCheckNow: <F extends object>(check: F, now: CheckNow) => F = NOW.attach;

/** The form answering at once that a `check` function carries, if any. */
export const checkNowOf: (check: object) => CheckNow | undefined = NOW.of;

type Check = (request: CheckRequest, options?: RequestOptions) => Promise<CheckResult>;

/**
 * What a decorator does with an answer it forwarded at once (`checkNowThrough`): the answer as it
 * is, another, or a promise of one; `witness`: the caller wants the witness and the decorator must
 * keep asking for it if it asks again.
 */
export type AfterNow = (
  answer: CheckResult,
  request: CheckRequest,
  options: RequestOptions | undefined,
  witness: boolean,
) => CheckResult | Promise<CheckResult>;

/**
 * A decorator's `check` carrying a form answered at once, when the `next` check it wraps carries
 * one: a request it `forwards` (unchanged: the decorator would hand it on as it is) goes to
 * `next`'s form, and the answer through `after` when given; any other request takes `check` (a
 * promise), asked with its witness when the caller asked for it beside the answer (`asAsked`, then
 * left unset: the caller drops the witness itself, as it does for an answer `after` replaced).
 * So the decorator's semantics stay `check`'s, and a recorder above it answers on the same turn.
 */
export function checkNowThrough<F extends Check>(
  check: F,
  next: Check,
  forwards: (request: CheckRequest) => boolean,
  after?: AfterNow,
): F {
  const nextNow = checkNowOf(next);
  if (nextNow === undefined) return check;
  return withCheckNow(check, (request, options, asAsked) => {
    if (!forwards(request))
      return check(asAsked === undefined ? request : checkWithWitness(request), options);
    const answered = nextNow(request, options, asAsked);
    if (after === undefined) return answered;
    return answered instanceof Promise
      ? afterLater(after, answered, request, options, asAsked)
      : afterNow(after, answered, request, options, asAsked);
  });
}

/**
 * A function of its own rather than an arrow inside `checkNowThrough`'s: that arrow then closes over
 * none of its own parameters, and V8 allocates no context for it at each call.
 */
function afterLater(
  after: AfterNow,
  answered: Promise<CheckResult>,
  request: CheckRequest,
  options: RequestOptions | undefined,
  asAsked: AsAsked | undefined,
): Promise<CheckResult> {
  return answered.then((answer) => afterNow(after, answer, request, options, asAsked));
}

function afterNow(
  after: AfterNow,
  answer: CheckResult,
  request: CheckRequest,
  options: RequestOptions | undefined,
  asAsked: AsAsked | undefined,
): CheckResult | Promise<CheckResult> {
  const out = after(answer, request, options, asAsked !== undefined);
  // Another answer than the one `asAsked` holds the caller's form of: the caller makes its own.
  if (out !== answer && asAsked !== undefined) asAsked.answer = undefined;
  return out;
}

/**
 * `request` asking for witnesses. Not `{ ...request, witness: true }`: on Node 20's V8 a spread
 * followed by a property (in the literal or after it) gives every object a map of its own, and
 * each of the engine's reads of it then misses its inline cache (about 2 µs a check, more than the
 * witness itself costs). Nor `Object.assign({}, request, { witness: true })`: with a second source
 * V8 takes its generic path, about twice the instructions of one source and a store.
 */
export function withWitness<T extends object>(request: T): T {
  const asked = Object.assign({}, request) as T & { witness?: boolean };
  asked.witness = true;
  return asked;
}

/**
 * A Check request asking for witnesses, as `withWitness` gives it. Most requests name only a
 * resource, permission and subject, and perhaps a consistency: those are copied as one literal of
 * one shape each (`Object.assign`'s generic copy cost about ten times as much, counted by
 * callgrind). That a request has no other field is told by counting its keys (a for-in over a
 * shape V8 has seen is a few loads a key): each of those fields with a value is one key, so as
 * many keys as such fields means there is no other; any other request is copied whole. (A for-in
 * sees no symbol keys, which `Object.assign` would copy: requests, built from wire messages and
 * options, carry none.)
 */
export function checkWithWitness(request: CheckRequest): CheckRequest {
  const { resource, permission, subject, consistency } = request;
  let keys = 0;
  for (const _ in request) keys++;
  if (resource === undefined || permission === undefined || subject === undefined)
    return withWitness(request);
  if (consistency === undefined) {
    if (keys === 3) return { resource, permission, subject, witness: true };
  } else if (keys === 4) return { resource, permission, subject, consistency, witness: true };
  return withWitness(request);
}
