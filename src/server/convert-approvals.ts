/** Approvals between the store's shape and latch.v1's messages; shared by the server and the gRPC client. */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type Approval as ApprovalMessage,
  type ApprovalSchema,
  ApprovalState as StateMessage,
} from "../gen/latch/v1/approval_service_pb.js";
import type { ApprovalState, StoredApproval } from "../store/index.js";

const STATES: Readonly<Record<ApprovalState, StateMessage>> = {
  pending: StateMessage.PENDING,
  approved: StateMessage.APPROVED,
  denied: StateMessage.DENIED,
  expired: StateMessage.EXPIRED,
  consumed: StateMessage.CONSUMED,
};

export function approvalStateToProto(state: ApprovalState | undefined): StateMessage {
  return state === undefined ? StateMessage.UNSPECIFIED : STATES[state];
}

export function approvalStateFromProto(state: StateMessage): ApprovalState | undefined {
  for (const [name, value] of Object.entries(STATES)) if (value === state) return name as ApprovalState;
  return undefined;
}

const at = (ms: number | undefined) => (ms === undefined ? {} : timestampFromMs(ms));

export function approvalToProto(a: StoredApproval): MessageInitShape<typeof ApprovalSchema> {
  return {
    id: a.id,
    ruleId: a.ruleId,
    resource: a.resource,
    permission: a.permission,
    subject: a.subject,
    onBehalfOf: [...a.chain],
    state: approvalStateToProto(a.state),
    message: a.message,
    justification: a.justification,
    context: a.context as JsonObject,
    singleUse: a.singleUse,
    createdAt: timestampFromMs(a.createdAt),
    expiresAt: timestampFromMs(a.expiresAt),
    decidedBy: a.decidedBy ?? "",
    ...(a.decidedAt === undefined ? {} : { decidedAt: at(a.decidedAt) }),
    reason: a.reason ?? "",
    ...(a.validUntil === undefined ? {} : { validUntil: at(a.validUntil) }),
    ...(a.consumedAt === undefined ? {} : { consumedAt: at(a.consumedAt) }),
    witness: [...a.witness],
  };
}

export function approvalFromProto(m: ApprovalMessage): StoredApproval {
  const ms = (t: ApprovalMessage["createdAt"]) => (t === undefined ? undefined : timestampDate(t).getTime());
  const optional = {
    ...(m.decidedBy === "" ? {} : { decidedBy: m.decidedBy }),
    ...(ms(m.decidedAt) === undefined ? {} : { decidedAt: ms(m.decidedAt)! }),
    ...(m.reason === "" ? {} : { reason: m.reason }),
    ...(ms(m.validUntil) === undefined ? {} : { validUntil: ms(m.validUntil)! }),
    ...(ms(m.consumedAt) === undefined ? {} : { consumedAt: ms(m.consumedAt)! }),
  };
  return {
    id: m.id,
    ruleId: m.ruleId,
    resource: m.resource,
    permission: m.permission,
    subject: m.subject,
    chain: [...m.onBehalfOf],
    state: approvalStateFromProto(m.state) ?? "pending",
    message: m.message,
    justification: m.justification,
    context: (m.context ?? {}) as Record<string, unknown>,
    singleUse: m.singleUse,
    validForMs: 0,
    createdAt: ms(m.createdAt) ?? 0,
    expiresAt: ms(m.expiresAt) ?? 0,
    witness: [...m.witness],
    ...optional,
  };
}
