/** The gRPC client's approval calls: ApprovalService (docs/approvals.md). */
import { LatchError } from "../core/index.js";
import { ApprovalService } from "../gen/latch/v1/approval_service_pb.js";
import { SubjectGrants } from "../gen/latch/v1/permission_service_pb.js";
import { objectRefToProto, subjectRefToProto } from "../server/convert.js";
import { approvalFromProto, approvalStateToProto } from "../server/convert-approvals.js";
import { type ApprovalCalls, view } from "./approvals.js";
import { toObject, toSubject } from "./inputs.js";
import type { Transport } from "./transport.js";
import type { Approval } from "./types.js";

const M = ApprovalService.method;

export function remoteApprovalCalls(t: Transport): ApprovalCalls {
  const one = (approval: Parameters<typeof approvalFromProto>[0] | undefined): Approval => {
    if (approval === undefined)
      throw new LatchError("internal/unexpected", "internal", "the server sent no approval");
    return view(approvalFromProto(approval));
  };
  return {
    async writeApprovalRules(rules, opts) {
      const res = await t.unary(M.writeApprovalRules, { rules, fileName: opts?.fileName ?? "" }, opts, false);
      return { version: res.version, ruleIds: res.ruleIds };
    },
    async readApprovalRules(opts) {
      const res = await t.unary(M.readApprovalRules, {}, opts, true);
      return { version: res.version, rules: res.rules };
    },
    async requestApproval(params, opts) {
      const res = await t.unary(
        M.requestApproval,
        {
          resource: objectRefToProto(toObject(params.resource)),
          permission: params.permission,
          subject: subjectRefToProto(toSubject(params.subject)),
          onBehalfOf: (params.onBehalfOf ?? []).map((p) => subjectRefToProto(toSubject(p))),
          subjectGrants:
            params.subjectGrants === undefined
              ? SubjectGrants.UNSPECIFIED
              : params.subjectGrants === "not-required"
                ? SubjectGrants.NOT_REQUIRED
                : SubjectGrants.REQUIRED,
          bindingMessage: params.message,
          justification: params.justification ?? "",
          ...(params.context === undefined ? {} : { context: params.context as never }),
        },
        opts,
        // Safe to repeat: a duplicate of a pending request gets the same id.
        true,
      );
      const approval = one(res.approval);
      return {
        id: res.approvalId,
        expiresAt: approval.expiresAt,
        intervalSeconds: res.intervalSeconds,
        created: res.created,
        approval,
      };
    },
    getApproval: async (id, opts) =>
      one((await t.unary(M.getApproval, { approvalId: id }, opts, true)).approval),
    async listApprovals(query, opts) {
      const res = await t.unary(
        M.listApprovals,
        {
          state: approvalStateToProto(query?.state),
          resource: query?.resource ?? "",
          subject: query?.subject ?? "",
          limit: query?.limit ?? 0,
          approvalId: query?.id ?? "",
        },
        opts,
        true,
      );
      return res.approvals.map((a) => view(approvalFromProto(a)));
    },
    decideApproval: async (params, opts) =>
      one(
        (
          await t.unary(
            M.decideApproval,
            {
              approvalId: params.id,
              approve: params.approve,
              approver: subjectRefToProto(toSubject(params.approver)),
              reason: params.reason ?? "",
            },
            opts,
            false,
          )
        ).approval,
      ),
    async awaitApproval(id, opts) {
      for await (const r of t.serverStream(M.awaitApproval, { approvalId: id }, opts, true))
        return one(r.approval);
      throw new LatchError(
        "internal/unexpected",
        "internal",
        `the stream awaiting approval ${id} ended without an answer`,
      );
    },
  };
}
