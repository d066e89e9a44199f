/**
 * The approval calls of both clients (docs/approvals.md): embedded mode calls the flow in
 * process (here); the gRPC client calls ApprovalService (remote-approvals.ts).
 */
import type { ApprovalFlow } from "../approvals/index.js";
import { LatchError, type SubjectRef } from "../core/index.js";
import { checkChainLength } from "../service/index.js";
import type { StoredApproval } from "../store/index.js";
import { toObject, toSubject } from "./inputs.js";
import type { Approval, LatchClient } from "./types.js";

export type ApprovalCalls = Pick<
  LatchClient,
  | "writeApprovalRules"
  | "readApprovalRules"
  | "requestApproval"
  | "getApproval"
  | "listApprovals"
  | "decideApproval"
  | "awaitApproval"
>;

export const view = ({ validForMs: _, ...approval }: StoredApproval): Approval => approval;

export function embeddedApprovalCalls(approvals: ApprovalFlow | undefined): ApprovalCalls {
  const flow = (): ApprovalFlow => {
    if (approvals === undefined)
      throw new LatchError(
        "approval/not-gated",
        "failed-precondition",
        "this client was opened without approvals",
      );
    return approvals;
  };
  return {
    async writeApprovalRules(rules, opts) {
      const { version, rules: parsed } = await flow().writeRules(rules, opts?.fileName);
      return { version, ruleIds: parsed.rules.map((r) => r.id) };
    },
    async readApprovalRules() {
      const stored = await flow().readRules();
      return { version: stored?.version ?? 0, rules: stored?.text ?? "" };
    },
    async requestApproval(params) {
      if (params.onBehalfOf !== undefined) checkChainLength(params.onBehalfOf.length, "");
      const ticket = await flow().request({
        resource: toObject(params.resource),
        permission: params.permission,
        subject: toSubject(params.subject),
        ...(params.onBehalfOf === undefined
          ? {}
          : { onBehalfOf: params.onBehalfOf.map((p) => toSubject(p)) }),
        ...(params.subjectGrants === undefined ? {} : { subjectGrants: params.subjectGrants }),
        message: params.message,
        ...(params.justification === undefined ? {} : { justification: params.justification }),
        ...(params.context === undefined ? {} : { context: params.context }),
      });
      return { ...ticket, approval: view(ticket.approval) };
    },
    getApproval: async (id) => view(await flow().get(id)),
    listApprovals: async (query) => (await flow().list(query ?? {})).map(view),
    decideApproval: async (params) =>
      view(
        await flow().decide({
          id: params.id,
          approve: params.approve,
          approver: toSubject(params.approver) as SubjectRef,
          ...(params.reason === undefined ? {} : { reason: params.reason }),
        }),
      ),
    awaitApproval: async (id, opts) => view(await flow().await(id, opts?.signal)),
  };
}
