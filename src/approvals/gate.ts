/**
 * The approval gate: a decorator on the decision seam. For an action an approval rule names, an
 * answer the inner seam gives as ALLOWED becomes APPROVAL_REQUIRED, unless an approved, still
 * valid approval matches the action exactly (resource, permission, subject, chain); then it stays
 * ALLOWED and carries the approval's id. A gate never grants: DENIED and CONDITIONAL pass
 * through unchanged, and since the inner answer is computed on every check, revoking anything the
 * approval relied on makes the check DENIED at once, approval or not.
 *
 * Cost: a check whose resource type and permission no rule names pays two Map reads. A gated check
 * pays the rule match, then (only when the inner answer is ALLOWED) one indexed store read.
 */
import { formatObjectRef, formatSubjectRef, type ObjectRef, type SubjectRef } from "../core/index.js";
import type { CheckBulkItemResult, CheckRequest } from "../engine/index.js";
import type { Decorator } from "../service/index.js";
import type { ApprovalAction, ApprovalStore } from "../store/index.js";
import type { ApprovalRule, ApprovalRules } from "./rules.js";

export interface ApprovalGateOptions {
  /** The rules in force (read on every check, so a rules write takes effect at once). */
  readonly rules: () => ApprovalRules;
  readonly approvals: ApprovalStore;
  readonly now?: () => number;
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

export function createApprovalGate(options: ApprovalGateOptions): Decorator {
  const now = options.now ?? Date.now;
  const { approvals } = options;

  /** The gate's answer for an ALLOWED inner answer of a gated request. */
  async function gate(
    request: Gated & { readonly consumeApproval?: boolean },
    rule: ApprovalRule,
  ): Promise<{ state: "ALLOWED" | "APPROVAL_REQUIRED"; approvalRule: string; approvalId?: string }> {
    const at = now();
    const approval = await approvals.findApproved(actionOf(request), at);
    const required = { state: "APPROVAL_REQUIRED" as const, approvalRule: rule.id };
    if (approval === undefined) return required;
    // Exactly one consumer wins (the store's guarded UPDATE); a loser needs a new approval.
    if (request.consumeApproval === true && approval.singleUse && !(await approvals.consume(approval.id, at)))
      return required;
    return { state: "ALLOWED", approvalRule: rule.id, approvalId: approval.id };
  }

  return (next) => ({
    // Not async: an ungated check is handed on as it is, with no promise of the gate's own.
    check(request: CheckRequest, opts) {
      const rule = ruleFor(options.rules(), request);
      if (rule === undefined) return next.check(request, opts);
      return next
        .check(request, opts)
        .then(async (result) =>
          result.state !== "ALLOWED" ? result : { ...result, ...(await gate(request, rule)) },
        );
    },

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
}
