/**
 * The approval gate: a decorator on the decision seam. For an action an approval rule names, an
 * answer the inner seam gives as ALLOWED becomes APPROVAL_REQUIRED, unless an approved, still
 * valid approval matches the action exactly (resource, permission, subject, chain); then it stays
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
  type CheckRequest,
  checkNowThrough,
  type RequestOptions,
} from "../engine/index.js";
import type { Decorator } from "../service/index.js";
import { type ApprovalAction, type ApprovalStore, approvalActionKey } from "../store/index.js";
import type { ApprovalRule, ApprovalRules } from "./rules.js";

export interface ApprovalGateOptions {
  /** The rules in force (read on every check, so a rules write takes effect at once). */
  readonly rules: () => ApprovalRules;
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

/**
 * The rule that gates this request, if any. A `when` threshold is judged on the request's
 * context; a request that does not state the parameter is gated (unknown counts as high).
 */
export function ruleFor(rules: ApprovalRules, request: Gated): ApprovalRule | undefined {
  const candidates = rules.byAction.get(request.resource.type)?.get(request.permission);
  if (candidates === undefined) return undefined;
  for (const rule of candidates) {
    if (!rule.subjectTypes.includes(request.subject.type)) continue;
    if (rule.onBehalfOfOnly && (request.onBehalfOf?.length ?? 0) === 0) continue;
    if (rule.when !== undefined) {
      const value = request.context?.[rule.when.parameter];
      const n = typeof value === "bigint" ? Number(value) : typeof value === "number" ? value : undefined;
      if (n !== undefined && !(n > rule.when.above)) continue;
    }
    return rule;
  }
  return undefined;
}

export function actionOf(request: Gated): ApprovalAction {
  return {
    resource: formatObjectRef(request.resource),
    permission: request.permission,
    subject: formatSubjectRef(request.subject),
    chain: (request.onBehalfOf ?? []).map(formatSubjectRef),
  };
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
    const approval = await approvals.findApproved(action, at);
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

  const decorator: Decorator = (next) => ({
    // Not async: an ungated check is handed on as it is, with no promise of the gate's own, and
    // answered at once when `next` can.
    check: checkNowThrough(
      (request: CheckRequest, opts?: RequestOptions) => {
        const rule = ruleFor(options.rules(), request);
        if (rule === undefined) return next.check(request, opts);
        return next
          .check(request, opts)
          .then(async (result) =>
            result.state !== "ALLOWED" ? result : { ...result, ...(await gate(request, rule)) },
          );
      },
      next.check,
      (request) => ruleFor(options.rules(), request) === undefined,
    ),

    async checkBulk(request, opts) {
      const rules = options.rules();
      if (rules.byAction.size === 0) return next.checkBulk(request, opts);
      const result = await next.checkBulk(request, opts);
      let results: CheckBulkItemResult[] | undefined;
      for (let i = 0; i < request.items.length; i++) {
        const item = request.items[i]!;
        const answer = result.results[i]!;
        if (!answer.ok || answer.state !== "ALLOWED") continue;
        const rule = ruleFor(rules, item);
        if (rule === undefined) continue;
        results ??= [...result.results];
        results[i] = { ...answer, ...(await gate(item, rule)) };
      }
      return results === undefined ? result : { ...result, results };
    },

    // A lookup lists what the subject may reach; it acts on nothing, so it is not gated. The
    // check made before acting on a listed resource is.
    lookupResources: (request, opts) => next.lookupResources(request, opts),
  });
  return { decorator, forget: (key) => closed.delete(key) };
}
