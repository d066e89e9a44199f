/**
 * The signal calls of both clients (docs/signals.md): embedded mode gives the SET to the receiver
 * in process; the gRPC client calls SignalService (remote-signals.ts).
 */
import { LatchError } from "../core/index.js";
import type { Signals } from "../signals/index.js";
import type { Store } from "../store/index.js";
import type { LatchClient, ReceivedSignal } from "./types.js";

export type SignalCalls = Pick<LatchClient, "sendSignal" | "listSignals">;

export function embeddedSignalCalls(store: Store, signals: Signals | undefined): SignalCalls {
  return {
    async sendSignal(set) {
      if (signals === undefined)
        throw new LatchError(
          "signal/not-configured",
          "failed-precondition",
          "this client was opened without signals",
        );
      const { issuer, jti, token, effects } = await signals.receiver.receive(set, "cli");
      return { issuer, jti, revisionToken: token, effects };
    },
    async listSignals(query) {
      return (await store.signals.list(query ?? {})).map(
        ({ revision, ...signal }): ReceivedSignal => ({
          ...signal,
          revisionToken: store.encodeRevision(revision),
        }),
      );
    },
  };
}
