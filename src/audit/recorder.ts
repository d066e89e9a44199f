/**
 * The recording Decorator on the decision seam: it lets the decider below answer, then records
 * the decision in the datastore's decision log (store/decision-log.ts).
 *
 * What is recorded (`policy`): `all` decisions, or `agents` (the default): every decision whose
 * request acts for someone (`onBehalfOf`) and every DENIED one. A Check is one decision, each
 * CheckBulk item one, and each resource a LookupResources finds one; `off` records nothing and adds no
 * decorator. A request without a chain, under `agents`, whose answer is not DENIED, costs one
 * branch after the answer: no clock, no record, no allocation of ours.
 *
 * Narrowing and widening `agents`: `include` lists resource types (`document`) and permissions
 * (`document#export`) whose every decision is recorded, as under `all`; `sample` (0..1) is the
 * share of the other decisions (no chain, not DENIED: plain ALLOWED or CONDITIONAL ones) recorded
 * all the same, chosen at random before the check, and marked `sampled: true` so that a reader
 * knows the log holds only a share of them. With neither, the common case costs what it did.
 *
 * Witnesses: a decision whose record will be kept whatever its answer (`all`, an included one,
 * a sampled one, or one acting for someone) is asked with `witness: true`, so an ALLOWED or
 * CONDITIONAL record carries the relationships that proved it; the caller gets its answer as it asked (without a witness unless
 * it asked for one). Other decisions are recorded only when DENIED, which has no witness: they are
 * asked as they came, and pay nothing for witnesses. A LookupResources whose every result is
 * recorded is asked with `witness: true` too (the reverse walk keeps the path to each result); one
 * recorded only as a sample is asked as it came, and each result drawn gets its witness from a
 * witnessing Check at the lookup's revision, so unsampled results pay nothing.
 *
 * Where the work is: the decision path only captures a decision's few fields (sink.ts); building
 * the record, its canonical JSON, the hash chain and the append run on the writer thread
 * (writer-thread.ts) on a connection of its own, or on this thread in batches when the log cannot
 * be opened elsewhere (SQLite `:memory:`) or `writerThread` is false.
 *
 * How (`mode`):
 * - `async` (the default): records go to a bounded in-memory queue and are appended in batches
 *   soon after; the answer does not wait. When the queue is full, new records are dropped and
 *   counted (`stats().dropped`); records queued when the process dies are lost (at most the
 *   queue), and a failed append loses its batch (`stats().failed`, `onError`).
 * - `sync`: the answer leaves only after its record is committed; concurrent records share one
 *   transaction (group commit). If the append fails the decision is refused with
 *   `audit/unavailable` (`failure: deny`, the default): nothing is allowed that is not recorded;
 *   or, with `failure: allow-and-alert`, answered anyway, told to `onError` and counted.
 */

// Imported, not the global: on Node 20 `globalThis.performance` is a getter run at every read.
import { performance } from "node:perf_hooks";
import type { Worker } from "node:worker_threads";
import type { SubjectRef } from "../core/index.js";
import { LatchError } from "../core/index.js";
import {
  type AsAsked,
  type CheckBulkRequest,
  type CheckBulkResult,
  type CheckRequest,
  type CheckResult,
  checkNowOf,
  checkWithWitness,
  type LookupResourceResult,
  type LookupResourcesRequest,
  type RequestOptions,
  type Witness,
  withWitness,
} from "../engine/index.js";
import type { Decider, Decorator } from "../service/index.js";
import type { DecisionLog } from "../store/index.js";
import {
  type AuditCallInfo,
  chainOf,
  checkFacts,
  type DecisionFacts,
  plainCheck,
  type WithChain,
} from "./record.js";
import { DecisionSink, inThreadWriter } from "./sink.js";
import { WallClock } from "./wall-clock.js";
import { threadWriter } from "./writer-thread.js";

export type AuditPolicy = "all" | "agents" | "off";
export type AuditMode = "async" | "sync";
/** What a `sync` recorder does with a decision whose record cannot be written. */
export type AuditFailure = "deny" | "allow-and-alert";

export interface AuditOptions {
  /** Where records go: `store.decisions`. */
  readonly log: DecisionLog;
  readonly policy?: AuditPolicy;
  readonly mode?: AuditMode;
  /**
   * `sync` only: a decision whose record cannot be written is refused (`deny`, the default), or
   * answered anyway (`allow-and-alert`: `onError` is told and `stats().failed` counts it).
   * `async` never waits for its records, so it cannot deny: giving `deny` with it is refused.
   */
  readonly failure?: AuditFailure;
  /**
   * `agents` only: resource types (`document`) and permissions (`document#export`) whose every
   * decision is recorded, as under `all` (with its witness).
   */
  readonly include?: readonly string[];
  /**
   * `agents` only: the share (0..1, default 0) of plain decisions (no chain, not DENIED, not
   * included) recorded anyway, each chosen at random before it is made; their records say
   * `sampled: true`.
   */
  readonly sample?: number;
  /** The random source of `sample`, in [0, 1) (default Math.random; a seeded one in tests). */
  readonly random?: () => number;
  /** Caveat parameters whose values are recorded; every other context value is redacted. */
  readonly loggableParameters?: readonly string[];
  /** `async`: most records waiting (default 10,000); beyond it records are dropped and counted. */
  readonly queueLimit?: number;
  /** Most records per append (default 2,000). */
  readonly batchSize?: number;
  /**
   * `async`: how long records wait for others to share their append, in ms (default 50), unless a
   * batch fills first. This and the queue are what a crash can lose. Fewer, larger appends wake
   * the writer thread less often: over gRPC at 64 in flight, Checks/s with every decision recorded
   * went from about 88.5% to 92.5% of auditing off when this went from 10 to 50 (bench/README.md).
   */
  readonly flushMs?: number;
  /** Told of every failed append (async: the batch is lost; sync: the decision is refused). */
  readonly onError?: (error: unknown) => void;
  /**
   * The caller recorded when a call's options name none (embedded mode: e.g. `embedded`); a
   * transport's caller (the server's token name) always wins.
   */
  readonly caller?: string;
  /** Told how long each append to the log took (ok or not), in seconds: for a latency metric. */
  readonly onAppend?: (seconds: number, records: number) => void;
  /**
   * Clock, ms since the epoch (default the wall clock, read through the monotonic clock: for a
   * timed Check the reading its latency took, see wall-clock.ts).
   */
  readonly now?: () => number;
  /**
   * Append from a writer thread with a connection of its own (default true, when the log can be
   * opened there: not SQLite `:memory:`); false appends on this thread, in batches all the same.
   */
  readonly writerThread?: boolean;
  /** Told of each writer thread started (the first batch starts one, and a batch after one died). */
  readonly onWriterThread?: (thread: Worker) => void;
  /**
   * Start the writer thread and open its connection now, not with the first batch (`latch serve`):
   * the first decisions then wait for no thread (`sync`), and a crash soon after start loses only
   * what any later crash would (`async`).
   */
  readonly startWriter?: boolean;
}

export interface AuditStats {
  /** `async`: records waiting to be appended. */
  readonly queued: number;
  /** `async`: records dropped because the queue was full (always 0 in `sync`). */
  readonly dropped: number;
  /** Records committed. */
  readonly written: number;
  /**
   * Records whose append failed (async: lost; sync: their decisions were refused, or with
   * `allow-and-alert` answered without a record).
   */
  readonly failed: number;
}

export interface AuditRecorder {
  /** Put it on the seam (`openLatch({ decorators: [recorder.decorator] })`). */
  readonly decorator: Decorator;
  stats(): AuditStats;
  /** Resolves once every record queued so far has been appended (or failed). */
  flush(): Promise<void>;
  /** Flushes, then stops the writer thread; a later decision starts a new one. */
  close(): Promise<void>;
}

/** A CheckBulk item's fate, chosen before the call: recorded, recorded as a sample, or only if DENIED. */
type Keep = "kept" | "sampled" | "if-denied";

const POLICIES: readonly AuditPolicy[] = ["all", "agents", "off"];
const MODES: readonly AuditMode[] = ["async", "sync"];
const FAILURES: readonly AuditFailure[] = ["deny", "allow-and-alert"];

function invalidOption(what: string, value: unknown, allowed: string): LatchError {
  return new LatchError(
    "audit/invalid-option",
    "invalid-argument",
    `audit ${what} \`${String(value)}\` is not one Latch knows: use ${allowed}.`,
    { option: what },
  );
}

function positive(value: number | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw invalidOption(what, value, "a positive integer");
  return value;
}

/** `TYPE` or `TYPE#PERMISSION`: names as the schema language writes them (`a/b` prefixes too). */
const INCLUDE_ENTRY = /^[a-z][a-z0-9_]*(\/[a-z][a-z0-9_]*)*(#[a-z][a-z0-9_]*)?$/;

/** Whether a decision on (type, permission) is listed, as a type or as `type#permission`. */
type Includes = (resourceType: string, permission: string) => boolean;

function includesOf(entries: readonly string[] | undefined, policy: AuditPolicy): Includes | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  if (policy !== "agents")
    throw invalidOption(
      "include",
      entries.join(","),
      `it with policy agents (${policy} leaves nothing to add)`,
    );
  for (const entry of entries) {
    if (typeof entry !== "string" || !INCLUDE_ENTRY.test(entry))
      throw invalidOption("include", entry, "TYPE or TYPE#PERMISSION, e.g. document or document#export");
  }
  const listed = new Set(entries);
  return (type, permission) => listed.has(type) || listed.has(`${type}#${permission}`);
}

function sampleOf(rate: number | undefined, policy: AuditPolicy): number {
  if (rate === undefined || rate === 0) return 0;
  if (typeof rate !== "number" || !(rate >= 0 && rate <= 1))
    throw invalidOption(
      "sample",
      rate,
      "a share between 0 and 1, e.g. 0.01 for one plain decision in a hundred",
    );
  if (policy !== "agents")
    throw invalidOption("sample", rate, `it with policy agents (${policy} leaves nothing to sample)`);
  return rate;
}

/** The options checked and defaulted: once per recorder, never per decision. */
interface AuditSettings {
  readonly policy: AuditPolicy;
  readonly mode: AuditMode;
  readonly failure: AuditFailure;
  readonly queueLimit: number;
  readonly batchSize: number;
  readonly flushMs: number;
  readonly includes: Includes | undefined;
  readonly sample: number;
}

/** Refuses a bad option before anything starts, in the order a reader meets them in the docs. */
function settingsOf(options: AuditOptions): AuditSettings {
  const policy = options.policy ?? "agents";
  const mode = options.mode ?? "async";
  if (!POLICIES.includes(policy)) throw invalidOption("policy", policy, POLICIES.join(", "));
  if (!MODES.includes(mode)) throw invalidOption("mode", mode, MODES.join(", "));
  const failure = options.failure ?? (mode === "sync" ? "deny" : "allow-and-alert");
  if (!FAILURES.includes(failure)) throw invalidOption("failure", failure, FAILURES.join(", "));
  if (mode === "async" && failure === "deny") {
    throw invalidOption(
      "failure",
      failure,
      "allow-and-alert with async (it never waits for a record), or mode sync",
    );
  }
  const queueLimit = positive(options.queueLimit, "queue limit", 10_000);
  const batchSize = positive(options.batchSize, "batch size", 2_000);
  const flushMs = positive(options.flushMs, "flush interval", 50);
  const includes = includesOf(options.include, policy);
  const sample = sampleOf(options.sample, policy);
  return { policy, mode, failure, queueLimit, batchSize, flushMs, includes, sample };
}

/**
 * What recording a CheckBulk or a LookupResources needs, built once per recorder so that these
 * operations can live outside it without a closure or an object of their own per decision.
 */
interface Recording {
  readonly sink: DecisionSink;
  /** Policy `all`: every decision is kept. */
  readonly all: boolean;
  readonly includes: Includes | undefined;
  readonly sample: number;
  /** Drawn before a plain decision is made: whether it is recorded whatever its answer. */
  readonly sampled: () => boolean;
  readonly mode: AuditMode;
  readonly batchSize: number;
  readonly now: () => number;
  /** The call's id and caller (the server's are getters, read once per record batch). */
  readonly callInfo: (requestOptions: RequestOptions | undefined) => AuditCallInfo | undefined;
}

/** `out` once `committed` (a `sync` record's commit) is done; at once when there is none to wait for. */
function onceCommitted<T>(committed: Promise<unknown> | undefined, out: T): Promise<T> {
  return committed === undefined ? Promise.resolve(out) : committed.then(() => out);
}

/** What a kept Check's answer goes through once it comes (see `checkKept`). */
type KeptAnswer = (
  result: CheckResult,
  request: CheckRequest,
  requestOptions: RequestOptions | undefined,
  started: number,
  sampledOne: boolean,
  asAsked: AsAsked | undefined,
) => Promise<CheckResult>;

/*
 * The continuations of an answer to wait for are functions of their own rather than arrows in
 * `checkKept` and `checkIfDenied`: V8 allocates a function's closure context on entry, whichever
 * branch runs, so an arrow in the branch rarely taken cost every check a context object.
 */
function keptLater(
  kept: KeptAnswer,
  answered: PromiseLike<CheckResult>,
  request: CheckRequest,
  requestOptions: RequestOptions | undefined,
  started: number,
  sampledOne: boolean,
  asAsked: AsAsked | undefined,
): Promise<CheckResult> {
  return Promise.resolve(answered).then((result) =>
    kept(result, request, requestOptions, started, sampledOne, asAsked),
  );
}

function ifDeniedLater(
  ifDenied: (
    result: CheckResult,
    request: CheckRequest,
    options: RequestOptions | undefined,
  ) => Promise<CheckResult>,
  answered: PromiseLike<CheckResult>,
  request: CheckRequest,
  requestOptions: RequestOptions | undefined,
): Promise<CheckResult> {
  return Promise.resolve(answered).then((result) => ifDenied(result, request, requestOptions));
}

export function createAuditRecorder(options: AuditOptions): AuditRecorder {
  const { policy, mode, failure, queueLimit, batchSize, flushMs, includes, sample } = settingsOf(options);
  const random = options.random ?? Math.random;
  const sampled = () => sample !== 0 && random() < sample;
  const loggable = new Set(options.loggableParameters ?? []);
  /**
   * Every record's time from one clock (so times follow the records' order): a timed Check's from
   * its latency's reading, the others' from a reading of their own, unless a clock was given.
   */
  const wall = options.now === undefined ? new WallClock() : undefined;
  const now = options.now ?? (() => wall!.at(performance.now()));
  // The default caller is filled in where a record is captured (no object per call here).
  const callInfo = (requestOptions: RequestOptions | undefined) =>
    requestOptions as AuditCallInfo | undefined;
  const remote = options.writerThread === false ? undefined : options.log.remote;
  const sink = new DecisionSink({
    writer: remote === undefined ? inThreadWriter(options.log) : threadWriter(remote, options.onWriterThread),
    loggable,
    mode,
    failure,
    queueLimit,
    batchSize,
    flushMs,
    onError: options.onError ?? (() => undefined),
    onAppend: options.onAppend,
    caller: options.caller,
  });
  if (options.startWriter === true && policy !== "off") sink.start();
  const all = policy === "all";
  const recording: Recording = { sink, all, includes, sample, sampled, mode, batchSize, now, callInfo };

  // Check, the hottest path, stays here on this recorder's own variables; CheckBulk and
  // LookupResources, which loop anyway, are the module's functions below.
  const decorator: Decorator = (next: Decider): Decider => {
    if (policy === "off") return next;

    /** Captures the decision's record; `sync`: returns its commit to wait for. */
    const recordCheck = (
      request: CheckRequest,
      options: RequestOptions | undefined,
      result: Awaited<ReturnType<Decider["check"]>>,
      started: number | undefined,
      sampledOne: boolean,
    ) => {
      // One clock read for the latency and the time, unless a clock was given (wall-clock.ts). The
      // reading is never `undefined`: a `number | undefined` made V8 box it, 16 bytes a check.
      let latency: number | undefined;
      let at: number;
      if (started === undefined) at = now();
      else {
        const ended = performance.now();
        latency = Math.round((ended - started) * 1000);
        at = wall === undefined ? now() : wall.at(ended);
      }
      // A DENIED or gated one would have been kept anyway: only the others are a sample.
      const sample = sampledOne && result.state !== "DENIED" && result.approvalRule === undefined;
      // Most records: no rare part, captured straight from the request and the answer.
      if (!sample && plainCheck(request, result))
        return sink.recordCheck(request, result, latency, callInfo(options), at);
      const facts = checkFacts(request, result, chainOf(request), latency);
      return sink.record(sample ? Object.assign(facts, { sampled: true }) : facts, callInfo(options), at);
    };
    // The engine's answer at once, when `next` is the engine (or passes its form on): recorded on
    // this turn, with no promise of the engine's nor a `then` of ours to wait for (check-now.ts).
    const checkNow = checkNowOf(next.check);
    const answer = (request: CheckRequest, requestOptions: RequestOptions | undefined) =>
      checkNow === undefined ? next.check(request, requestOptions) : checkNow(request, requestOptions);
    // An answer the form gave at once needs no await (a turn of the microtask queue per check);
    // anything from another `next` is awaited, whatever kind of thenable a decorator returns.
    const settledNow = (answered: CheckResult | PromiseLike<CheckResult>): answered is CheckResult =>
      checkNow !== undefined && !(answered instanceof Promise);

    /**
     * Every one of these is recorded: asked with a witness, and timed. Not an async function: an
     * answer at hand is recorded and handed back in a promise made once, with no async function's
     * frame kept per check (and a throw becomes a rejection, as an async function makes it).
     */
    const checkKept = (
      request: CheckRequest,
      requestOptions: RequestOptions | undefined,
      sampledOne: boolean,
    ): Promise<CheckResult> => {
      try {
        const started = performance.now();
        const witnessed = request.witness === true;
        // The engine's form asked for the witness beside the request as it came, and gives the
        // answer without it too (`asAsked`); any other `next` is asked with a copy of the request.
        const asAsked: AsAsked | undefined =
          checkNow === undefined || witnessed ? undefined : { answer: undefined };
        const answered =
          asAsked === undefined
            ? answer(witnessed ? request : checkWithWitness(request), requestOptions)
            : checkNow!(request, requestOptions, asAsked);
        // An answer to wait for (any thenable a decorator returns) is recorded once it comes.
        if (!settledNow(answered))
          return keptLater(kept, answered, request, requestOptions, started, sampledOne, asAsked);
        return kept(answered, request, requestOptions, started, sampledOne, asAsked);
      } catch (error) {
        return Promise.reject(error);
      }
    };

    /** A kept Check's answer recorded; `sync`: given once its record is committed. */
    const kept: KeptAnswer = (result, request, requestOptions, started, sampledOne, asAsked) => {
      const committed = recordCheck(request, requestOptions, result, started, sampledOne);
      // The record is captured from the witnessed answer; the caller gets it as it asked.
      const out = request.witness === true ? result : (asAsked?.answer ?? checkWithoutWitness(result));
      return onceCommitted(committed, out);
    };

    /**
     * The common case: only a DENIED answer or one an approval rule gated is recorded, and nothing
     * is timed (this runs for every decision). Not an async function, as `checkKept`.
     */
    const checkIfDenied = (
      request: CheckRequest,
      requestOptions: RequestOptions | undefined,
    ): Promise<CheckResult> => {
      try {
        const answered = answer(request, requestOptions);
        if (!settledNow(answered)) return ifDeniedLater(ifDenied, answered, request, requestOptions);
        return ifDenied(answered, request, requestOptions);
      } catch (error) {
        return Promise.reject(error);
      }
    };

    const ifDenied = (
      result: CheckResult,
      request: CheckRequest,
      requestOptions: RequestOptions | undefined,
    ): Promise<CheckResult> => {
      if (result.state !== "DENIED" && result.approvalRule === undefined) return Promise.resolve(result);
      const committed = recordCheck(request, requestOptions, result, undefined, false);
      return onceCommitted(committed, result);
    };

    return {
      check(request, requestOptions) {
        if (
          !all &&
          chainOf(request) === undefined &&
          (includes === undefined || !includes(request.resource.type, request.permission))
        ) {
          if (sample !== 0 && random() < sample) return checkKept(request, requestOptions, true);
          return checkIfDenied(request, requestOptions);
        }
        return checkKept(request, requestOptions, false);
      },

      checkBulk(request, requestOptions) {
        return checkBulkRecorded(recording, next, request, requestOptions);
      },

      lookupResources(request, requestOptions) {
        return lookupResourcesRecorded(recording, next, request, requestOptions);
      },
    };
  };

  return {
    decorator,
    stats: () => ({ queued: sink.queued, dropped: sink.dropped, written: sink.written, failed: sink.failed }),
    flush: () => sink.flush(),
    close: () => sink.close(),
  };
}

/** Records several decisions; `sync`: resolves once all are committed. */
function recordAll(
  sink: DecisionSink,
  facts: readonly DecisionFacts[],
  info: AuditCallInfo | undefined,
  at: number,
): Promise<void> | undefined {
  const waits: Promise<void>[] = [];
  for (const f of facts) {
    const done = sink.record(f, info, at);
    if (done !== undefined && done !== waits[waits.length - 1]) waits.push(done);
  }
  return waits.length <= 1 ? waits[0] : Promise.all(waits).then(() => undefined);
}

/** A CheckBulk on the seam: each item's fate chosen before the call, its records after it. */
async function checkBulkRecorded(
  recording: Recording,
  next: Decider,
  request: CheckBulkRequest,
  requestOptions: RequestOptions | undefined,
): Promise<CheckBulkResult> {
  const { all, includes, sampled } = recording;
  const started = performance.now();
  const requestChain = chainOf(request);
  // Which items are kept whatever their answer, chosen before the call (sampled ones too).
  const kept = request.items.map((item): Keep => {
    if (all || requestChain !== undefined || chainOf(item) !== undefined) return "kept";
    if (includes?.(item.resource.type, item.permission) === true) return "kept";
    return sampled() ? "sampled" : "if-denied";
  });
  // Witnesses only where a kept record may be ALLOWED.
  const witness = request.witness !== true && kept.some((k) => k !== "if-denied");
  const result = await next.checkBulk(witness ? withWitness(request) : request, requestOptions);
  const facts = bulkFacts(request, result, kept, started);
  if (facts.length > 0)
    await recordAll(recording.sink, facts, recording.callInfo(requestOptions), recording.now());
  return witness ? { ...result, results: result.results.map(withoutWitness) } : result;
}

/** A LookupResources on the seam: its results as they come, recorded when the policy says so. */
function lookupResourcesRecorded(
  recording: Recording,
  next: Decider,
  request: LookupResourcesRequest,
  requestOptions: RequestOptions | undefined,
): AsyncIterable<LookupResourceResult> {
  const chain = chainOf(request);
  // A lookup's decisions are its results (there is no DENIED one), so `agents` records only
  // lookups that act for someone or are included, and a sample of the others' results.
  if (
    recording.all ||
    chain !== undefined ||
    recording.includes?.(request.resourceType, request.permission) === true
  ) {
    // Every result is recorded: each comes with its witness (the caller's answer without it).
    const asked = request.witness === true ? request : withWitness(request);
    const results = next.lookupResources(asked, requestOptions);
    return recordLookup(recording, next, results, request, requestOptions, chain, false);
  }
  const results = next.lookupResources(request, requestOptions);
  if (recording.sample === 0) return results;
  return recordLookup(recording, next, results, request, requestOptions, chain, true);
}

/**
 * The witness of a lookup result drawn in the sample: the result's own when the lookup carried one,
 * else a witnessing Check of it at the lookup's revision (only results drawn pay for it).
 */
async function sampledWitness(
  next: Decider,
  request: LookupResourcesRequest,
  found: LookupResourceResult,
  options: RequestOptions | undefined,
): Promise<Witness | undefined> {
  if (found.witness !== undefined) return found.witness;
  // The witness is the record's extra, not the caller's answer: a check that fails (the call's
  // deadline, say) leaves the record without one rather than failing the lookup.
  const proved = await next
    .check(
      {
        resource: { type: request.resourceType, id: found.resourceId },
        permission: request.permission,
        subject: request.subject,
        ...(request.context === undefined ? {} : { context: request.context }),
        consistency: { kind: "at-exact-snapshot", token: found.token },
        witness: true,
      },
      options,
    )
    .catch(() => undefined);
  return proved?.witness;
}

/**
 * One record per resource found, as it streams: `sync` commits each before passing it on;
 * `async` queues them in batches. A consumer that stops early records what it was given.
 */
async function* recordLookup(
  recording: Recording,
  next: Decider,
  results: AsyncIterable<LookupResourceResult>,
  request: LookupResourcesRequest,
  options: RequestOptions | undefined,
  chain: readonly SubjectRef[] | undefined,
  sampling: boolean,
): AsyncIterable<LookupResourceResult> {
  const { sink, sampled, mode, batchSize, now } = recording;
  let pending: DecisionFacts[] = [];
  const info = recording.callInfo(options);
  try {
    for await (const found of results) {
      if (sampling && !sampled()) {
        yield found;
        continue;
      }
      const facts: DecisionFacts = {
        operation: "lookup-resources",
        subject: request.subject,
        chain,
        subjectGrants: (request as WithChain).subjectGrants,
        resource: { type: request.resourceType, id: found.resourceId },
        permission: request.permission,
        state: found.state,
        missing: found.missing,
        context: request.context,
        consistency: request.consistency,
        revision: found.revision,
        witness: sampling ? await sampledWitness(next, request, found, options) : found.witness,
        ...(sampling ? { sampled: true } : {}),
      };
      pending.push(facts);
      if (mode === "sync" || pending.length >= batchSize) {
        const batch = pending;
        pending = [];
        await recordAll(sink, batch, info, now());
      }
      // The witness was asked for the record: the caller gets it only if it asked too.
      yield request.witness === true ? found : withoutWitness(found);
    }
  } finally {
    if (pending.length > 0) await recordAll(sink, pending, info, now());
  }
}

/** A CheckBulk's records: its kept items, and the others only when DENIED or gated by an approval rule. */
function bulkFacts(
  request: CheckBulkRequest,
  result: CheckBulkResult,
  kept: readonly Keep[],
  started: number,
): DecisionFacts[] {
  const latency = Math.round((performance.now() - started) * 1000);
  const requestChain = chainOf(request);
  const out: DecisionFacts[] = [];
  request.items.forEach((item, i) => {
    const answer = result.results[i];
    if (answer === undefined || !answer.ok) return;
    const chain = chainOf(item) ?? requestChain;
    const keep = kept[i];
    if (keep === "if-denied" && answer.state !== "DENIED" && answer.approvalRule === undefined) return;
    out.push({
      operation: "check-bulk",
      subject: item.subject,
      chain,
      subjectGrants: (item as WithChain).subjectGrants ?? (request as WithChain).subjectGrants,
      resource: item.resource,
      permission: item.permission,
      state: answer.state,
      missing: answer.missing,
      context: item.context,
      consistency: request.consistency,
      revision: result.revision,
      latencyUs: latency,
      reason: (answer as { reason?: string }).reason,
      witness: answer.witness,
      approvalId: answer.approvalId,
      approvalRule: answer.approvalRule,
      ...(keep === "sampled" && answer.state !== "DENIED" && answer.approvalRule === undefined
        ? { sampled: true }
        : {}),
    });
  });
  return out;
}

/**
 * A Check's answer as a caller that asked for no witness gets it: the four fields every answer has
 * written as one literal (one map for all such answers), then any other (an explanation, a gate's
 * fields). Copying every field by key instead stores each through V8's megamorphic path (about
 * 900 instructions a check against about 150, counted in a loop of its own).
 */
function checkWithoutWitness(result: CheckResult): CheckResult {
  if (!("witness" in result)) return result;
  const { state, missing, revision, token } = result;
  const answer: Record<string, unknown> = { state, missing, revision, token };
  for (const key in result) {
    if (key === "state" || key === "missing" || key === "revision" || key === "token" || key === "witness")
      continue;
    answer[key] = (result as unknown as Record<string, unknown>)[key];
  }
  return answer as unknown as CheckResult;
}

/** An answer as a caller that asked for no witness gets it. */
function withoutWitness<T extends object>(result: T): T {
  if (!("witness" in result)) return result;
  // A copy by for-in rather than a rest pattern: V8 runs the rest pattern in a slower builtin.
  const rest: Record<string, unknown> = {};
  for (const key in result) if (key !== "witness") rest[key] = (result as Record<string, unknown>)[key];
  return rest as T;
}
