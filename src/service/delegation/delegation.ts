/**
 * Delegation as a decorator on the decision seam: a request with an on-behalf-of chain is split
 * into plain checks (`parts.ts`), asked of the next decider in as few CheckBulk calls as the bulk
 * limit allows, all at one revision, and folded back into one answer. A request with no chain goes
 * straight to the next decider, untouched. Asked for a witness, an answer that is not DENIED
 * carries its parts' witnesses: the permission's (subject's, then each principal's), then each
 * link's (the delegation relationships).
 */
import { formatSubjectRef, isLatchError, LatchError } from "../../core/index.js";
import {
  type CheckBulkItem,
  type CheckBulkItemResult,
  type CheckBulkRequest,
  type CheckBulkResult,
  type CheckNow,
  type CheckRequest,
  type CheckResult,
  type Consistency,
  checkNowOf,
  checkNowThrough,
  type Delegated,
  type ExplainNode,
  type LookupResourcesRequest,
  type RequestOptions,
  type Witness,
  withLookupBatches,
} from "../../engine/index.js";
import { type Decider, type Decorator, lookupBatches, singleBatches } from "../decider.js";
import { type Chain, checkChain } from "./chain.js";
import { lookupDelegated } from "./lookup.js";
import {
  type Answer,
  and,
  type Part,
  type PermissionOf,
  partError,
  partsOf,
  resultOf,
  type Verdict,
  verdictOf,
} from "./parts.js";
import { answersNow, checkPartsNow } from "./parts-now.js";

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

function isPlain(request: Delegated): boolean {
  return !isDelegated(request);
}

interface Scope {
  readonly consistency?: Consistency;
  /** For a bulk's plain items only: a delegated question refuses them (`refuseContextual`). */
  readonly contextualRelationships?: CheckRequest["contextualRelationships"];
  readonly witness?: boolean;
}

/**
 * CheckBulk over any number of items, in chunks the next decider accepts, all at one revision.
 * One chunk (every chain of up to 8 principals in a Check) is the next decider's own promise: no
 * layer of ours around it.
 */
function bulk(
  next: Decider,
  items: readonly CheckBulkItem[],
  scope: Scope,
  maxItems: number,
  options: RequestOptions | undefined,
): Promise<CheckBulkResult> {
  const { consistency } = scope;
  const request: CheckBulkRequest = {
    items: items.length <= maxItems ? items : items.slice(0, maxItems),
    ...(consistency === undefined ? {} : { consistency }),
    ...shared(scope),
  };
  const first = next.checkBulk(request, options);
  return items.length <= maxItems ? first : first.then((r) => rest(next, items, r, scope, maxItems, options));
}

/** What every chunk of one question's parts shares besides its consistency. */
function shared(scope: Scope) {
  return {
    ...(scope.contextualRelationships === undefined
      ? {}
      : { contextualRelationships: scope.contextualRelationships }),
    ...(scope.witness === true ? { witness: true } : {}),
  };
}

/** The chunks after the first, pinned at its revision. */
async function rest(
  next: Decider,
  items: readonly CheckBulkItem[],
  first: CheckBulkResult,
  scope: Scope,
  maxItems: number,
  options: RequestOptions | undefined,
): Promise<CheckBulkResult> {
  const contextual = shared(scope);
  const results = [...first.results];
  const pinned: Consistency = { kind: "at-exact-snapshot", token: first.token };
  for (let start = maxItems; start < items.length; start += maxItems) {
    const chunk = items.slice(start, start + maxItems);
    const more = await next.checkBulk({ items: chunk, consistency: pinned, ...contextual }, options);
    results.push(...more.results);
  }
  return { results, revision: first.revision, token: first.token };
}

/**
 * Contextual relationships hold for every part of a question, so a delegated one could assert its
 * principals' grants and the delegations themselves: the ceiling the chain is held to must come
 * from the store. (Refused rather than applied to the subject's part alone: silently ignored, a
 * relationship sent for the person would read as the person's denial.)
 */
function refuseContextual(contextual: CheckRequest["contextualRelationships"], prefix: string): void {
  if (contextual === undefined || contextual.length === 0) return;
  throw new LatchError(
    "delegation/contextual-relationships",
    "invalid-argument",
    `${prefix}on_behalf_of with contextual_relationships: a request acting for someone cannot carry contextual relationships (they could grant its principals, or the delegations, what the store does not); write them, or ask without a chain`,
    { field: "contextual_relationships" },
  );
}

/** One question's parts and where their answers start in the bulk results. */
type Planned =
  | { readonly parts: readonly Part[]; readonly start: number; readonly chain: Chain | undefined }
  | { readonly error: { readonly code: string; readonly message: string } };

/** Folds one question's answers when every part was answered (the common case: no promise). */
function foldAnswered(
  planned: { readonly parts: readonly Part[]; readonly start: number },
  results: readonly CheckBulkItemResult[],
  scope: Scope,
): (Verdict & { readonly witness?: Witness }) | undefined {
  const verdicts: CheckBulkItemResult[] = [];
  for (let i = 0; i < planned.parts.length; i++) {
    const result = results[planned.start + i]!;
    if (!result.ok) return undefined;
    verdicts.push(result);
  }
  return verdictOf(planned.parts, verdicts as (Answer & CheckBulkItemResult)[], scope.witness === true);
}

/** Folds one question's answers; a failed part becomes the error it stands for. */
async function fold(
  next: Decider,
  planned: { readonly parts: readonly Part[]; readonly start: number; readonly chain: Chain | undefined },
  results: readonly CheckBulkItemResult[],
  token: string,
  scope: Scope,
  prefix: string,
  options: RequestOptions | undefined,
): Promise<Verdict & { readonly witness?: Witness }> {
  const verdicts: CheckBulkItemResult[] = [];
  for (let i = 0; i < planned.parts.length; i++) {
    const result = results[planned.start + i]!;
    if (!result.ok) {
      const principals = planned.chain?.principals ?? [];
      const part = planned.parts[i]!;
      throw await partError(next, part, token, result.error, principals, prefix, options);
    }
    verdicts.push(result);
  }
  return verdictOf(planned.parts, verdicts as (Answer & CheckBulkItemResult)[], scope.witness === true);
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
          consistency,
          explain: true,
        },
        options,
      );
      const label = `${part.from.kind} ${part.item.resource.type}:${part.item.resource.id}#${part.item.permission}@${formatSubjectRef(part.item.subject)}`;
      return { label, state: and([r]).state, children: r.explain === undefined ? [] : [r.explain] };
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

  return (next) => {
    // The next decider's form answered at once, if it has one: a delegated Check's parts go
    // through it (parts-now.ts) rather than a CheckBulk.
    const nextNow = checkNowOf(next.check);
    return {
      // A plain request goes straight on: no async frame of ours (a chained one is rare), and
      // answered at once when `next` can.
      check: checkNowThrough(
        (request, opts) =>
          isDelegated(request) ? checkDelegated(next, nextNow, request, opts) : next.check(request, opts),
        next.check,
        isPlain,
      ),

      checkBulk: (request, opts) =>
        request.items.some(isDelegated)
          ? checkBulkDelegated(next, request, opts)
          : next.checkBulk(request, opts),

      // A plain lookup keeps its engine's chunks; a chained one is handed on one result a chunk.
      lookupResources: withLookupBatches(
        (request: LookupResourcesRequest, opts?: RequestOptions) =>
          isDelegated(request)
            ? lookupDelegated(next, request, permissionOf, maxItems, opts)
            : next.lookupResources(request, opts),
        (request, opts) =>
          isDelegated(request)
            ? singleBatches(lookupDelegated(next, request, permissionOf, maxItems, opts))
            : lookupBatches(next, request, opts),
      ),
    };
  };

  function checkDelegated(
    next: Decider,
    nextNow: CheckNow | undefined,
    request: CheckRequest,
    opts?: RequestOptions,
  ): Promise<CheckResult> {
    let parts: Part[];
    let chain: Chain;
    let answered: CheckResult | Promise<CheckResult> | undefined;
    try {
      chain = checkChain(request.subject, request.onBehalfOf ?? [], request.subjectGrants);
      refuseContextual(request.contextualRelationships, "");
      parts = partsOf(request, chain, permissionOf);
      if (nextNow !== undefined && answersNow(request))
        answered = checkPartsNow(nextNow, request, parts, chain, opts);
    } catch (error) {
      return Promise.reject(error);
    }
    if (answered !== undefined) return answered instanceof Promise ? answered : Promise.resolve(answered);
    return checkDelegatedInBulk(next, request, chain, parts, opts);
  }

  function checkDelegatedInBulk(
    next: Decider,
    request: CheckRequest,
    chain: Chain,
    parts: Part[],
    opts?: RequestOptions,
  ): Promise<CheckResult> {
    const items = parts.map((p) => p.item);
    return bulk(next, items, request, maxItems, opts).then((answer) => {
      const planned = { parts, start: 0, chain };
      const verdict = foldAnswered(planned, answer.results, request);
      // The common case answers here; a failed part or an explanation needs more calls.
      if (verdict !== undefined && request.explain !== true) return resultOf(verdict, answer);
      return (async () => {
        const v = verdict ?? (await fold(next, planned, answer.results, answer.token, request, "", opts));
        if (request.explain !== true) return resultOf(v, answer);
        const explain = await explainParts(next, request, chain, parts, v, answer.token, opts);
        return { ...resultOf(v, answer), explain };
      })();
    });
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
        if (chain !== undefined) refuseContextual(request.contextualRelationships, `items[${i}].`);
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
          return {
            ok: true,
            state: v.state,
            missing: v.missing,
            ...(v.witness === undefined ? {} : { witness: v.witness }),
          };
        } catch (e) {
          if (!isLatchError(e)) throw e;
          return { ok: false, error: { code: e.code, message: e.message, kind: e.kind, details: e.details } };
        }
      }),
    );
    return { results, revision: answer.revision, token: answer.token };
  }
}
