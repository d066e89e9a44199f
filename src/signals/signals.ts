/**
 * Signals as `openLatch` wires them: the subject state view and its gate on the decision seam
 * (always, since any replica may write a suspension), and, when a transmitter is configured, the
 * receiver that verifies and applies SETs.
 */
import { LatchError } from "../core/index.js";
import { compileSchema } from "../schema/index.js";
import type { Decorator } from "../service/index.js";
import { latestReader, type Store } from "../store/index.js";
import { createSignalGate } from "./gate.js";
import { createSignalReceiver, type SignalReceipt, type SignalReceiver } from "./receiver.js";
import { EMPTY_SIGNAL_RULES, parseSignalRules, type SignalRules } from "./rules.js";
import { createSubjectStates, type SubjectStates } from "./subject-states.js";
import { createSetVerifier, type SetVerifierOptions } from "./verify.js";

export interface SignalsOptions {
  /** The transmitter whose SETs are accepted; without it `receive` is refused with `signal/not-configured`. */
  readonly transmitter?: SetVerifierOptions;
  /** The rules file's text (validated against the stored schema at open). */
  readonly rules?: string;
  /** Its name, for error messages. */
  readonly rulesFile?: string;
  readonly onReceived?: (receipt: SignalReceipt) => void;
  readonly onRefused?: (error: unknown) => void;
}

export interface Signals {
  readonly states: SubjectStates;
  /** The gate on the decision seam (suspensions, attributes). */
  readonly gate: Decorator;
  readonly receiver: SignalReceiver;
  readonly rules: SignalRules;
  close(): void;
}

const notConfigured = (): never => {
  throw new LatchError(
    "signal/not-configured",
    "failed-precondition",
    "this server has no SSF transmitter configured: start it with --ssf-jwks, --ssf-issuer and --ssf-audience (or LATCH_SSF_*)",
  );
};

export async function openSignals(store: Store, options: SignalsOptions = {}): Promise<Signals> {
  let rules = EMPTY_SIGNAL_RULES;
  if (options.rules !== undefined) {
    const stored = await (await latestReader(store)).readSchema();
    if (stored === undefined)
      throw new LatchError(
        "signal/invalid-rules",
        "invalid-argument",
        `${options.rulesFile ?? "signal rules"}: no schema is stored, so the rules cannot be checked; write a schema first`,
        { file: options.rulesFile ?? "" },
      );
    rules = parseSignalRules(options.rules, compileSchema(stored.text), options.rulesFile);
  }
  const verify = options.transmitter === undefined ? undefined : createSetVerifier(options.transmitter);
  const states = createSubjectStates(store);
  const receiver = createSignalReceiver({
    store,
    verify: verify ?? notConfigured,
    rules: () => rules,
    states,
    ...(options.onReceived === undefined ? {} : { onReceived: options.onReceived }),
    ...(options.onRefused === undefined ? {} : { onRefused: options.onRefused }),
  });
  return { states, gate: createSignalGate(states, store), receiver, rules, close: () => states.close() };
}
