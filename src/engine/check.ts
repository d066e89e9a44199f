/**
 * Check: resolve the revision and plan, answer from the cache, the in-memory walk or the batched
 * evaluator (in that order of cost), then evaluate the collected caveat expression once with the
 * request context.
 */
import { LatchError } from "../core/index.js";
import { ALLOWED, abortCheck, type CheckDeps, DENIED } from "./check-deps.js";
import { type CaveatEvaluator, createCaveatEvaluator } from "./evaluate-caveats.js";
import { toExplainNode } from "./explain.js";
import type { Member } from "./membership.js";
import type { Plan, PlanMember } from "./plan.js";
import type { RequestContext } from "./request-context.js";
import type { Cancellation, CheckRequest, CheckResult, RequestOptions } from "./types.js";
import { indexContextual, resolveMember, validateContext, validateSubject } from "./validate-request.js";
import { type Proof, proofRelationships } from "./witness.js";

export async function check(
  deps: CheckDeps,
  request: CheckRequest,
  opts?: RequestOptions,
): Promise<CheckResult> {
  const signal = opts?.signal;
  abortCheck(signal);
  const limits = deps.limits;
  validateContext(request.context, limits.contextLimits);
  // Most requests resolve both at once: no await then (each would be a turn of the microtask queue).
  const resolved = deps.revisions.resolve(request.consistency, signal);
  const revision = typeof resolved === "bigint" ? resolved : await resolved;
  const planned = deps.revisions.planAt(revision);
  const plan = planned instanceof Promise ? await planned : planned;
  const member = resolveMember(plan, request.resource, request.permission);
  const subjectKey = validateSubject(plan, request.subject);
  const contextual = indexContextual(plan, request.contextualRelationships, limits.maxContextual);
  const explain = request.explain === true;
  const witness = request.witness === true;
  const id = request.resource.id;
  const ctx = () =>
    deps.makeContext(
      plan,
      revision,
      request.subject,
      subjectKey,
      contextual,
      explain,
      signal,
      new Map(),
      deps.resultsFor(contextual),
      witness,
    );
  let out: Awaited<ReturnType<CheckDeps["run"]>> | undefined;
  let m: Member | undefined;
  let proof: Proof;
  // Explanations and contextual relationships take the batched walk, with no shared cache.
  if (explain || contextual !== undefined) {
    out = await deps.run(ctx(), member, [id]);
    m = out.m.get(id);
    proof = out.w?.get(id);
  } else if (witness) {
    // Most answers are synchronous here too: an await would cost a turn of the microtask queue.
    const found = witnessedMembership(deps, plan, revision, member, id, subjectKey, request, ctx);
    ({ m, proof } = found instanceof Promise ? await found : found);
  } else {
    const found = plainMembership(deps, plan, revision, member, id, subjectKey, request.subject, signal, ctx);
    // Most answers are synchronous (cache or in-memory walk): no promise to wait for then.
    m = found instanceof Promise ? await found : found;
  }
  const evaluator: CaveatEvaluator | undefined =
    explain || (m !== undefined && m !== true)
      ? createCaveatEvaluator(plan.schema, request.context, false, limits.maxCaveatCost)
      : undefined;
  const verdict = evaluator?.verdict(m) ?? (m === true ? ALLOWED : DENIED);
  const trace = out?.t?.get(id)?.[0];
  const token = deps.tokens.of(revision);
  if (explain && trace !== undefined) {
    return {
      state: verdict.state,
      missing: verdict.missing,
      revision,
      token,
      explain: toExplainNode(trace, evaluator!, deps.traceLeaf(plan, request.context)),
      ...(witness && verdict.state !== "DENIED" ? { witness: proofRelationships(proof) } : {}),
    };
  }
  // A literal of its own rather than a spread of `{ witness }`: one fixed shape, no property added.
  if (witness && verdict.state !== "DENIED") {
    return {
      state: verdict.state,
      missing: verdict.missing,
      revision,
      token,
      witness: proofRelationships(proof),
    };
  }
  return { state: verdict.state, missing: verdict.missing, revision, token };
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
  revision: RequestContext["revision"],
  member: PlanMember,
  id: string,
  subjectKey: string,
  request: CheckRequest,
  ctx: () => RequestContext,
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
  return deps.run(ctx(), member, [id]).then((out) => ({ m: out.m.get(id), proof: out.w?.get(id) }));
}

/**
 * The membership of a plain check (no explanation, no contextual relationships): from the shared
 * cache, else the in-memory walk (both synchronous), else the batched evaluator, run once for
 * concurrent equals.
 */
function plainMembership(
  deps: CheckDeps,
  plan: Plan,
  revision: RequestContext["revision"],
  member: PlanMember,
  id: string,
  subjectKey: string,
  subject: CheckRequest["subject"],
  signal: Cancellation | undefined,
  ctx: () => RequestContext,
): Member | undefined | Promise<Member | undefined> {
  // A cached answer needs no request context at all (building one is most of a hit's cost).
  const topKey = deps.topKey(plan, revision, member, id, subjectKey);
  const cachedTop = topKey === undefined ? undefined : deps.recall(topKey, Date.now());
  if (cachedTop !== undefined) return cachedTop.m;
  // Most checks are answered at once by the in-memory walk, when the store has one.
  const snapshot = deps.store.at(revision).snapshot?.();
  if (snapshot !== undefined) {
    const walked = deps.answerBy(
      deps.snapshotWalk(plan, revision, snapshot, subject, subjectKey),
      member,
      id,
      topKey,
    );
    if (walked !== undefined) return walked === false ? undefined : walked;
  }
  const key = `${plan.id}|${revision}|${member.label}:${id}@${subjectKey}`;
  const flight = deps.topFlights.join(key, () => deps.run(ctx(), member, [id]).then((r) => r.m.get(id)));
  if ("own" in flight) return flight.own;
  return flight.joined.catch(async (e: unknown) => {
    // The first caller's deadline is not ours.
    if (!(e instanceof LatchError && e.code === "request/deadline-exceeded") || signal?.aborted) throw e;
    return (await deps.run(ctx(), member, [id])).m.get(id);
  });
}
