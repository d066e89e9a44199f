/**
 * What is recorded of a decision: a plain DecisionRecord made from the request, its answer and
 * the call's metadata. Caveat context values are redacted unless their parameter is loggable:
 * a context may hold what a caller would not want in a log (an IP address, an amount, a purpose).
 * An answer's witness is recorded as relationships with their caveat's name (and expiration), never
 * the caveat's stored context.
 */
import {
  type CheckState,
  formatObjectRef,
  formatSubjectRef,
  formatTimestamp,
  type Relationship,
  type SubjectRef,
} from "../core/index.js";
import type { CheckRequest, CheckResult, ExplainNode, Witness } from "../engine/index.js";
import type { DecisionCaveat, DecisionRecord } from "../store/index.js";

/** What a redacted value is written as. */
export const REDACTED = "[redacted]";

/**
 * The delegation half of the decision seam adds `onBehalfOf` to requests; read structurally here
 * so the audit trail records it whichever decorator adds it.
 */
export interface WithChain {
  readonly onBehalfOf?: readonly SubjectRef[];
  /** `not-required`: the subject needs no grant of its own, the principal's and the delegation decide. */
  readonly subjectGrants?: string;
}

/** What a transport may pass with a call's options so the record names the call and the caller. */
export interface AuditCallInfo {
  readonly requestId?: string | undefined;
  /** The caller's name (a token's name, never the token). */
  readonly caller?: string | undefined;
}

export function chainOf(request: object): readonly SubjectRef[] | undefined {
  const chain = (request as WithChain).onBehalfOf;
  return chain !== undefined && chain.length > 0 ? chain : undefined;
}

export function redactContext(
  context: Readonly<Record<string, unknown>> | undefined,
  loggable: ReadonlySet<string>,
): Readonly<Record<string, unknown>> | undefined {
  if (context === undefined) return undefined;
  const keys = Object.keys(context);
  if (keys.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of keys.sort()) out[key] = loggable.has(key) ? jsonSafe(context[key]) : REDACTED;
  return out;
}

/** Values as canonical JSON can hold them: bigints (CEL ints) as decimal text, dates as ISO. */
function jsonSafe(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v);
    return out;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

/** One witness relationship as recorded: `room:401#booker@user:alice`, `...[caveat_name]`. */
export function witnessText(r: Relationship): string {
  let out = `${formatObjectRef(r.resource)}#${r.relation}@${formatSubjectRef(r.subject)}`;
  if (r.caveat !== undefined) out += `[${r.caveat.name}]`;
  if (r.expiration !== undefined) out += `[expiration:${formatTimestamp(r.expiration)}]`;
  return out;
}

/** The caveats an explanation shows as evaluated (name and result), in the order met, once each. */
export function caveatsOf(explain: ExplainNode | undefined): readonly DecisionCaveat[] | undefined {
  if (explain === undefined) return undefined;
  const seen = new Map<string, DecisionCaveat>();
  const walk = (node: ExplainNode) => {
    for (const c of node.caveats ?? []) {
      const key = `${c.name}:${c.result}`;
      if (!seen.has(key)) seen.set(key, { name: c.name, result: c.result });
    }
    for (const child of node.children ?? []) walk(child);
  };
  walk(explain);
  return seen.size === 0 ? undefined : [...seen.values()];
}

export interface DecisionFacts {
  readonly operation: string;
  readonly subject: SubjectRef;
  readonly chain: readonly SubjectRef[] | undefined;
  readonly subjectGrants?: string | undefined;
  readonly resource: { readonly type: string; readonly id: string };
  readonly permission: string;
  readonly state: CheckState;
  readonly missing: readonly string[];
  readonly context: Readonly<Record<string, unknown>> | undefined;
  readonly consistency: CheckRequest["consistency"];
  readonly revision: bigint;
  readonly explain?: ExplainNode | undefined;
  readonly latencyUs?: number | undefined;
  /** Why a gate answered DENIED (the answer's `reason`, read structurally). */
  readonly reason?: string | undefined;
  readonly witness?: Witness | undefined;
}

export function makeRecord(
  facts: DecisionFacts,
  info: AuditCallInfo | undefined,
  loggable: ReadonlySet<string>,
  now: number,
): DecisionRecord {
  const record: { -readonly [K in keyof DecisionRecord]: DecisionRecord[K] } = {
    time: new Date(now).toISOString(),
    operation: facts.operation,
    subject: formatSubjectRef(facts.subject),
    resource: formatObjectRef(facts.resource),
    permission: facts.permission,
    answer: facts.state,
    consistency: facts.consistency?.kind ?? "minimize-latency",
    revision: facts.revision.toString(),
  };
  if (info?.requestId !== undefined) record.requestId = info.requestId;
  if (info?.caller !== undefined) record.caller = info.caller;
  if (facts.chain !== undefined) record.onBehalfOf = facts.chain.map(formatSubjectRef);
  if (facts.subjectGrants !== undefined) record.subjectGrants = facts.subjectGrants;
  if (facts.missing.length > 0) record.missing = [...facts.missing];
  const caveats = caveatsOf(facts.explain);
  if (caveats !== undefined) record.caveats = caveats;
  const context = redactContext(facts.context, loggable);
  if (context !== undefined) record.context = context;
  if (facts.latencyUs !== undefined) record.latencyUs = facts.latencyUs;
  if (facts.reason !== undefined) record.reason = facts.reason;
  if (facts.witness !== undefined && facts.witness.length > 0)
    record.witness = facts.witness.map(witnessText);
  return record;
}

/** The facts of one Check. */
export function checkFacts(
  request: CheckRequest,
  result: CheckResult,
  chain: readonly SubjectRef[] | undefined,
  latencyUs: number | undefined,
): DecisionFacts {
  return {
    operation: "check",
    subject: request.subject,
    chain,
    subjectGrants: (request as WithChain).subjectGrants,
    resource: request.resource,
    permission: request.permission,
    state: result.state,
    missing: result.missing,
    context: request.context,
    consistency: request.consistency,
    revision: result.revision,
    explain: result.explain,
    latencyUs,
    reason: (result as { reason?: string }).reason,
    witness: result.witness,
  };
}
