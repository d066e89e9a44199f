/**
 * Delegation: requests made by a subject on behalf of a chain of principals, answered as the AND
 * of the subject's, every principal's and every link's plain checks. A decorator on the decision
 * seam; `openLatch` installs it.
 */

export {
  createActorScopeGate,
  inActorScope,
  parseScopeClaim,
  type WithActorScope,
  type WithReason,
} from "./actor-scope.js";
export {
  type ActorChain,
  type ActorTokenOptions,
  type ActorTokenVerifier,
  chainOfClaims,
  createActorTokens,
  createActorTokenVerifier,
} from "./actor-token.js";
export { type Chain, checkChain, checkChainLength, MAX_CHAIN } from "./chain.js";
export {
  createDelegation,
  DEFAULT_DELEGATION_PERMISSION,
  type DelegationOptions,
  isDelegated,
} from "./delegation.js";
export { REQUESTED_PERMISSION, RESOURCE_ID, RESOURCE_TYPE, requestedPermission } from "./parts.js";
