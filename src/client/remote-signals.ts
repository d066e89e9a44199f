/** The gRPC client's signal calls: SignalService (docs/signals.md). */
import { SignalService } from "../gen/latch/v1/signal_service_pb.js";
import type { SignalEffect } from "../store/index.js";
import type { SignalCalls } from "./signals.js";
import type { Transport } from "./transport.js";
import type { SignalAnswer } from "./types.js";

const M = SignalService.method;

type ProtoEffect = { event: string; action: string; subject: string; deleted: bigint; note: string };

function effectFromProto(e: ProtoEffect): SignalEffect {
  return {
    event: e.event,
    action: e.action,
    ...(e.subject === "" ? {} : { subject: e.subject }),
    ...(e.action === "delete-relationships" || e.action === "revoke-delegations"
      ? { deleted: Number(e.deleted) }
      : {}),
    ...(e.note === "" ? {} : { note: e.note }),
  };
}

export function remoteSignalCalls(t: Transport): SignalCalls {
  return {
    async sendSignal(set, opts): Promise<SignalAnswer> {
      const res = await t.unary(M.sendSignal, { set }, opts, false);
      return {
        issuer: res.issuer,
        jti: res.jti,
        revisionToken: res.revisionToken,
        effects: res.effects.map(effectFromProto),
      };
    },
    async listSignals(query, opts) {
      const res = await t.unary(M.listSignals, { limit: query?.limit ?? 0 }, opts, true);
      return res.signals.map((s) => ({
        issuer: s.issuer,
        jti: s.jti,
        receivedAt: Number(s.receivedAtMs),
        via: s.via,
        events: s.events,
        effects: s.effects.map(effectFromProto),
        revisionToken: s.revisionToken,
      }));
    },
  };
}
