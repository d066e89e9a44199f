/**
 * The plain types and helpers every entry point (`latch`, `latch/embedded`, `latch/client`) offers
 * a caller to build requests and read answers. Nothing here loads a transport.
 */

export { SIGNATURE_HEADER, signBody, verifySignature } from "../approvals/webhook.js";
export { decisionSentence } from "../audit/sentence.js";
export type {
  AnyErrorCode,
  CheckState,
  CliErrorCode,
  DecisionState,
  DiagnosticCode,
  ErrorCode,
  ErrorKind,
  ObjectRef,
  Relationship,
  Revision,
  SubjectRef,
} from "../core/index.js";
export {
  CliErrorCodes,
  DiagnosticCodes,
  ErrorCodes,
  formatObjectRef,
  formatRelationship,
  formatSubjectRef,
  isLatchError,
  LatchError,
  parseObjectRef,
  parseRelationship,
  parseSubjectRef,
} from "../core/index.js";
export type { Consistency, ExplainNode } from "../engine/index.js";
export { compileSchema, formatSchema, SchemaError } from "../schema/index.js";
export { type AuthorizedSet, type AuthorizedSetOptions, watchAuthorizedSet } from "./authorized-set.js";
export { type FilterOptions, filterAuthorized } from "./filter.js";
export type * from "./types.js";
