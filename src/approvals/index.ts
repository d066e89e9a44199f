/**
 * Human approval for high-risk actions (docs/approvals.md): rules beside the schema, a gate on the
 * decision seam answering APPROVAL_REQUIRED, and the CIBA-shaped flow that lets a person say yes.
 */
export { type ApprovalEvent, type ApprovalFeed, createApprovalFeed } from "./feed.js";
export {
  type ApprovalFlow,
  type ApprovalFlowOptions,
  type ApprovalTicket,
  createApprovalFlow,
  DEFAULT_POLL_INTERVAL_MS,
  type DecideInput,
  MAX_BINDING_MESSAGE,
  MAX_JUSTIFICATION,
  type RequestApprovalInput,
  SLOW_DOWN_STEP_MS,
  validateStoredRules,
} from "./flow.js";
export {
  type ApprovalGate,
  type ApprovalGateOptions,
  type AttributesOf,
  actionOf,
  createApprovalGate,
  ruleFor,
} from "./gate.js";
export {
  type ApprovalRule,
  type ApprovalRules,
  DEFAULT_REQUEST_TTL_MS,
  DEFAULT_VALID_FOR_MS,
  EMPTY_RULES,
  parseApprovalRules,
  parseDuration,
  ruleIdAtLine,
} from "./rules.js";
export {
  createWebhookNotifier,
  SIGNATURE_HEADER,
  signBody,
  verifySignature,
  type WebhookEvent,
  type WebhookOptions,
  webhookBody,
} from "./webhook.js";
