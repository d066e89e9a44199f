/** ApprovalService: the approval flow (src/approvals) over gRPC. */
import type { ApprovalFlow } from "../approvals/index.js";
import { LatchError } from "../core/index.js";
import type { ApprovalService } from "../gen/latch/v1/approval_service_pb.js";
import { invalidArgument, permissionName } from "../service/index.js";
import { approverOf } from "./approver-identity.js";
import { contextFromProto, delegationFromProto, objectRefFromProto, subjectRefFromProto } from "./convert.js";
import { approvalStateFromProto, approvalToProto } from "./convert-approvals.js";
import type { ServiceImplementation } from "./grpc-adapter.js";
import { checkListLimit } from "./limits.js";

type Methods = (typeof ApprovalService)["method"];

export interface ApprovalHandlerOptions {
  /** Undefined when the server runs without approvals: every call is FAILED_PRECONDITION. */
  readonly approvals: ApprovalFlow | undefined;
  /** Aborted at shutdown so that streams end. */
  readonly shutdown: AbortSignal;
}

const id = (value: string, field = "approval_id") => {
  if (value === "") throw invalidArgument(field, "give the approval id (RequestApproval's approval_id)");
  return value;
};

export function approvalHandlers(options: ApprovalHandlerOptions): ServiceImplementation<Methods> {
  const flow = (): ApprovalFlow => {
    if (options.approvals === undefined)
      throw new LatchError("approval/not-gated", "failed-precondition", "this server runs without approvals");
    return options.approvals;
  };
  return {
    async writeApprovalRules(req) {
      const { version, rules } = await flow().writeRules(
        req.rules,
        req.fileName === "" ? undefined : req.fileName,
      );
      return { version, ruleIds: rules.rules.map((r) => r.id) };
    },

    async readApprovalRules() {
      const stored = await flow().readRules();
      return { version: stored?.version ?? 0, rules: stored?.text ?? "" };
    },

    async requestApproval(req) {
      const ticket = await flow().request({
        resource: objectRefFromProto(req.resource, "resource"),
        permission: permissionName(req.permission, "permission"),
        subject: subjectRefFromProto(req.subject, "subject"),
        ...delegationFromProto(req.onBehalfOf, req.subjectGrants),
        message: req.bindingMessage,
        justification: req.justification,
        ...(req.context === undefined ? {} : { context: contextFromProto(req.context)! }),
      });
      return {
        approvalId: ticket.id,
        expiresAt: approvalToProto(ticket.approval).expiresAt,
        intervalSeconds: Math.ceil(ticket.intervalSeconds),
        created: ticket.created,
        approval: approvalToProto(ticket.approval),
      };
    },

    async getApproval(req) {
      return { approval: approvalToProto(await flow().get(id(req.approvalId))) };
    },

    async listApprovals(req) {
      checkListLimit(req.limit);
      const state = approvalStateFromProto(req.state);
      const approvals = await flow().list({
        ...(state === undefined ? {} : { state }),
        ...(req.resource === "" ? {} : { resource: req.resource }),
        ...(req.subject === "" ? {} : { subject: req.subject }),
        ...(req.limit === 0 ? {} : { limit: req.limit }),
        ...(req.approvalId === "" ? {} : { id: req.approvalId }),
      });
      return { approvals: approvals.map(approvalToProto) };
    },

    async decideApproval(req, ctx) {
      const approval = await flow().decide({
        id: id(req.approvalId),
        approve: req.approve,
        approver: approverOf(ctx.caller, req.approver),
        reason: req.reason,
      });
      return { approval: approvalToProto(approval) };
    },

    async *awaitApproval(req, ctx) {
      const approval = await flow().await(
        id(req.approvalId),
        AbortSignal.any([ctx.signal, options.shutdown]),
      );
      yield { approval: approvalToProto(approval) };
    },

    async *watchApprovals(_req, ctx) {
      for await (const event of flow().watch(AbortSignal.any([ctx.signal, options.shutdown])))
        yield { kind: event.kind, approval: approvalToProto(event.approval) };
    },
  };
}
