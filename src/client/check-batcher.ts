/**
 * Automatic batching of `check()` calls, as DataLoader does: the checks made in one event-loop turn
 * (or within `windowUs`) that share their consistency, contextual relationships and actor token
 * go to the server as one CheckBulkPermissions, and each caller gets its own answer back.
 *
 * Why: a round trip costs the client and the server far more than answering one more item of a
 * bulk, so a pipeline that checks many documents concurrently gets several times the checks per
 * second without changing its code (filterAuthorized and retrievers included).
 *
 * What stays exactly as unbatched:
 * - each caller's deadline and AbortSignal are its own: they end that caller's wait (with the errors
 *   the transport gives) and never its neighbours'; the batch is cancelled when nobody waits for it;
 * - identical checks waiting or in flight are asked once; a caller joins an in-flight one only if
 *   its own deadline is not later than the request's, so it cannot fail earlier than alone;
 * - an item the bulk answers with an error is asked again alone, so its caller gets the very error
 *   (code, status, details) the single call gives, and one bad item never fails its neighbours;
 * - a bulk that fails as a whole for a reason that may be one item's (bad input, a limit) is asked
 *   again item by item; only failures that would hit every single call alike (unavailable,
 *   unauthenticated, deadline) are handed to every caller;
 * - checks with `explain` or `consumeApproval` (an approval is single-use) are never batched, nor
 *   any check once the server answered a bulk with UNIMPLEMENTED;
 * - one check alone in its window is sent as a plain CheckPermission; one with no AbortSignal,
 *   made while nothing else waits or flies, is sent with its caller's own options, exactly as
 *   unbatched (see Solo).
 */
import { status } from "@grpc/grpc-js";
import { deadlines, type Expiring, type Lane } from "./deadline-wheel.js";
import { RemoteError } from "./errors.js";
import { MAX_DEADLINE_MS } from "./http2-transport.js";
import { defined } from "./inputs.js";
import type { CallOptions, CheckAnswer, CheckBulkAnswer, CheckBulkParams, CheckParams } from "./types.js";

const ignore = () => {};

export interface BatchOptions {
  /**
   * How long checks are gathered (µs). 0 (the default) gathers the checks made in the current
   * event-loop turn; Node's timers count in milliseconds, so a longer window is rounded up to one.
   */
  readonly windowUs?: number;
  /** Most items in one CheckBulk (default 256; the server's limit is 1000). */
  readonly maxItems?: number;
}

/** The calls the batcher sends: the transport's own check and bulk check. */
export interface CheckBackend {
  check(params: CheckParams, options: CallOptions): Promise<CheckAnswer>;
  checkBulk(params: CheckBulkParams, options: CallOptions): Promise<CheckBulkAnswer>;
  /** The deadline of a call that gives none (ms). */
  readonly timeoutMs: number;
}

type Item = CheckBulkParams["items"][number];
type Shared = Pick<CheckBulkParams, "consistency" | "contextualRelationships" | "actorToken">;

type Resolve = (answer: CheckAnswer) => void;
type Reject = (error: unknown) => void;

// `new Promise(capture)` hands its resolvers over without a closure per call.
let capturedResolve: Resolve = () => undefined;
let capturedReject: Reject = () => undefined;
function capture(resolve: Resolve, reject: Reject): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

const NO_OPTIONS: CallOptions = Object.freeze({});

/**
 * One caller waiting for its entry: its deadline is an entry of the shared wheel (no timer of its
 * own), and it is its own abort listener.
 */
class Waiter implements Expiring {
  deadlineAt = 0;
  lane: Lane | undefined = undefined;
  prev: Expiring | undefined = undefined;
  next: Expiring | undefined = undefined;
  private settled = false;

  constructor(
    private readonly entry: Entry,
    private readonly signal: AbortSignal | undefined,
    private readonly abandon: (entry: Entry, waiter: Waiter) => void,
    readonly resolve: Resolve,
    readonly reject: Reject,
  ) {}

  /** Stops the waiter's deadline and signal listener; false when it was already settled. */
  settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    deadlines.remove(this);
    this.signal?.removeEventListener("abort", this);
    return true;
  }

  expire(): void {
    this.giveUp(deadlineError());
  }

  handleEvent(): void {
    this.giveUp(cancelledError());
  }

  private giveUp(error: RemoteError): void {
    if (!this.settle()) return;
    this.abandon(this.entry, this);
    this.reject(error);
  }
}

/** One distinct check: its callers, and the request that asks it once sent. */
interface Entry {
  readonly key: string;
  readonly item: Item;
  readonly group: Group;
  readonly waiters: Set<Waiter>;
  deadline: number;
  /** Set once sent: the request's abort, called when the last waiter leaves. */
  leave?: () => void;
  /** A waiter came with an AbortSignal, so it may leave before the entry's deadline. */
  cancellable: boolean;
}

interface Group {
  readonly key: string;
  readonly shared: Shared;
  readonly entries: Map<string, Entry>;
}

/**
 * A check with no AbortSignal, made while no other check waited or flew: the sequential caller's
 * case. Nothing else can share its request until another check comes, so it keeps none of the
 * batcher's records (no key, no entry, no waiter on the deadline wheel): if it is still alone when
 * the window closes, it is sent with its caller's own options, and its request's deadline is its
 * caller's, so it answers and fails exactly as unbatched. A check that comes while it waits makes
 * it an ordinary entry (`demote`); one that comes while it flies gives it an in-flight entry to
 * join (`track`).
 */
class Solo {
  /** Its in-flight entry, once another check needed one. */
  entry: Entry | undefined = undefined;
  readonly deadline: number;
  readonly resolve = capturedResolve;
  readonly reject = capturedReject;

  constructor(
    readonly params: CheckParams,
    readonly opts: CallOptions | undefined,
    readonly at: number,
    timeoutMs: number,
  ) {
    this.deadline = at + Math.min(opts?.timeoutMs ?? timeoutMs, MAX_DEADLINE_MS);
  }
}

/** Failures that every single call of the batch would have met alike. */
const SHARED_FAILURES = new Set<number>([
  status.UNAVAILABLE,
  status.UNAUTHENTICATED,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
]);

function sharedFailure(error: unknown): boolean {
  return error instanceof RemoteError && SHARED_FAILURES.has(error.status);
}

function deadlineError(): RemoteError {
  return new RemoteError(
    "grpc/deadline_exceeded",
    "deadline-exceeded",
    "Deadline exceeded",
    status.DEADLINE_EXCEEDED,
    {},
  );
}

function cancelledError(): RemoteError {
  return new RemoteError("grpc/cancelled", "deadline-exceeded", "Cancelled on client", status.CANCELLED, {});
}

/** A stable text for equal inputs; undefined for what JSON cannot show (a BigInt): not batched. */
function keyOf(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

function answerOf(result: CheckBulkAnswer["results"][number], token: string): CheckAnswer | undefined {
  if (!result.ok) return undefined;
  // Field by field rather than from spreads: once per item of every bulk.
  const answer: { -readonly [K in keyof CheckAnswer]: CheckAnswer[K] } = {
    state: result.state,
    allowed: result.state === "ALLOWED",
    missing: result.missing,
    token,
  };
  if (result.approvalRule !== undefined) answer.approvalRule = result.approvalRule;
  if (result.approvalId !== undefined) answer.approvalId = result.approvalId;
  return answer;
}

/** The part of a check its group shares. */
function sharedOf(params: CheckParams): Shared {
  const { consistency, contextualRelationships, actorToken } = params;
  return defined({ consistency, contextualRelationships, actorToken });
}

/**
 * A check's group key and its own key; undefined when it cannot be keyed. Checks with nothing to
 * share (the common case) are one group, keyed "" (a JSON text is never empty).
 */
function batchKeyOf(params: CheckParams): { groupKey: string; key: string } | undefined {
  const { consistency, contextualRelationships, actorToken } = params;
  const groupKey =
    consistency === undefined && contextualRelationships === undefined && actorToken === undefined
      ? ""
      : keyOf([consistency, contextualRelationships, actorToken]);
  const itemKey = keyOf([
    params.resource,
    params.permission,
    params.subject,
    params.context,
    params.onBehalfOf,
    params.subjectGrants,
  ]);
  if (groupKey === undefined || itemKey === undefined) return undefined;
  return { groupKey, key: `${groupKey}\n${itemKey}` };
}

export interface CheckBatcher {
  check(params: CheckParams, options: CallOptions | undefined): Promise<CheckAnswer>;
}

/** The batcher's state and steps; `createCheckBatcher` hands out its `check` as a plain function. */
class Batcher {
  private readonly windowMs: number;
  private readonly maxItems: number;
  /** Checks waiting for the window to close, by group. */
  private pending = new Map<string, Group>();
  private scheduled = false;
  /** Checks sent and not yet answered, by group and item key. */
  private readonly inFlight = new Map<string, Entry>();
  private bulkUnsupported = false;
  /** The lone check waiting for the window to close (then `pending` is empty). */
  private solo: Solo | undefined = undefined;
  /** The lone check sent and not yet answered, while it has no in-flight entry. */
  private flyingSolo: Solo | undefined = undefined;
  private readonly flushNow = () => this.flush();
  private readonly abandonNow = (entry: Entry, waiter: Waiter) => this.abandon(entry, waiter);

  constructor(
    private readonly backend: CheckBackend,
    options: BatchOptions,
  ) {
    this.windowMs = Math.ceil((options.windowUs ?? 0) / 1000);
    this.maxItems = Math.max(1, Math.min(options.maxItems ?? 256, 1000));
  }

  check(params: CheckParams, opts: CallOptions | undefined): Promise<CheckAnswer> {
    // A call that names itself for the audit trail goes as it is: a bulk has one request id.
    if (
      params.explain ||
      params.consumeApproval ||
      opts?.requestId !== undefined ||
      opts?.signal?.aborted ||
      this.bulkUnsupported
    )
      return this.backend.check(params, opts ?? NO_OPTIONS);
    const signal = opts?.signal;
    if (
      signal === undefined &&
      this.solo === undefined &&
      this.flyingSolo === undefined &&
      this.pending.size === 0 &&
      this.inFlight.size === 0
    ) {
      const answer = new Promise<CheckAnswer>(capture);
      this.solo = new Solo(params, opts, Date.now(), this.backend.timeoutMs);
      this.schedule();
      return answer;
    }
    // Another check is here: the lone one becomes an ordinary entry, shareable with this one.
    if (this.solo !== undefined) this.demote(this.solo);
    if (this.flyingSolo !== undefined) this.track(this.flyingSolo);
    const keyed = batchKeyOf(params);
    if (keyed === undefined) return this.backend.check(params, opts ?? NO_OPTIONS);
    const deadline = Date.now() + Math.min(opts?.timeoutMs ?? this.backend.timeoutMs, MAX_DEADLINE_MS);
    const answer = new Promise<CheckAnswer>(capture);
    this.wait(params, keyed, deadline, signal, capturedResolve, capturedReject);
    return answer;
  }

  /** Puts a caller on the entry of its check: waiting, in flight, or new. */
  private wait(
    params: CheckParams,
    { groupKey, key }: { groupKey: string; key: string },
    deadline: number,
    signal: AbortSignal | undefined,
    resolve: Resolve,
    reject: Reject,
  ): void {
    let group = this.pending.get(groupKey);
    let entry = group?.entries.get(key);
    if (entry !== undefined) entry.deadline = Math.max(entry.deadline, deadline);
    else {
      const flying = this.inFlight.get(key);
      if (flying !== undefined && flying.deadline >= deadline) entry = flying;
      else {
        if (group === undefined) {
          group = { key: groupKey, shared: sharedOf(params), entries: new Map() };
          this.pending.set(groupKey, group);
        }
        // The check itself is its item: the bulk request reads only an item's fields from it.
        entry = { key, item: params, group, waiters: new Set(), deadline, cancellable: false };
        group.entries.set(key, entry);
        this.schedule();
      }
    }
    if (signal !== undefined) entry.cancellable = true;
    const waiter = new Waiter(entry, signal, this.abandonNow, resolve, reject);
    deadlines.add(waiter, deadline - Date.now());
    signal?.addEventListener("abort", waiter);
    entry.waiters.add(waiter);
  }

  /** The waiting lone check joins the pending checks as an ordinary entry and waiter. */
  private demote(solo: Solo): void {
    this.solo = undefined;
    const keyed = batchKeyOf(solo.params);
    // Not keyable: sent at once as it is, as such a check is when it comes among others.
    if (keyed === undefined) this.send(solo, solo.opts ?? NO_OPTIONS);
    else this.wait(solo.params, keyed, solo.deadline, undefined, solo.resolve, solo.reject);
  }

  /** The lone check in flight gets an entry that later identical checks may join. */
  private track(solo: Solo): void {
    this.flyingSolo = undefined;
    const keyed = batchKeyOf(solo.params);
    if (keyed === undefined) return;
    const group = { key: keyed.groupKey, shared: sharedOf(solo.params), entries: new Map<string, Entry>() };
    const { key } = keyed;
    // Its request carries no signal: nothing to cancel when its joiners leave.
    const entry: Entry = {
      key,
      item: solo.params,
      group,
      waiters: new Set(),
      deadline: solo.deadline,
      leave: ignore,
      cancellable: false,
    };
    solo.entry = entry;
    this.inFlight.set(key, entry);
  }

  /** Sends a lone check as its caller would have unbatched; its caller and any joiners get the outcome. */
  private send(solo: Solo, options: CallOptions): void {
    this.backend.check(solo.params, options).then(
      (answer) => {
        if (this.flyingSolo === solo) this.flyingSolo = undefined;
        if (solo.entry !== undefined) this.deliver(solo.entry, { answer });
        solo.resolve(answer);
      },
      (error: unknown) => {
        if (this.flyingSolo === solo) this.flyingSolo = undefined;
        if (solo.entry !== undefined) this.deliver(solo.entry, { error });
        solo.reject(error);
      },
    );
  }

  /** The window closed on a lone check: its deadline counts from its call, as unbatched. */
  private sendSolo(solo: Solo): void {
    const now = Date.now();
    if (now >= solo.deadline) {
      solo.reject(deadlineError());
      return;
    }
    this.flyingSolo = solo;
    // Within the millisecond of its call, its own options say the same deadline.
    const options =
      now === solo.at ? (solo.opts ?? NO_OPTIONS) : { ...solo.opts, timeoutMs: solo.deadline - now };
    this.send(solo, options);
  }

  /** Forgets a sent entry, unless a later request for the same check took its place. */
  private land(entry: Entry): void {
    if (this.inFlight.get(entry.key) === entry) this.inFlight.delete(entry.key);
  }

  private deliver(entry: Entry, outcome: { answer: CheckAnswer } | { error: unknown }): void {
    this.land(entry);
    for (const w of entry.waiters) {
      if (!w.settle()) continue;
      if ("answer" in outcome) w.resolve(outcome.answer);
      else w.reject(outcome.error);
    }
    entry.waiters.clear();
  }

  /**
   * Sends one entry as a plain CheckPermission, with its own deadline, and a way to cancel it only
   * when a waiter can leave before that deadline: an AbortController and its listener cost several
   * µs in Node 20, about a third of what a lone check spends in the batcher. A caller that joins
   * later with a signal of its own still leaves at once; the request then runs to its deadline.
   */
  private askAlone(entry: Entry): void {
    const timeoutMs = Math.max(1, entry.deadline - Date.now());
    let options: CallOptions = { timeoutMs };
    if (entry.cancellable) {
      const controller = new AbortController();
      entry.leave = () => controller.abort();
      options = { timeoutMs, signal: controller.signal };
    } else entry.leave = ignore;
    this.backend.check({ ...entry.group.shared, ...entry.item }, options).then(
      (answer) => this.deliver(entry, { answer }),
      (error) => this.deliver(entry, { error }),
    );
  }

  private askTogether(group: Group, entries: Entry[]): void {
    const controller = new AbortController();
    let waiting = entries.length;
    const leave = () => {
      if (--waiting === 0) controller.abort();
    };
    let deadline = 0;
    for (const entry of entries) {
      entry.leave = leave;
      if (entry.deadline > deadline) deadline = entry.deadline;
    }
    this.backend
      .checkBulk(
        { ...group.shared, items: entries.map((e) => e.item) },
        { timeoutMs: Math.max(1, deadline - Date.now()), signal: controller.signal },
      )
      .then(
        (bulk) => this.answered(entries, bulk),
        (error) => this.failed(entries, error),
      );
  }

  private answered(entries: Entry[], bulk: CheckBulkAnswer): void {
    entries.forEach((entry, i) => {
      const result = bulk.results[i];
      const answer = result === undefined ? undefined : answerOf(result, bulk.token);
      if (answer !== undefined) this.deliver(entry, { answer });
      else if (entry.waiters.size > 0) this.askAlone(entry);
      else this.land(entry);
    });
  }

  private failed(entries: Entry[], error: unknown): void {
    // A server without CheckBulk (another version, a proxy that filters methods): stop
    // gathering rather than pay a failing bulk before every batch.
    if (error instanceof RemoteError && error.status === status.UNIMPLEMENTED) this.bulkUnsupported = true;
    for (const entry of entries) {
      if (sharedFailure(error) || entry.waiters.size === 0) this.deliver(entry, { error });
      else this.askAlone(entry);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const solo = this.solo;
    if (solo !== undefined) {
      this.solo = undefined;
      this.sendSolo(solo);
      return;
    }
    const groups = this.pending;
    this.pending = new Map();
    for (const group of groups.values()) {
      const entries = [...group.entries.values()];
      for (const entry of entries) this.inFlight.set(entry.key, entry);
      for (let i = 0; i < entries.length; i += this.maxItems) {
        const chunk = entries.slice(i, i + this.maxItems);
        if (chunk.length === 1) this.askAlone(chunk[0]!);
        else this.askTogether(group, chunk);
      }
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.windowMs === 0) setImmediate(this.flushNow);
    else setTimeout(this.flushNow, this.windowMs);
  }

  /** The waiter leaves its entry (timed out or aborted): the entry goes when nobody waits for it. */
  private abandon(entry: Entry, waiter: Waiter): void {
    entry.waiters.delete(waiter);
    if (entry.waiters.size > 0) return;
    if (entry.leave === undefined) entry.group.entries.delete(entry.key);
    else {
      this.land(entry);
      entry.leave();
    }
  }
}

export function createCheckBatcher(backend: CheckBackend, options: BatchOptions = {}): CheckBatcher {
  const batcher = new Batcher(backend, options);
  return { check: (params, opts) => batcher.check(params, opts) };
}
