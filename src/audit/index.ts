/**
 * The decision audit trail: a Decorator on the decision seam that records decisions in the
 * datastore's decision log (a hash chain with signed checkpoints, `store/decision-log.ts`), and
 * the readable form of a record. See docs/audit.md.
 */

export { OCSF_VERSION, type OcsfProduct, toOcsfEvent } from "./ocsf.js";
export { type AuditCallInfo, REDACTED, redactContext, type WithChain } from "./record.js";
export {
  type AuditFailure,
  type AuditMode,
  type AuditOptions,
  type AuditPolicy,
  type AuditRecorder,
  type AuditStats,
  createAuditRecorder,
} from "./recorder.js";
export { decisionSentence } from "./sentence.js";
