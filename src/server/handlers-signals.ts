/** SignalService: security signals in (src/signals) for transmitters that cannot push. */
import { LatchError } from "../core/index.js";
import type { SignalService } from "../gen/latch/v1/signal_service_pb.js";
import type { Signals } from "../signals/index.js";
import type { SignalEffect, Store } from "../store/index.js";
import type { ServiceImplementation } from "./grpc-adapter.js";
import { checkListLimit } from "./limits.js";

type Methods = (typeof SignalService)["method"];

export interface SignalHandlerOptions {
  readonly store: Store;
  /** Undefined when the server runs without signals: SendSignal is FAILED_PRECONDITION. */
  readonly signals: Signals | undefined;
}

function effectToProto(e: SignalEffect) {
  return {
    event: e.event,
    action: e.action,
    subject: e.subject ?? "",
    deleted: BigInt(e.deleted ?? 0),
    note: e.note ?? "",
  };
}

export function signalHandlers(options: SignalHandlerOptions): ServiceImplementation<Methods> {
  const { store } = options;
  return {
    async sendSignal(req) {
      if (options.signals === undefined)
        throw new LatchError(
          "signal/not-configured",
          "failed-precondition",
          "this server runs without signals",
        );
      const receipt = await options.signals.receiver.receive(req.set, "api");
      return {
        issuer: receipt.issuer,
        jti: receipt.jti,
        revisionToken: receipt.token,
        effects: receipt.effects.map(effectToProto),
      };
    },

    async listSignals(req) {
      checkListLimit(req.limit);
      const signals = await store.signals.list(req.limit === 0 ? {} : { limit: req.limit });
      return {
        signals: signals.map((s) => ({
          issuer: s.issuer,
          jti: s.jti,
          receivedAtMs: BigInt(s.receivedAt),
          via: s.via,
          events: [...s.events],
          effects: s.effects.map(effectToProto),
          revisionToken: store.encodeRevision(s.revision),
        })),
      };
    },
  };
}
