/**
 * A stored decision as an OCSF 1.3 event, for a SIEM (`latch audit export --format ocsf`).
 *
 * Class: API Activity (`class_uid` 6003, category 6 Application Activity). OCSF has no class for
 * "a policy decision point answered a question"; Authorize Session (3003) is about privileges given
 * to a login session, and its activities (Assign Privileges, Assign Groups) do not describe a
 * check. API Activity is what cloud audit logs (an API call, its actor, its resources, whether it
 * was authorized) are mapped to, and it carries an actor's `authorizations` with their decision.
 * A check is none of Create/Read/Update/Delete, so `activity_id` is 99 (Other) with the operation
 * as `activity_name`, and `type_uid` = 6003 * 100 + 99.
 *
 * Who: `actor.user` is the subject that asked (e.g. the agent); `actor.app_name` the caller (the
 * token's name). The on-behalf-of chain has no OCSF field of its own: `actor.session.issuer` is the
 * principal at the end of the chain (the person whose authority the session carries, as assumed-role
 * sessions are mapped), and the whole chain, nearest first, is in `unmapped.on_behalf_of`, also
 * spelled out in `message`. (`actor.invoked_by` is deprecated since OCSF 1.2.)
 *
 * What: `resources[0]` the object, `api.operation` the call, `actor.authorizations[0]` the
 * decision with the permission as its policy (and, when the record has a witness, the
 * relationships that proved it as the policy's description). `status_id` is 1 (Success) for
 * ALLOWED, 2 (Failure) for DENIED and 99 (Other) for CONDITIONAL, so a SIEM's "failed calls" view
 * shows the denials.
 */
import type { StoredDecision } from "../store/index.js";
import { decisionSentence } from "./sentence.js";

/** The OCSF schema version the events follow. */
export const OCSF_VERSION = "1.3.0";

const API_ACTIVITY = 6003;
const APPLICATION_ACTIVITY = 6;
const ACTIVITY_OTHER = 99;

/** The gRPC method each recorded operation came from. */
const OPERATIONS: Readonly<Record<string, string>> = {
  check: "CheckPermission",
  "check-bulk": "CheckBulkPermissions",
  "lookup-resources": "LookupResources",
};

const STATUS: Readonly<Record<string, { id: number; name: string }>> = {
  ALLOWED: { id: 1, name: "Success" },
  DENIED: { id: 2, name: "Failure" },
  CONDITIONAL: { id: 99, name: "Other" },
  APPROVAL_REQUIRED: { id: 99, name: "Other" },
};

export interface OcsfProduct {
  /** Latch's version, written as `metadata.product.version`. */
  readonly version?: string;
}

/** `type:id[#relation]` as an OCSF user: the Latch type is a source-specific user type (99). */
function user(ref: string) {
  const colon = ref.indexOf(":");
  const type = colon < 0 ? ref : ref.slice(0, colon);
  const rest = colon < 0 ? ref : ref.slice(colon + 1);
  return { uid: ref, name: rest, type, type_id: 99 };
}

function resource(ref: string) {
  const colon = ref.indexOf(":");
  return colon < 0 ? { uid: ref } : { uid: ref, type: ref.slice(0, colon), name: ref.slice(colon + 1) };
}

/** One stored decision as one OCSF API Activity event (a plain JSON object). */
export function toOcsfEvent(stored: StoredDecision, product: OcsfProduct = {}): Record<string, unknown> {
  const r = stored.record;
  const status = STATUS[r.answer] ?? { id: 0, name: "Unknown" };
  const chain = r.onBehalfOf ?? [];
  const operation = OPERATIONS[r.operation] ?? r.operation;
  const witness = r.witness !== undefined && r.witness.length > 0 ? r.witness : undefined;
  const policy = {
    name: `${resource(r.resource).type ?? r.resource}#${r.permission}`,
    ...(witness === undefined ? {} : { desc: `granted via ${witness.join(", ")}` }),
  };
  const actor = {
    user: user(r.subject),
    ...(r.caller === undefined ? {} : { app_name: r.caller }),
    ...(chain.length === 0 ? {} : { session: { issuer: chain[chain.length - 1] } }),
    authorizations: [{ decision: r.answer.toLowerCase(), policy }],
  };
  const unmapped = {
    ...(chain.length === 0 ? {} : { on_behalf_of: chain }),
    ...(r.subjectGrants === undefined ? {} : { subject_grants: r.subjectGrants }),
    permission: r.permission,
    answer: r.answer,
    ...(witness === undefined ? {} : { witness }),
    ...(r.reason === undefined ? {} : { reason: r.reason }),
    ...(r.missing === undefined ? {} : { missing: r.missing }),
    ...(r.caveats === undefined ? {} : { caveats: r.caveats }),
    ...(r.context === undefined ? {} : { context: r.context }),
    ...(r.consistency === undefined ? {} : { consistency: r.consistency }),
    ...(r.revision === undefined ? {} : { revision: r.revision }),
    ...(r.approvalId === undefined ? {} : { approval_id: r.approvalId }),
    ...(r.sampled === true ? { sampled: true } : {}),
    ...(r.latencyUs === undefined ? {} : { latency_us: r.latencyUs }),
    chain: { seq: stored.seq, prev_hash: stored.prevHash, hash: stored.hash },
  };
  return {
    class_uid: API_ACTIVITY,
    class_name: "API Activity",
    category_uid: APPLICATION_ACTIVITY,
    category_name: "Application Activity",
    activity_id: ACTIVITY_OTHER,
    activity_name: operation,
    type_uid: API_ACTIVITY * 100 + ACTIVITY_OTHER,
    type_name: `API Activity: ${operation}`,
    time: Date.parse(r.time),
    severity_id: 1,
    severity: "Informational",
    status_id: status.id,
    status: status.name,
    status_detail: r.reason === undefined ? r.answer : `${r.answer}: ${r.reason}`,
    message: decisionSentence(r),
    metadata: {
      version: OCSF_VERSION,
      uid: stored.hash,
      sequence: stored.seq,
      log_name: "decisions",
      log_provider: "latch",
      original_time: r.time,
      product: {
        name: "Latch",
        vendor_name: "Latch",
        ...(product.version === undefined ? {} : { version: product.version }),
      },
    },
    actor,
    api: {
      operation,
      service: { name: "latch.v1.PermissionService" },
      ...(r.requestId === undefined ? {} : { request: { uid: r.requestId } }),
    },
    // Required by the class; Latch does not record the caller's address, only its name.
    src_endpoint: { name: r.caller ?? "unknown" },
    resources: [resource(r.resource)],
    unmapped,
  };
}
