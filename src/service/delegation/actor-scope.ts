/**
 * The `scope` claim of an actor token (RFC 8693 §4.2, the space-separated list of RFC 6749 §3.3):
 * when a token carries one, it authorizes only the permissions it lists. An entry is either a
 * permission name (`read`: that permission on any resource type) or `type#permission`
 * (`document#read`); entries of any other shape (`openid`, `https://...`) match no request, so a
 * token whose scope lists no Latch permission authorizes nothing. No `scope` claim: no limit
 * beyond the chain's.
 *
 * A request outside the scope is answered DENIED (each such CheckBulk item DENIED; a lookup finds
 * nothing), not refused: it is an authorization question whose answer is no, and a DENIED decision
 * is what the audit trail records (under every policy but `off`), with the reason. A refusal
 * (an error) would leave no record of the attempt.
 *
 * The verified scope travels on the request (`actorScope`) from the actor-token decorator,
 * outermost on the seam, to this gate, which sits inside the audit recorder so that the recorder
 * sees the DENIED answer and its `reason`.
 */
import { type CheckBulkItemResult, checkNowThrough } from "../../engine/index.js";
import { type Decorator, deniedWithReason, type WithReason } from "../decider.js";

/** Added to a request by the actor-token decorator when its token carries `scope`. */
export interface WithActorScope {
  readonly actorScope?: readonly string[];
}

export type { WithReason };

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Splits the claim; anything but a string is a malformed token (the caller says how to refuse it). */
export function parseScopeClaim(value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TypeError("scope must be a space-separated string");
  const entries = value.split(" ").filter((entry) => entry !== "");
  // RFC 6749 §3.3's scope-token: printable ASCII but `"` and `\`; a line break in one would end
  // up in the audit trail's reasons.
  if (entries.some((entry) => !SCOPE_TOKEN.test(entry)))
    throw new TypeError("scope entries are printable ASCII without quotes or backslashes");
  return entries;
}

export function inActorScope(scope: readonly string[], resourceType: string, permission: string): boolean {
  return scope.includes(permission) || scope.includes(`${resourceType}#${permission}`);
}

function outOfScope(request: object, resourceType: string, permission: string): string | undefined {
  const scope = (request as WithActorScope).actorScope;
  if (scope === undefined || inActorScope(scope, resourceType, permission)) return undefined;
  return `outside the actor token's scope (${scope.length === 0 ? "empty" : scope.join(" ")}): it lists neither ${permission} nor ${resourceType}#${permission}`;
}

/**
 * The next decider still answers a request outside the scope (so bad input is refused as usual
 * and the answer carries a revision and a token); its answer is replaced by DENIED.
 */
export function createActorScopeGate(): Decorator {
  return (next) => ({
    check: checkNowThrough(
      (request, opts) => {
        const reason = outOfScope(request, request.resource.type, request.permission);
        if (reason === undefined) return next.check(request, opts);
        return next.check(request, opts).then((result) => deniedWithReason(result, reason));
      },
      next.check,
      (request) => outOfScope(request, request.resource.type, request.permission) === undefined,
    ),

    async checkBulk(request, opts) {
      const reasons = request.items.map((item) => outOfScope(item, item.resource.type, item.permission));
      const result = await next.checkBulk(request, opts);
      if (reasons.every((r) => r === undefined)) return result;
      const results = result.results.map((answer, i): CheckBulkItemResult & WithReason => {
        const reason = reasons[i];
        return reason === undefined || !answer.ok
          ? answer
          : { ok: true, state: "DENIED", missing: [], reason };
      });
      return { ...result, results };
    },

    lookupResources: (request, opts) =>
      outOfScope(request, request.resourceType, request.permission) === undefined
        ? next.lookupResources(request, opts)
        : (async function* () {})(),
  });
}
