/**
 * Decision records and audit filters between their plain shapes (store, service) and the
 * AuditService messages, both ways: the server sends what the client reads back.
 */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  DecisionAnswer as AnswerMessage,
  type DecisionFilter as DecisionFilterMessage,
  type DecisionFilterSchema,
  type DecisionRecord as DecisionRecordMessage,
  type DecisionRecordSchema,
  type VerifyDecisionsResponse,
  type VerifyDecisionsResponseSchema,
} from "../gen/latch/v1/audit_service_pb.js";
import type { DecisionFilter } from "../service/index.js";
import type {
  DecisionAnswer,
  DecisionCaveat,
  DecisionRecord,
  StoredDecision,
  VerifyReport,
} from "../store/index.js";

const ANSWERS: Readonly<Record<DecisionAnswer, AnswerMessage>> = {
  ALLOWED: AnswerMessage.ALLOWED,
  DENIED: AnswerMessage.DENIED,
  CONDITIONAL: AnswerMessage.CONDITIONAL,
  APPROVAL_REQUIRED: AnswerMessage.APPROVAL_REQUIRED,
};

function answerToProto(answer: DecisionAnswer | undefined): AnswerMessage {
  return answer === undefined ? AnswerMessage.UNSPECIFIED : ANSWERS[answer];
}

function answerFromProto(answer: AnswerMessage): DecisionAnswer | undefined {
  switch (answer) {
    case AnswerMessage.ALLOWED:
      return "ALLOWED";
    case AnswerMessage.DENIED:
      return "DENIED";
    case AnswerMessage.CONDITIONAL:
      return "CONDITIONAL";
    case AnswerMessage.APPROVAL_REQUIRED:
      return "APPROVAL_REQUIRED";
    default:
      return undefined;
  }
}

export function decisionToProto(d: StoredDecision): MessageInitShape<typeof DecisionRecordSchema> {
  const r = d.record;
  return {
    seq: BigInt(d.seq),
    time: timestampFromDate(new Date(r.time)),
    requestId: r.requestId ?? "",
    caller: r.caller ?? "",
    operation: r.operation,
    subject: r.subject,
    onBehalfOf: [...(r.onBehalfOf ?? [])],
    subjectGrants: r.subjectGrants ?? "",
    resource: r.resource,
    permission: r.permission,
    answer: answerToProto(r.answer),
    missing: [...(r.missing ?? [])],
    caveats: (r.caveats ?? []).map((c) => ({ name: c.name, result: c.result })),
    ...(r.context === undefined ? {} : { context: r.context as JsonObject }),
    consistency: r.consistency ?? "",
    revision: r.revision ?? "",
    approvalId: r.approvalId ?? "",
    approvalRule: r.approvalRule ?? "",
    latencyUs: BigInt(Math.max(0, Math.round(r.latencyUs ?? 0))),
    witness: [...(r.witness ?? [])],
    reason: r.reason ?? "",
    sampled: r.sampled === true,
    hash: d.hash,
    prevHash: d.prevHash,
  };
}

/** The record as stored: fields the wire leaves empty are absent again. */
export function decisionFromProto(m: DecisionRecordMessage): StoredDecision {
  const nonEmpty = <T>(list: readonly T[]) => (list.length === 0 ? undefined : list);
  const text = (s: string) => (s === "" ? undefined : s);
  const fields: Record<string, unknown> = {
    time: m.time === undefined ? "" : timestampDate(m.time).toISOString(),
    requestId: text(m.requestId),
    caller: text(m.caller),
    operation: m.operation,
    subject: m.subject,
    onBehalfOf: nonEmpty(m.onBehalfOf),
    subjectGrants: text(m.subjectGrants),
    resource: m.resource,
    permission: m.permission,
    answer: answerFromProto(m.answer) ?? "DENIED",
    missing: nonEmpty(m.missing),
    caveats: nonEmpty(
      m.caveats.map((c): DecisionCaveat => ({ name: c.name, result: c.result as DecisionCaveat["result"] })),
    ),
    context: m.context,
    consistency: text(m.consistency),
    revision: text(m.revision),
    approvalId: text(m.approvalId),
    approvalRule: text(m.approvalRule),
    latencyUs: m.latencyUs === 0n ? undefined : Number(m.latencyUs),
    witness: nonEmpty(m.witness),
    reason: text(m.reason),
    sampled: m.sampled ? true : undefined,
  };
  const record = Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined),
  ) as unknown as DecisionRecord;
  return { seq: Number(m.seq), record, prevHash: m.prevHash, hash: m.hash };
}

export function decisionFilterToProto(f: DecisionFilter): MessageInitShape<typeof DecisionFilterSchema> {
  return {
    subject: f.subject ?? "",
    ...(f.since === undefined ? {} : { since: timestampFromDate(f.since) }),
    ...(f.until === undefined ? {} : { until: timestampFromDate(f.until) }),
    resourceType: f.resourceType ?? "",
    answer: answerToProto(f.answer),
  };
}

export function decisionFilterFromProto(m: DecisionFilterMessage | undefined): DecisionFilter {
  if (m === undefined) return {};
  const answer = answerFromProto(m.answer);
  return {
    ...(m.subject === "" ? {} : { subject: m.subject }),
    ...(m.since === undefined ? {} : { since: timestampDate(m.since) }),
    ...(m.until === undefined ? {} : { until: timestampDate(m.until) }),
    ...(m.resourceType === "" ? {} : { resourceType: m.resourceType }),
    ...(answer === undefined ? {} : { answer }),
  };
}

export function verifyReportToProto(r: VerifyReport): MessageInitShape<typeof VerifyDecisionsResponseSchema> {
  return {
    ok: r.ok,
    records: BigInt(r.records),
    firstSeq: BigInt(r.firstSeq ?? 0),
    lastSeq: BigInt(r.lastSeq ?? 0),
    headSeq: BigInt(r.head?.seq ?? 0),
    headHash: r.head?.hash ?? "",
    problemSeq: BigInt(r.problem?.seq ?? 0),
    problemKind: r.problem?.kind ?? "",
    problemMessage: r.problem?.message ?? "",
  };
}

export function verifyReportFromProto(m: VerifyDecisionsResponse): VerifyReport {
  const seq = (n: bigint) => (n === 0n ? undefined : Number(n));
  return {
    ok: m.ok,
    records: Number(m.records),
    firstSeq: seq(m.firstSeq),
    lastSeq: seq(m.lastSeq),
    head: m.headHash === "" ? undefined : { seq: Number(m.headSeq), hash: m.headHash },
    ...(m.problemKind === ""
      ? {}
      : {
          problem: {
            seq: Number(m.problemSeq),
            kind: m.problemKind as NonNullable<VerifyReport["problem"]>["kind"],
            message: m.problemMessage,
          },
        }),
  };
}
