/**
 * Delegation as a decorator on the decision seam: a request with an on-behalf-of chain is split
 * into plain checks (`parts.ts`), asked of the next decider in as few CheckBulk calls as the bulk
 * limit allows, all at one revision, and folded back into one answer. A request with no chain goes
 * straight to the next decider, untouched.
 */
import { formatSubjectRef, isLatchError, LatchError } from "../../core/index.js";
import type {
  CheckBulkItem,
  CheckBulkItemResult,
  CheckBulkRequest,
  CheckBulkResult,
  CheckRequest,
  CheckResult,
  Consistency,
  Delegated,
  ExplainNode,
  RequestOptions,
} from "../../engine/index.js";
import type { Decider, Decorator } from "../decider.js";
import { type Chain, checkChain } from "./chain.js";
import { lookupDelegated } from "./lookup.js";
import { and, type Part, type PermissionOf, partError, partsOf, type Verdict } from "./parts.js";

export interface DelegationOptions {
  /**
   * The permission of each principal type that says who it delegates to (`{ user: "delegate" }`);
   * a type not listed uses `delegate`.
   */
  readonly delegationPermission?: Readonly<Record<string, string>>;
  /** The most items the next decider takes in one CheckBulk (the engine's `maxBulkItems`, default 1,000). */
  readonly maxBulkItems?: number;
}

export const DEFAULT_DELEGATION_PERMISSION = "delegate";

/** True when a request asks for delegation at all; anything else passes straight through. */
export function isDelegated(request: Delegated): boolean {
  return (
    (request.onBehalfOf !== undefined && request.onBehalfOf.length > 0) ||
    request.subjectGrants === "not-required"
  );
}

interface Scope {
  readonly consistency?: Consistency;
  readonly contextualRelationships?: CheckRequest["contextualRelationships"];
}

/** CheckBulk over any number of items, in chunks the next decider accepts, all at one revision. */
async function bulk(
  next: Decider,
  items: readonly CheckBulkItem[],
  scope: Scope,
  maxItems: number,
  options: RequestOptions | undefined,
): Promise<CheckBulkResult> {
  const { consistency } = scope;
  const contextual =
    scope.contextualRelationships === undefined
      ? {}
      : { contextualRelationships: scope.contextualRelationships };
  const first = await next.checkBulk(
    {
      items: items.length <= maxItems ? items : items.slice(0, maxItems),
      ...(consistency === undefined ? {} : { consistency }),
      ...contextual,
    },
    options,
  );
  if (items.length <= maxItems) return first;
  const results = [...first.results];
  const pinned: Consistency = { kind: "at-exact-snapshot", token: first.token };
  for (let start = maxItems; start < items.length; start += maxItems) {
    const chunk = items.slice(start, start + maxItems);
    const more = await next.checkBulk({ items: chunk, consistency: pinned, ...contextual }, options);
    results.push(...more.results);
  }
  return { results, revision: first.revision, token: first.token };
}

/** One question's parts and where their answers start in the bulk results. */
type Planned =
  | { readonly parts: readonly Part[]; readonly start: number; readonly chain: Chain | undefined }
  | { readonly error: { readonly code: string; readonly message: string } };

/** Folds one question's answers; a failed part becomes the error it stands for. */
async function fold(
  next: Decider,
  planned: { readonly parts: readonly Part[]; readonly start: number; readonly chain: Chain | undefined },
  results: readonly CheckBulkItemResult[],
  token: string,
  scope: Scope,
  prefix: string,
  options: RequestOptions | undefined,
): Promise<Verdict> {
  const verdicts: Verdict[] = [];
  for (let i = 0; i < planned.parts.length; i++) {
    const result = results[planned.start + i]!;
    if (!result.ok) {
      const principals = planned.chain?.principals ?? [];
      const part = planned.parts[i]!;
      throw await partError(
        next,
        part,
        token,
        scope.contextualRelationships,
        result.error,
        principals,
        prefix,
        options,
      );
    }
    verdicts.push(result);
  }
  return and(verdicts);
}

async function explainParts(
  next: Decider,
  request: CheckRequest,
  chain: Chain,
  parts: readonly Part[],
  verdict: Verdict,
  token: string,
  options: RequestOptions | undefined,
): Promise<ExplainNode> {
  const consistency: Consistency = { kind: "at-exact-snapshot", token };
  const children = await Promise.all(
    parts.map(async (part) => {
      const r = await next.check(
        {
          ...part.item,
          ...(request.contextualRelationships === undefined
            ? {}
            : { contextualRelationships: request.contextualRelationships }),
          consistency,
          explain: true,
        },
        options,
      );
      const label = `${part.from.kind} ${part.item.resource.type}:${part.item.resource.id}#${part.item.permission}@${formatSubjectRef(part.item.subject)}`;
      return { label, state: r.state, children: r.explain === undefined ? [] : [r.explain] };
    }),
  );
  const actors = [request.subject, ...chain.principals].map(formatSubjectRef).join(" for ");
  return { label: `delegation ${actors}`, state: verdict.state, children };
}

export function createDelegation(options: DelegationOptions = {}): Decorator {
  const configured = options.delegationPermission ?? {};
  const permissionOf: PermissionOf = (type) =>
    Object.hasOwn(configured, type) ? configured[type]! : DEFAULT_DELEGATION_PERMISSION;
  const maxItems = options.maxBulkItems ?? 1000;

  return (next) => ({
    // A plain request goes straight on: no async frame of ours (a chained one is rare).
    check: (request, opts) =>
      isDelegated(request) ? checkDelegated(next, request, opts) : next.check(request, opts),

    checkBulk: (request, opts) =>
      request.items.some(isDelegated)
        ? checkBulkDelegated(next, request, opts)
        : next.checkBulk(request, opts),

    lookupResources: (request, opts) =>
      isDelegated(request)
        ? lookupDelegated(next, request, permissionOf, maxItems, opts)
        : next.lookupResources(request, opts),
  });

  async function checkDelegated(
    next: Decider,
    request: CheckRequest,
    opts?: RequestOptions,
  ): Promise<CheckResult> {
    const chain = checkChain(request.subject, request.onBehalfOf ?? [], request.subjectGrants);
    const parts = partsOf(request, chain, permissionOf);
    const answer = await bulk(
      next,
      parts.map((p) => p.item),
      request,
      maxItems,
      opts,
    );
    const planned = { parts, start: 0, chain };
    const verdict = await fold(next, planned, answer.results, answer.token, request, "", opts);
    const result: CheckResult = {
      state: verdict.state,
      missing: verdict.missing,
      revision: answer.revision,
      token: answer.token,
    };
    if (request.explain !== true) return result;
    return {
      ...result,
      explain: await explainParts(next, request, chain, parts, verdict, answer.token, opts),
    };
  }

  async function checkBulkDelegated(
    next: Decider,
    request: CheckBulkRequest,
    opts?: RequestOptions,
  ): Promise<CheckBulkResult> {
    if (request.items.length > maxItems) {
      throw new LatchError(
        "check/too-many-items",
        "resource-exhausted",
        `at most ${maxItems} items per bulk check, got ${request.items.length}`,
        { max: maxItems, count: request.items.length },
      );
    }
    const items: CheckBulkItem[] = [];
    const plan: Planned[] = request.items.map((item, i) => {
      try {
        const chain = isDelegated(item)
          ? checkChain(item.subject, item.onBehalfOf ?? [], item.subjectGrants, `items[${i}].`)
          : undefined;
        const parts: readonly Part[] =
          chain === undefined ? [{ from: { kind: "subject" }, item }] : partsOf(item, chain, permissionOf);
        const start = items.length;
        for (const p of parts) items.push(p.item);
        return { parts, start, chain };
      } catch (e) {
        if (!isLatchError(e)) throw e;
        return { error: { code: e.code, message: e.message, kind: e.kind, details: e.details } };
      }
    });
    const answer = await bulk(next, items, request, maxItems, opts);
    const results = await Promise.all(
      plan.map(async (planned, i): Promise<CheckBulkItemResult> => {
        if ("error" in planned) return { ok: false, error: planned.error };
        if (planned.chain === undefined) return answer.results[planned.start]!;
        try {
          const v = await fold(next, planned, answer.results, answer.token, request, `items[${i}].`, opts);
          return { ok: true, state: v.state, missing: v.missing };
        } catch (e) {
          if (!isLatchError(e)) throw e;
          return { ok: false, error: { code: e.code, message: e.message, kind: e.kind, details: e.details } };
        }
      }),
    );
    return { results, revision: answer.revision, token: answer.token };
  }
}
