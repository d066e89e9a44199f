/**
 * The package's public face: the client (gRPC or embedded, one interface), the RAG filter helper,
 * and the plain types and helpers a caller needs to build requests and read answers.
 */
export * from "./client/index.js";
export type {
  AnyErrorCode,
  CheckState,
  CliErrorCode,
  DiagnosticCode,
  ErrorCode,
  ErrorKind,
  ObjectRef,
  Relationship,
  Revision,
  SubjectRef,
} from "./core/index.js";
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
} from "./core/index.js";
export type { Consistency, ExplainNode } from "./engine/index.js";
export { compileSchema, formatSchema, SchemaError } from "./schema/index.js";
