/**
 * Security signals in (docs/signals.md): Security Event Tokens (RFC 8417) carrying CAEP and RISC
 * events, verified and mapped by rules to suspensions, subject attributes and relationship
 * deletions, which a gate on the decision seam applies to every check.
 */
export { EVENT_TYPES, KNOWN_EVENT_TYPES } from "./events.js";
export { createSignalGate } from "./gate.js";
export {
  createSignalReceiver,
  type SignalReceipt,
  type SignalReceiver,
  type SignalReceiverOptions,
} from "./receiver.js";
export {
  type AttributeSource,
  COMPLEX_MEMBERS,
  EMPTY_SIGNAL_RULES,
  parseSignalRules,
  type SignalAction,
  type SignalRules,
  SUBJECT_FORMATS,
  type SubjectRule,
} from "./rules.js";
export { openSignals, type Signals, type SignalsOptions } from "./signals.js";
export {
  createSubjectStates,
  type SubjectStateChanged,
  type SubjectStateListener,
  type SubjectStates,
} from "./subject-states.js";
export { resolveSubjects } from "./subjects.js";
export {
  createSetVerifier,
  MAX_SET_BYTES,
  type SetErrorCode,
  type SetVerifier,
  type SetVerifierOptions,
  setErrorCode,
  signalError,
  type VerifiedSet,
} from "./verify.js";

/** Whether `type:id` is suspended as last seen by this replica (for reports, not decisions). */
export function isSuspended(
  signals: {
    readonly states: { latest(type: string, id: string): { readonly suspended: boolean } | undefined };
  },
  subject: string,
): boolean {
  const colon = subject.indexOf(":");
  return signals.states.latest(subject.slice(0, colon), subject.slice(colon + 1))?.suspended === true;
}
