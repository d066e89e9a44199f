/**
 * Check: resolve the revision and plan, answer from the cache, the in-memory walk or the batched
 * evaluator (in that order of cost), then evaluate the collected caveat expression once with the
 * request context.
 */
import { LatchError } from "../core/index.js";
import { ALLOWED, abortCheck, type CheckDeps, DENIED } from "./check-deps.js";
import type { AsAsked } from "./check-now.js";
import { type CaveatEvaluator, createCaveatEvaluator } from "./evaluate-caveats.js";
import { toExplainNode } from "./explain.js";
import type { Member } from "./membership.js";
import type { Plan, PlanMember } from "./plan.js";
import type { RequestContext } from "./request-context.js";
import type { TraceNode } from "./traces.js";
import type { Cancellation, CheckRequest, CheckResult, RequestOptions } from "./types.js";
import { indexContextual, resolveMember, validateContext, validateSubject } from "./validate-request.js";
import { type Proof, proofRelationships } from "./witness.js";

type Revision = RequestContext["revision"];

/**
 * Check, answered at once when nothing has to be waited for (most are: a revision and plan at hand,
 * an answer from the cache or the in-memory walk), else a promise. A caller that would only wait
 * for `check`'s promise to do more work (the audit recorder) calls this instead: no promise and
 * no turn of the microtask queue when the answer is at hand. It may throw. With `asAsked`, the
 * answer carries its witness whatever the request asked (check-now.ts).
 */
export function checkNow(
  deps: CheckDeps,
  request: CheckRequest,
  opts?: RequestOptions,
  asAsked?: AsAsked,
): CheckResult | Promise<CheckResult> {
  const signal = opts?.signal;
  abortCheck(signal);
  validateContext(request.context, deps.limits.contextLimits);
  const resolved = deps.revisions.resolve(request.consistency, signal);
  return typeof resolved === "bigint"
    ? checkAtRevision(deps, request, signal, resolved, asAsked)
    : checkAtRevisionLater(deps, request, signal, resolved, asAsked);
}

/*
 * The continuations below are functions of their own rather than arrows in the functions that
 * need them: V8 allocates a function's closure context on entry, whichever branch runs, so an
 * arrow in the rarely taken branch cost every check a context object (the common path is
 * synchronous and closes over nothing).
 */

function checkAtRevisionLater(
  deps: CheckDeps,
  request: CheckRequest,
  signal: Cancellation | undefined,
  resolved: Promise<Revision>,
  asAsked: AsAsked | undefined,
): Promise<CheckResult> {
  return resolved.then((revision) => checkAtRevision(deps, request, signal, revision, asAsked));
}

function checkWithPlanLater(
  deps: CheckDeps,
  request: CheckRequest,
  signal: Cancellation | undefined,
  revision: Revision,
  planned: Promise<Plan>,
  asAsked: AsAsked | undefined,
): Promise<CheckResult> {
  return planned.then((plan) => checkWithPlan(deps, request, signal, revision, plan, asAsked));
}

function checkAtRevision(
  deps: CheckDeps,
  request: CheckRequest,
  signal: Cancellation | undefined,
  revision: Revision,
  asAsked: AsAsked | undefined,
): CheckResult | Promise<CheckResult> {
  const planned = deps.revisions.planAt(revision);
  return planned instanceof Promise
    ? checkWithPlanLater(deps, request, signal, revision, planned, asAsked)
    : checkWithPlan(deps, request, signal, revision, planned, asAsked);
}

/** The membership from the cache, the in-memory walk or the batched evaluator, then the answer. */
function checkWithPlan(
  deps: CheckDeps,
  request: CheckRequest,
  signal: Cancellation | undefined,
  revision: Revision,
  plan: Plan,
  asAsked: AsAsked | undefined,
): CheckResult | Promise<CheckResult> {
  const member = resolveMember(plan, request.resource, request.permission);
  const subjectKey = validateSubject(plan, request.subject);
  const contextual = indexContextual(plan, request.contextualRelationships, deps.limits.maxContextual);
  const id = request.resource.id;
  const witness = asAsked !== undefined || request.witness === true;
  // Explanations and contextual relationships take the batched walk, with no shared cache.
  if (request.explain === true || contextual !== undefined) {
    const ctx = requestContext(deps, plan, revision, request, subjectKey, contextual, signal, witness);
    return batchedAnswer(deps, plan, request, revision, ctx, member, asAsked);
  }
  if (witness) {
    const found = witnessedMembership(deps, plan, revision, member, id, subjectKey, request, signal);
    return found instanceof Promise
      ? answerWhenProved(deps, plan, request, revision, found, asAsked)
      : answerOf(deps, plan, request, revision, found.m, found.proof, undefined, asAsked);
  }
  const found = plainMembership(deps, plan, revision, member, id, subjectKey, request, signal);
  return found instanceof Promise
    ? answerWhenFound(deps, plan, request, revision, found)
    : answerOf(deps, plan, request, revision, found, undefined, undefined, undefined);
}

/** The batched evaluator's answer, with its witness and explanation when the request asked. */
function batchedAnswer(
  deps: CheckDeps,
  plan: Plan,
  request: CheckRequest,
  revision: Revision,
  ctx: RequestContext,
  member: PlanMember,
  asAsked: AsAsked | undefined,
): Promise<CheckResult> {
  const id = request.resource.id;
  return deps
    .run(ctx, member, [id])
    .then((out) =>
      answerOf(deps, plan, request, revision, out.m.get(id), out.w?.get(id), out.t?.get(id)?.[0], asAsked),
    );
}

function answerWhenProved(
  deps: CheckDeps,
  plan: Plan,
  request: CheckRequest,
  revision: Revision,
  found: Promise<Proved>,
  asAsked: AsAsked | undefined,
): Promise<CheckResult> {
  return found.then(({ m, proof }) => answerOf(deps, plan, request, revision, m, proof, undefined, asAsked));
}

function answerWhenFound(
  deps: CheckDeps,
  plan: Plan,
  request: CheckRequest,
  revision: Revision,
  found: Promise<Member | undefined>,
): Promise<CheckResult> {
  return found.then((m) => answerOf(deps, plan, request, revision, m, undefined, undefined, undefined));
}

/**
 * The batched evaluator's context for this request: built only when that evaluator runs (a
 * function here, not a closure made by every check for the few that need it).
 */
function requestContext(
  deps: CheckDeps,
  plan: Plan,
  revision: Revision,
  request: CheckRequest,
  subjectKey: string,
  contextual: ReturnType<typeof indexContextual>,
  signal: Cancellation | undefined,
  witness: boolean,
): RequestContext {
  return deps.makeContext(
    plan,
    revision,
    request.subject,
    subjectKey,
    contextual,
    request.explain === true,
    signal,
    new Map(),
    deps.resultsFor(contextual),
    witness,
  );
}

/**
 * The answer: the collected caveat expression evaluated once with the request context. With
 * `asAsked`, the answer carries its witness, and `asAsked.answer` is the same answer as the
 * request asked for it.
 */
function answerOf(
  deps: CheckDeps,
  plan: Plan,
  request: CheckRequest,
  revision: Revision,
  m: Member | undefined,
  proof: Proof,
  trace: TraceNode | undefined,
  asAsked: AsAsked | undefined,
): CheckResult {
  const explain = request.explain === true;
  const evaluator: CaveatEvaluator | undefined =
    explain || (m !== undefined && m !== true)
      ? createCaveatEvaluator(plan.schema, request.context, false, deps.limits.maxCaveatCost)
      : undefined;
  const { state, missing } = evaluator?.verdict(m) ?? (m === true ? ALLOWED : DENIED);
  const token = deps.tokens.of(revision);
  const explained =
    explain && trace !== undefined
      ? toExplainNode(trace, evaluator!, deps.traceLeaf(plan, request.context))
      : undefined;
  const witness =
    (asAsked !== undefined || request.witness === true) && state !== "DENIED"
      ? proofRelationships(proof)
      : undefined;
  const answer = answerLiteral(state, missing, revision, token, explained, witness);
  if (asAsked !== undefined) {
    asAsked.answer =
      witness === undefined || request.witness === true
        ? answer
        : answerLiteral(state, missing, revision, token, explained, undefined);
  }
  return answer;
}

/**
 * An answer as one literal of each shape rather than a spread of its optional parts: one fixed
 * map per shape, no property added.
 */
function answerLiteral(
  state: CheckResult["state"],
  missing: CheckResult["missing"],
  revision: Revision,
  token: string,
  explain: CheckResult["explain"],
  witness: CheckResult["witness"],
): CheckResult {
  if (explain !== undefined) {
    return witness === undefined
      ? { state, missing, revision, token, explain }
      : { state, missing, revision, token, explain, witness };
  }
  return witness === undefined
    ? { state, missing, revision, token }
    : { state, missing, revision, token, witness };
}

/** A membership with its proof. */
interface Proved {
  readonly m: Member | undefined;
  readonly proof: Proof;
}

/** A no, which needs no proof. */
const NO_PROOF: Proved = Object.freeze({ m: undefined, proof: undefined });

/**
 * The membership and its proof: remembered from an earlier witnessing check, or a no remembered
 * from a plain one (a no needs no proof), else from the in-memory walk (witnessing), whose answer
 * then serves plain checks too, or the batched evaluator, which neither reads nor joins the
 * answers of plain checks (they have no proof). Synchronous unless the batched evaluator answers.
 */
function witnessedMembership(
  deps: CheckDeps,
  plan: Plan,
  revision: Revision,
  member: PlanMember,
  id: string,
  subjectKey: string,
  request: CheckRequest,
  signal: Cancellation | undefined,
): Proved | Promise<Proved> {
  const key = deps.topKey(plan, revision, member, id, subjectKey);
  if (key !== undefined) {
    const now = Date.now();
    const hit = deps.recallWitnessed(key, now);
    if (hit !== undefined) return hit;
    const plain = deps.recall(key, now);
    if (plain !== undefined && plain.m === undefined) return NO_PROOF;
  }
  const snapshot = deps.store.at(revision).snapshot?.();
  if (snapshot !== undefined) {
    const walk = deps.snapshotWalk(plan, revision, snapshot, request.subject, subjectKey, true);
    const walked = deps.answerBy(walk, member, id, key);
    if (walked !== undefined) {
      const m = walked === false ? undefined : walked;
      deps.rememberWitnessed(key, walk, m);
      return { m, proof: walk.witness() };
    }
  }
  return provedByEvaluator(
    deps,
    requestContext(deps, plan, revision, request, subjectKey, undefined, signal, true),
    member,
    id,
  );
}

function provedByEvaluator(
  deps: CheckDeps,
  ctx: RequestContext,
  member: PlanMember,
  id: string,
): Promise<Proved> {
  return deps.run(ctx, member, [id]).then((out) => ({ m: out.m.get(id), proof: out.w?.get(id) }));
}

/**
 * The membership of a plain check (no explanation, no contextual relationships): from the shared
 * cache, else the in-memory walk (both synchronous), else the batched evaluator, run once for
 * concurrent equals.
 */
function plainMembership(
  deps: CheckDeps,
  plan: Plan,
  revision: Revision,
  member: PlanMember,
  id: string,
  subjectKey: string,
  request: CheckRequest,
  signal: Cancellation | undefined,
): Member | undefined | Promise<Member | undefined> {
  // A cached answer needs no request context at all (building one is most of a hit's cost).
  const topKey = deps.topKey(plan, revision, member, id, subjectKey);
  const cachedTop = topKey === undefined ? undefined : deps.recall(topKey, Date.now());
  if (cachedTop !== undefined) return cachedTop.m;
  // Most checks are answered at once by the in-memory walk, when the store has one.
  const snapshot = deps.store.at(revision).snapshot?.();
  if (snapshot !== undefined) {
    const walked = deps.answerBy(
      deps.snapshotWalk(plan, revision, snapshot, request.subject, subjectKey),
      member,
      id,
      topKey,
    );
    if (walked !== undefined) return walked === false ? undefined : walked;
  }
  return plainByEvaluator(deps, plan, revision, member, id, subjectKey, request, signal);
}

/** A plain check's membership from the batched evaluator, run once for concurrent equals. */
function plainByEvaluator(
  deps: CheckDeps,
  plan: Plan,
  revision: Revision,
  member: PlanMember,
  id: string,
  subjectKey: string,
  request: CheckRequest,
  signal: Cancellation | undefined,
): Promise<Member | undefined> {
  const key = `${plan.id}|${revision}|${member.label}:${id}@${subjectKey}`;
  const ctx = () => requestContext(deps, plan, revision, request, subjectKey, undefined, signal, false);
  const flight = deps.topFlights.join(key, () => deps.run(ctx(), member, [id]).then((r) => r.m.get(id)));
  if ("own" in flight) return flight.own;
  return flight.joined.catch(async (e: unknown) => {
    // The first caller's deadline is not ours.
    if (!(e instanceof LatchError && e.code === "request/deadline-exceeded") || signal?.aborted) throw e;
    return (await deps.run(ctx(), member, [id])).m.get(id);
  });
}
