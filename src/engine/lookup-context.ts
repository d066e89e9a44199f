/**
 * What the lookups share with the check path: the engine's revision resolver, result store and
 * limits, a request context for the dispatcher, and the errors they raise.
 */
import { type ContextLimits, clip, LatchError, type Revision, type SubjectRef } from "../core/index.js";
import type { Store } from "../store/index.js";
import { createRequestResults, type Dispatcher } from "./dispatch/index.js";
import type { Plan, PlanMember } from "./plan.js";
import type { RequestContext, ResultStore } from "./request-context.js";
import type { Revisions } from "./revisions.js";
import type { Cancellation } from "./types.js";

export interface LookupDeps {
  readonly store: Store;
  readonly revisions: Revisions;
  /** The engine's shared subproblem cache; a per-request map when absent. */
  readonly results: ResultStore | undefined;
  /** The engine's dispatcher (dispatch/combined.ts). */
  readonly dispatcher: Dispatcher<RequestContext>;
  readonly maxDepth: number;
  /** Cost budget of one caveat evaluation (the conditions' default when undefined). */
  readonly maxCaveatCost?: number | undefined;
  /** Bounds on the request's caveat context. */
  readonly contextLimits?: ContextLimits;
  /** Reports how many dispatches a lookup made, for the engine's stats. */
  readonly countDispatches?: (n: number) => void;
  /** The engine's revision token cache. */
  readonly tokenOf?: (revision: Revision) => string;
  /** The engine's own request context builder, so lookups check exactly as Check does. */
  readonly makeContext?: (
    plan: Plan,
    revision: Revision,
    subject: SubjectRef,
    subjectKey: string,
    signal: Cancellation | undefined,
    tuples: RequestContext["tuples"],
    results: ResultStore,
    witness: boolean,
  ) => RequestContext;
}

export function createLookupContext(
  deps: LookupDeps,
  plan: Plan,
  revision: Revision,
  subject: SubjectRef,
  subjectKey: string,
  signal: Cancellation | undefined,
  tuples: RequestContext["tuples"] = new Map(),
  results: ResultStore = deps.results ?? createRequestResults(),
  /** Keep each answer's proof (see witness.ts): such a context shares no answer. */
  witness = false,
): RequestContext {
  if (deps.makeContext !== undefined && subject.id !== "*") {
    return deps.makeContext(plan, revision, subject, subjectKey, signal, tuples, results, witness);
  }
  return {
    plan,
    revision,
    reader: deps.store.at(revision),
    subject,
    subjectKey,
    contextual: undefined,
    results,
    tuples,
    explain: false,
    witness,
    maxDepth: deps.maxDepth,
    signal,
    now: Date.now(),
    dispatches: 0,
    pacer: undefined,
    dispatcher: deps.dispatcher,
  };
}

export const tokenFor = (deps: LookupDeps, revision: Revision): string =>
  deps.tokenOf?.(revision) ?? deps.store.encodeRevision(revision);

/** The member `type#name` of a lookup, with the same error codes as Check. */
export function resolveLookupMember(plan: Plan, type: string, name: string): PlanMember {
  const def = plan.defs.get(type);
  if (def === undefined) {
    throw new LatchError("check/unknown-type", "invalid-argument", `unknown object type ${clip(type)}`, {
      type: clip(type),
    });
  }
  const member = def.members.get(name);
  if (member === undefined) {
    throw new LatchError(
      "check/unknown-permission",
      "invalid-argument",
      `${clip(type)} has no relation or permission ${clip(name)}`,
      { type: clip(type), permission: clip(name) },
    );
  }
  return member;
}

export function deadlineExceeded(cursor: string | undefined): LatchError {
  return new LatchError(
    "request/deadline-exceeded",
    "deadline-exceeded",
    cursor === undefined
      ? "the lookup was aborted before its first result"
      : "the lookup was aborted; resume it with the cursor in details.cursor",
    cursor === undefined ? {} : { cursor },
  );
}

export function isDeadline(e: unknown): boolean {
  return e instanceof LatchError && e.kind === "deadline-exceeded";
}

/** A page size: absent for everything, else a non-negative integer (0 returns nothing). */
export function validateLimit(limit: number | undefined): void {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new LatchError(
      "lookup/invalid-limit",
      "invalid-argument",
      "the limit must be a non-negative integer",
      { limit },
    );
  }
}
