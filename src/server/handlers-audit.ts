/** AuditService: the decision log of the datastore, queried, watched and verified. */
import type { AuditService } from "../gen/latch/v1/audit_service_pb.js";
import { queryDecisions, watchDecisions } from "../service/index.js";
import type { Store } from "../store/index.js";
import { decisionFilterFromProto, decisionToProto, verifyReportToProto } from "./convert-decisions.js";
import type { ServiceImplementation } from "./grpc-adapter.js";

type Methods = (typeof AuditService)["method"];

export interface AuditHandlerOptions {
  readonly store: Store;
  /** How often WatchDecisions reads the log for new records. */
  readonly watchPollMs: number;
  /** Aborted at shutdown so that WatchDecisions streams end. */
  readonly shutdown: AbortSignal;
}

export function auditHandlers(options: AuditHandlerOptions): ServiceImplementation<Methods> {
  const log = options.store.decisions;
  return {
    async queryDecisions(req) {
      const page = await queryDecisions(log, {
        ...decisionFilterFromProto(req.filter),
        pageSize: req.pageSize,
        cursor: req.cursor,
      });
      return { decisions: page.decisions.map(decisionToProto), nextCursor: page.cursor ?? "" };
    },

    async *watchDecisions(req, ctx) {
      const records = watchDecisions(log, {
        ...decisionFilterFromProto(req.filter),
        after: req.after,
        pollMs: options.watchPollMs,
        signal: AbortSignal.any([ctx.signal, options.shutdown]),
      });
      for await (const { decision, cursor } of records) yield { decision: decisionToProto(decision), cursor };
    },

    async verifyDecisions() {
      return verifyReportToProto(await log.verify());
    },
  };
}
