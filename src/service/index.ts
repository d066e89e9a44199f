/**
 * The service layer: what every transport needs and none should own. Validation of plain values
 * (after wire decoding), the revision a read runs at, paging and export batches, the change feed,
 * and the decision seam. No wire types and no concrete store here: the gRPC
 * server and the embedded client both sit on top.
 */
export { readRevision } from "./consistency.js";
export {
  type Decider,
  type Decorator,
  decorate,
  deniedWithReason,
  lookupBatches,
  singleBatches,
} from "./decider.js";
export {
  DEFAULT_DECISION_PAGE_SIZE,
  type DecisionFilter,
  type DecisionPage,
  type DecisionQueryParams,
  decisionCursor,
  MAX_DECISION_PAGE_SIZE,
  queryDecisions,
  type WatchDecisionsOptions,
  watchDecisions,
} from "./decisions.js";
export {
  type ActorTokenOptions,
  checkChainLength,
  createActorScopeGate,
  createActorTokens,
  createActorTokenVerifier,
  createDelegation,
  DEFAULT_DELEGATION_PERMISSION,
  type DelegationOptions,
  isDelegated,
  MAX_CHAIN,
  REQUESTED_PERMISSION,
  RESOURCE_ID,
  RESOURCE_TYPE,
  type WithReason,
} from "./delegation/index.js";
export { importTooLarge, invalidArgument, overLimit, RequestError } from "./errors.js";
export { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from "./limits.js";
export * from "./permission-watch/index.js";
export { relationshipMatches } from "./relationship-match.js";
export { exportBatches, PAGE_SIZE, type ReadPagesOptions, readRelationshipPages } from "./relationships.js";
export {
  checkObjectRef,
  checkSubjectRef,
  objectId,
  objectRef,
  permissionName,
  relationName,
  subjectRef,
  typeName,
} from "./validate.js";
export { type WatchBatch, type WatchOptions, watchChanges } from "./watch.js";
