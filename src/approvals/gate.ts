/**
 * The approval gate: a decorator on the decision seam. For an action an approval rule names, an
 * answer the inner seam gives as ALLOWED becomes APPROVAL_REQUIRED, unless an approved, still
 * valid approval matches the action exactly (resource, permission, subject, chain, context); then it stays
 * ALLOWED and carries the approval's id. A gate never grants: DENIED and CONDITIONAL pass
 * through unchanged, and since the inner answer is computed on every check, revoking anything the
 * approval relied on makes the check DENIED at once, approval or not.
 *
 * Cost: a check whose resource type and permission no rule names pays two Map reads. A gated check
 * pays the rule match, then (only when the inner answer is ALLOWED) a lookup of an approval: one
 * indexed store read, whose "none" is remembered for `closedForMs` (default 1 s) so an agent
 * retrying a gated check does not read the store each time. That memory can only keep the gate
 * closed a little longer, never open it: a found approval is never remembered, and a decision made
 * through this process forgets the action at once (`forget`); one made through another replica is
 * seen within `closedForMs`.
 */
import { formatObjectRef, formatSubjectRef, type ObjectRef, type SubjectRef } from "../core/index.js";
import {
  type CheckBulkItemResult,
  type CheckBulkRequest,
  type CheckBulkResult,
  type CheckRequest,
  checkNowThrough,
  type RequestOptions,
  type Witness,
  withWitness,
} from "../engine/index.js";
import type { Decider, Decorator } from "../service/index.js";
import {
  type ApprovalAction,
  type ApprovalStore,
  approvalActionKey,
  sameApprovalContext,
} from "../store/index.js";
import type { ApprovalRule, ApprovalRules } from "./rules.js";

/** Attributes security signals set for a subject (they win over the request's context). */
export type AttributesOf = (subject: SubjectRef) => Readonly<Record<string, unknown>> | undefined;

export interface ApprovalGateOptions {
  /** The rules in force (read on every check, so a rules write takes effect at once). */
  readonly rules: () => ApprovalRules;
  /** Signals' attributes, when signals are on: a `when` threshold is judged on them too. */
  readonly attributesOf?: AttributesOf;
  readonly approvals: ApprovalStore;
  readonly now?: () => number;
  /** How long a "no approval" answer is remembered (ms; 0: never). */
  readonly closedForMs?: number;
}

/** Most actions remembered as having no approval; past it the memory starts over. */
const MAX_CLOSED = 10_000;

export interface ApprovalGate {
  readonly decorator: Decorator;
  /** Forgets that `actionKey` had no approval (called when one is approved). */
  forget(actionKey: string): void;
}

interface Gated {
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly subject: SubjectRef;
  readonly onBehalfOf?: readonly SubjectRef[];
  readonly context?: Readonly<Record<string, unknown>>;
}

const NONE: readonly ApprovalRule[] = Object.freeze([]);
/** A proof asked for and not given (see `proofsFor`). */
const UNPROVED = Symbol("unproved");

/** The rules naming this request's action and subject, before any `when` threshold is judged. */
export function candidatesFor(rules: ApprovalRules, request: Gated): readonly ApprovalRule[] {
  const named = rules.byAction.get(request.resource.type)?.get(request.permission);
  if (named === undefined) return NONE;
  const chained = (request.onBehalfOf?.length ?? 0) > 0;
  return named.filter(
    (rule) => rule.subjectTypes.includes(request.subject.type) && (chained || !rule.onBehalfOfOnly),
  );
}

/** A context value as a number; NaN is none (it compares false with any threshold: unknown, high). */
function numberOf(value: unknown): number | undefined {
  const n = typeof value === "bigint" ? Number(value) : typeof value === "number" ? value : undefined;
  return n === undefined || Number.isNaN(n) ? undefined : n;
}

/** The first rule that gates, given the value each `when` parameter is judged on (undefined: unknown, high). */
function firstGating(
  candidates: readonly ApprovalRule[],
  judged: (parameter: string) => number | undefined,
): ApprovalRule | undefined {
  for (const rule of candidates) {
    if (rule.when !== undefined) {
      const n = judged(rule.when.parameter);
      if (n !== undefined && !(n > rule.when.above)) continue;
    }
    return rule;
  }
  return undefined;
}

/**
 * The rule that gates this request judged on its context alone (a request that does not state a
 * `when` parameter is gated: unknown counts as high). Before an answer, to know whether to look.
 */
export function ruleFor(rules: ApprovalRules, request: Gated): ApprovalRule | undefined {
  return firstGating(candidatesFor(rules, request), (p) => numberOf(request.context?.[p]));
}

/**
 * The rule that gates an answered request. A `when` threshold is judged on the highest value the
 * decision may have used: the request's, one stored on a relationship of the answer's proof, one a
 * security signal set for the subject or a principal, since both of those win over the request's
 * own in the caveat; the request's alone let an agent claim `sensitivity: 0` where the data says 5.
 */
export function gatingRule(
  candidates: readonly ApprovalRule[],
  request: Gated,
  witness: Witness | undefined,
  attributesOf: AttributesOf | undefined,
): ApprovalRule | undefined {
  return firstGating(candidates, (parameter) => {
    let n = numberOf(request.context?.[parameter]);
    if (n === undefined) return undefined;
    const higher = (value: unknown) => {
      const v = numberOf(value);
      if (v !== undefined && v > n!) n = v;
    };
    for (const r of witness ?? []) higher(r.caveat?.context?.[parameter]);
    if (attributesOf !== undefined)
      for (const s of [request.subject, ...(request.onBehalfOf ?? [])]) higher(attributesOf(s)?.[parameter]);
    return n;
  });
}

/**
 * Whether judging `candidates` needs the answer's proof: only where the request's own value would
 * let a `when` rule pass (stated, and not above its threshold); a value absent or above it gates
 * whatever the proof holds.
 */
const needsProof = (candidates: readonly ApprovalRule[], request: Gated) =>
  candidates.some((r) => {
    if (r.when === undefined) return false;
    const n = numberOf(request.context?.[r.when.parameter]);
    return n !== undefined && !(n > r.when.above);
  });

export function actionOf(request: Gated): ApprovalAction {
  return {
    resource: formatObjectRef(request.resource),
    permission: request.permission,
    subject: formatSubjectRef(request.subject),
    chain: (request.onBehalfOf ?? []).map(formatSubjectRef),
    ...(request.context === undefined ? {} : { context: request.context }),
  };
}

/** An answer without the proof the gate asked for itself (the caller did not ask for one). */
function withoutWitness<T extends { readonly witness?: Witness }>(answer: T): T {
  if (answer.witness === undefined) return answer;
  const { witness: _, ...rest } = answer;
  return rest as T;
}

export function createApprovalGate(options: ApprovalGateOptions): ApprovalGate {
  const now = options.now ?? Date.now;
  const { approvals } = options;
  const closedFor = options.closedForMs ?? 1_000;
  /** Action key -> until when "no approval" holds. */
  const closed = new Map<string, number>();

  /** The gate's answer for an ALLOWED inner answer of a gated request. */
  async function gate(
    request: Gated & { readonly consumeApproval?: boolean },
    rule: ApprovalRule,
  ): Promise<{ state: "ALLOWED" | "APPROVAL_REQUIRED"; approvalRule: string; approvalId?: string }> {
    const at = now();
    const required = { state: "APPROVAL_REQUIRED" as const, approvalRule: rule.id };
    const action = actionOf(request);
    const key = approvalActionKey(action);
    const until = closed.get(key);
    if (until !== undefined && until > at) return required;
    const found = await approvals.findApproved(action, at);
    // The key covers the context; a row written before it did is held to it here.
    const approval =
      found !== undefined && sameApprovalContext(found.context, request.context) ? found : undefined;
    if (approval === undefined) {
      if (closedFor > 0) {
        if (closed.size >= MAX_CLOSED) closed.clear();
        closed.set(key, at + closedFor);
      }
      return required;
    }
    // Exactly one consumer wins (the store's guarded UPDATE); a loser needs a new approval.
    if (request.consumeApproval === true && approval.singleUse && !(await approvals.consume(approval.id, at)))
      return required;
    return { state: "ALLOWED", approvalRule: rule.id, approvalId: approval.id };
  }

  /**
   * The proofs of the ALLOWED items whose `when` the request's own value would pass, asked again
   * of just those, at the bulk's revision: one rule must not make a whole bulk (a retriever's
   * thousand chunks) prove every answer. By item index; none when the caller asked for proofs.
   */
  async function proofsFor(
    next: Decider,
    request: CheckBulkRequest,
    candidates: readonly (readonly ApprovalRule[])[],
    result: CheckBulkResult,
    opts: RequestOptions | undefined,
  ): Promise<Map<number, Witness | typeof UNPROVED>> {
    const proofs = new Map<number, Witness | typeof UNPROVED>();
    if (request.witness === true) return proofs;
    const asked = request.items.flatMap((item, i) => {
      const answer = result.results[i]!;
      return answer.ok && answer.state === "ALLOWED" && needsProof(candidates[i]!, item) ? [i] : [];
    });
    if (asked.length === 0) return proofs;
    const again = await next.checkBulk(
      {
        ...request,
        items: asked.map((i) => request.items[i]!),
        consistency: { kind: "at-exact-snapshot", token: result.token },
        witness: true,
      },
      opts,
    );
    asked.forEach((i, k) => {
      const r = again.results[k]!;
      // Answered otherwise the second time (an expiry at that instant): no proof, so gated.
      proofs.set(i, r.ok && r.state === "ALLOWED" && r.witness !== undefined ? r.witness : UNPROVED);
    });
    return proofs;
  }

  const decorator: Decorator = (next) => ({
    // Not async: an ungated check is handed on as it is, with no promise of the gate's own, and
    // answered at once when `next` can.
    check: checkNowThrough(
      (request: CheckRequest, opts?: RequestOptions) => {
        const candidates = candidatesFor(options.rules(), request);
        if (candidates.length === 0) return next.check(request, opts);
        const proved = request.witness !== true && needsProof(candidates, request);
        return next.check(proved ? withWitness(request) : request, opts).then(async (result) => {
          const answer = proved ? withoutWitness(result) : result;
          if (result.state !== "ALLOWED") return answer;
          const rule = gatingRule(candidates, request, result.witness, options.attributesOf);
          return rule === undefined ? answer : { ...answer, ...(await gate(request, rule)) };
        });
      },
      next.check,
      (request) => candidatesFor(options.rules(), request).length === 0,
    ),

    async checkBulk(request, opts) {
      const rules = options.rules();
      if (rules.byAction.size === 0) return next.checkBulk(request, opts);
      const candidates = request.items.map((item) => candidatesFor(rules, item));
      const result = await next.checkBulk(request, opts);
      const proofs = await proofsFor(next, request, candidates, result, opts);
      let results: CheckBulkItemResult[] | undefined;
      for (let i = 0; i < request.items.length; i++) {
        const item = request.items[i]!;
        const answer = result.results[i]!;
        if (!answer.ok || answer.state !== "ALLOWED" || candidates[i]!.length === 0) continue;
        const proof = proofs.get(i);
        const rule =
          proof === UNPROVED
            ? candidates[i]![0]
            : gatingRule(candidates[i]!, item, proof ?? answer.witness, options.attributesOf);
        if (rule === undefined) continue;
        results ??= [...result.results];
        results[i] = { ...answer, ...(await gate(item, rule)) } as CheckBulkItemResult;
      }
      return results === undefined ? result : { ...result, results };
    },

    // A lookup lists what the subject may reach; it acts on nothing, so it is not gated. The
    // check made before acting on a listed resource is.
    lookupResources: (request, opts) => next.lookupResources(request, opts),
  });
  return { decorator, forget: (key) => closed.delete(key) };
}
