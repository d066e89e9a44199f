/**
 * Picks the revision a request reads at, and the compiled plan of the schema at that revision.
 *
 * `minimize-latency` reuses the current revision for `quantizationMs` (default 100 ms): requests
 * inside one window share a revision, hence cache entries, at the cost of seeing writes up to that
 * much later. The other modes never read an older revision than the client asked for.
 *
 * A token ahead of what this store has seen (written through another replica, not yet visible
 * here: a copy that lags, a standby) is waited for, not refused: the current revision is asked
 * again, backing off from 2 to 50 ms, until it reaches the token, the request is aborted (its
 * deadline) or `maxWaitMs` passes (a request without a deadline must not wait forever on a token
 * this datastore will never reach, e.g. after a restore from an older backup).
 */
import { LatchError, type Revision } from "../core/index.js";
import { compileSchema } from "../schema/index.js";
import { compactedError, type HistoryHorizon, type Store } from "../store/index.js";
import { buildPlan, type Plan } from "./plan.js";
import type { Cancellation, Consistency } from "./types.js";

/**
 * Both answer synchronously when they can (the quantized revision, a known plan, a horizon at
 * hand): a cached check then waits for nothing. Either may throw or reject.
 */
export interface Revisions {
  /** The revision to read at; a token ahead of the store is waited for until `signal` aborts. */
  resolve(consistency: Consistency | undefined, signal?: Cancellation): Revision | Promise<Revision>;
  planAt(revision: Revision): Plan | Promise<Plan>;
}

/** Longest wait for a token ahead of the store when the request has no deadline of its own. */
export const DEFAULT_MAX_REVISION_WAIT_MS = 5_000;
const FIRST_PAUSE_MS = 2;
const LONGEST_PAUSE_MS = 50;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const PLANS_BY_REVISION = 256;
const PLANS_BY_TEXT = 16;

export function createRevisions(
  store: Store,
  quantizationMs: number,
  maxWaitMs = DEFAULT_MAX_REVISION_WAIT_MS,
): Revisions {
  if (!(maxWaitMs >= 0))
    throw new RangeError(`maxRevisionWaitMs must be a number of ms >= 0, got ${maxWaitMs}`);
  let known: { revision: Revision; at: number } | undefined;
  // One question to the store at a time while requests wait, however many are waiting.
  let asking: Promise<Revision> | undefined;
  const byRevision = new Map<Revision, Plan>();
  const byText = new Map<string, Plan>();
  // The last plan found, tested first (see RevisionTokens): a revision's plan never changes.
  let lastRevision: Revision | undefined;
  let lastPlan: Plan | undefined;

  const current = async (): Promise<Revision> => {
    const revision = await store.currentRevision();
    if (known === undefined || revision >= known.revision) known = { revision, at: Date.now() };
    return revision;
  };
  const quantized = (): Revision | Promise<Revision> => {
    if (known !== undefined && Date.now() - known.at < quantizationMs) return known.revision;
    return current();
  };
  // The last token decoded, tested first: a token always stands for the same revision, and
  // decoding checks its mac (an HMAC: most of an exact-snapshot Check's cost of resolving). The
  // parts of a delegated Check (service/delegation) are pinned with one token, read again and again.
  let lastToken: string | undefined;
  let lastDecoded: Revision = 0n;
  const decode = (token: string): Revision => {
    if (token === lastToken) return lastDecoded;
    try {
      const revision = store.decodeRevision(token);
      lastToken = token;
      lastDecoded = revision;
      return revision;
    } catch (e) {
      if (e instanceof LatchError) throw e;
      throw new LatchError(
        "revision/invalid-token",
        "invalid-argument",
        "the revision token is not valid",
        {},
        {
          cause: e,
        },
      );
    }
  };
  const notReached = (revision: Revision, current: Revision, waitedMs: number): LatchError =>
    new LatchError(
      "revision/not-reached",
      "failed-precondition",
      `revision ${revision} is not reached yet (current is ${current}, waited ${waitedMs} ms): the datastore has not seen the write this token stands for. Retry later, or check that the token comes from this datastore as it is now (not from before a restore).`,
      { revision: revision.toString(), current: current.toString() },
    );
  const deadlinePassed = (revision: Revision, current: Revision): LatchError =>
    new LatchError(
      "request/deadline-exceeded",
      "deadline-exceeded",
      `the request's deadline passed while waiting for revision ${revision} (the datastore is at ${current}): this replica has not seen that write yet. Retry, or give the request a longer deadline.`,
      { revision: revision.toString(), current: current.toString() },
    );
  /** The current revision once it is at least `wanted`. */
  const reach = async (wanted: Revision, signal: Cancellation | undefined): Promise<Revision> => {
    let now = await current();
    const started = Date.now();
    for (let wait = FIRST_PAUSE_MS; now < wanted; wait = Math.min(wait * 2, LONGEST_PAUSE_MS)) {
      if (signal?.aborted) throw deadlinePassed(wanted, now);
      const waited = Date.now() - started;
      if (waited >= maxWaitMs) throw notReached(wanted, now, waited);
      await pause(Math.min(wait, maxWaitMs - waited));
      asking ??= current().finally(() => {
        asking = undefined;
      });
      now = await asking;
    }
    return now;
  };

  const atLeast = async (wanted: Revision, signal: Cancellation | undefined): Promise<Revision> => {
    const q = await quantized();
    if (q >= wanted) return q;
    return reach(wanted, signal);
  };
  const exactly = async (wanted: Revision, signal: Cancellation | undefined): Promise<Revision> => {
    await reach(wanted, signal);
    return wanted;
  };
  const planOf = async (revision: Revision): Promise<Plan> => {
    const stored = await store.at(revision).readSchema();
    if (stored === undefined) {
      throw new LatchError("check/no-schema", "failed-precondition", "no schema has been written yet");
    }
    let plan = byText.get(stored.text);
    if (plan === undefined) {
      plan = buildPlan(compileSchema(stored.text));
      byText.set(stored.text, plan);
      if (byText.size > PLANS_BY_TEXT) byText.delete(byText.keys().next().value!);
    }
    byRevision.set(revision, plan);
    if (byRevision.size > PLANS_BY_REVISION) byRevision.delete(byRevision.keys().next().value!);
    return plan;
  };

  const revisions: Revisions = {
    resolve(consistency, signal) {
      switch (consistency?.kind ?? "minimize-latency") {
        case "minimize-latency":
          return quantized();
        case "fully-consistent":
          return current();
        case "at-least-as-fresh": {
          const wanted = decode((consistency as { token: string }).token);
          if (known !== undefined && known.revision >= wanted && Date.now() - known.at < quantizationMs)
            return known.revision;
          return atLeast(wanted, signal);
        }
        case "at-exact-snapshot": {
          const wanted = decode((consistency as { token: string }).token);
          if (known === undefined || known.revision < wanted) return exactly(wanted, signal);
          return wanted;
        }
      }
      throw new LatchError("request/invalid-consistency", "invalid-argument", "unknown consistency");
    },

    planAt(revision) {
      if (revision === lastRevision && lastPlan !== undefined) return lastPlan;
      const plan = byRevision.get(revision);
      if (plan === undefined) return planOf(revision);
      lastRevision = revision;
      lastPlan = plan;
      return plan;
    },
  };
  return retained(store, revisions);
}

/**
 * Keeps requests off compacted history (store/history.ts), whatever picked their revision. Only an
 * exact snapshot is refused: every other mode may read any fresher revision, and the current one
 * is never behind the horizon. The horizon is the store's fresh copy when it has one at hand (no
 * wait: the common case), else asked for; the store keeps either no older than it promises, and
 * drops it when it compacts, so a token behind a new horizon is refused at once.
 */
function retained(store: Store, revisions: Revisions): Revisions {
  const horizonOf = store.historyHorizon?.bind(store);
  if (horizonOf === undefined) return revisions;
  const freshHorizon = store.freshHistoryHorizon?.bind(store);
  const judge = (
    revision: Revision,
    horizon: HistoryHorizon | null | undefined,
    consistency: Consistency | undefined,
    signal: Cancellation | undefined,
  ): Revision | Promise<Revision> => {
    if (horizon == null || revision >= horizon.revision) return revision;
    if (consistency?.kind === "at-exact-snapshot") throw compactedError(revision, horizon);
    return revisions.resolve({ kind: "fully-consistent" }, signal);
  };
  const guard = (
    revision: Revision,
    consistency: Consistency | undefined,
    signal: Cancellation | undefined,
  ): Revision | Promise<Revision> => {
    const known = freshHorizon?.();
    if (known !== undefined) return judge(revision, known, consistency, signal);
    return horizonOf().then((horizon) => judge(revision, horizon, consistency, signal));
  };
  return {
    resolve(consistency, signal) {
      const revision = revisions.resolve(consistency, signal);
      return revision instanceof Promise
        ? revision.then((r) => guard(r, consistency, signal))
        : guard(revision, consistency, signal);
    },
    planAt: (revision) => revisions.planAt(revision),
  };
}
