/**
 * What is recorded of a decision: a plain DecisionRecord made from the request, its answer and
 * the call's metadata. Caveat context values are redacted unless their parameter is loggable:
 * a context may hold what a caller would not want in a log (an IP address, an amount, a purpose).
 * An answer's witness is recorded as relationships with their caveat's name (and expiration), never
 * the caveat's stored context.
 */
import {
  type DecisionState,
  ELLIPSIS_RELATION,
  formatSubjectRef,
  formatTimestamp,
  type SubjectRef,
} from "../core/index.js";
import type { CheckRequest, CheckResult, ExplainNode, Witness } from "../engine/index.js";
import {
  type DecisionCaveat,
  type DecisionRecord,
  type EncodedDecision,
  encodeDecision,
} from "../store/index.js";

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

/** The caveats an explanation shows as evaluated (name and result), in the order met, once each. */
function caveatsOf(explain: ExplainNode | undefined): readonly DecisionCaveat[] | undefined {
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
  readonly state: DecisionState;
  readonly missing: readonly string[];
  readonly context: Readonly<Record<string, unknown>> | undefined;
  readonly consistency: CheckRequest["consistency"];
  readonly revision: bigint;
  readonly explain?: ExplainNode | undefined;
  readonly latencyUs?: number | undefined;
  /** Why a gate answered DENIED (the answer's `reason`, read structurally). */
  readonly reason?: string | undefined;
  /** The approval gate's part of the answer (src/approvals). */
  readonly approvalId?: string | undefined;
  readonly approvalRule?: string | undefined;
  readonly witness?: Witness | undefined;
  /** Recorded only because it was drawn in the `sample` of plain decisions. */
  readonly sampled?: boolean | undefined;
}

/**
 * A batch of decisions as captured on the decision path: per decision, `FIELDS` plain values (ids
 * and names as the request and the answer hold them, numbers) followed by its witness, each of its
 * relationships as `WITNESS_FIELDS` values more, in one flat array. Capturing costs a few pushes
 * of values that already exist: no string is built, nothing formatted (a witness neither: it is
 * formatted where the record is built); the record is built where the batch is appended (the
 * writer thread). The decision path writes it slot for slot into a reused typed array
 * (capture-buffer.ts), which the writer's side turns back into this array (`capturedOf`).
 */
export type Captured = unknown[];

/** A decision's fixed fields; the last one is how many witness relationships follow. */
export const FIELDS = 16;
/** Per witness relationship: resource type and id, relation, subject type, id and relation, caveat name, expiration (ms). */
export const WITNESS_FIELDS = 8;

/** The rare parts of a decision, formatted when captured (they are rare, and must be cloneable). */
export interface RareParts {
  onBehalfOf?: readonly string[];
  subjectGrants?: string;
  missing?: readonly string[];
  caveats?: readonly DecisionCaveat[];
  context?: Readonly<Record<string, unknown>>;
  reason?: string;
  approvalId?: string;
  approvalRule?: string;
  sampled?: true;
}

export function rarePartsOf(facts: DecisionFacts, loggable: ReadonlySet<string>): RareParts | undefined {
  const { chain, subjectGrants, missing, explain, context, reason, sampled } = facts;
  const { approvalId, approvalRule } = facts;
  const plain =
    reason === undefined && sampled !== true && approvalId === undefined && approvalRule === undefined;
  if (plain && chain === undefined && subjectGrants === undefined && missing.length === 0) {
    if (explain === undefined && (context === undefined || Object.keys(context).length === 0))
      return undefined;
  }
  const rare: RareParts = {};
  if (chain !== undefined) rare.onBehalfOf = chain.map(formatSubjectRef);
  if (subjectGrants !== undefined) rare.subjectGrants = subjectGrants;
  if (missing.length > 0) rare.missing = [...missing];
  const caveats = caveatsOf(explain);
  if (caveats !== undefined) rare.caveats = caveats;
  // Redacted here, not later: a context value need not survive the trip to another thread.
  const redacted = redactContext(context, loggable);
  if (redacted !== undefined) rare.context = redacted;
  if (reason !== undefined) rare.reason = reason;
  if (approvalId !== undefined) rare.approvalId = approvalId;
  if (approvalRule !== undefined) rare.approvalRule = approvalRule;
  if (sampled === true) rare.sampled = true;
  return rare;
}

/**
 * Whether a Check's record has no rare parts (`rarePartsOf` gives none for its facts), read from
 * the request and the answer: most records, captured then without a facts object
 * (`CaptureBuffer.captureCheck`). A `sampled` one always has some.
 */
export function plainCheck(request: CheckRequest, result: CheckResult): boolean {
  const context = request.context;
  return (
    chainOf(request) === undefined &&
    (request as WithChain).subjectGrants === undefined &&
    result.missing.length === 0 &&
    result.explain === undefined &&
    (result as { reason?: string }).reason === undefined &&
    result.approvalId === undefined &&
    result.approvalRule === undefined &&
    (context === undefined || Object.keys(context).length === 0)
  );
}

/** Appends one decision to a batch. */
export function captureFacts(
  out: Captured,
  facts: DecisionFacts,
  info: AuditCallInfo | undefined,
  loggable: ReadonlySet<string>,
  at: number,
): void {
  const { subject, resource } = facts;
  out.push(
    facts.operation,
    subject.type,
    subject.id,
    subject.relation,
    resource.type,
    resource.id,
    facts.permission,
    facts.state,
    facts.revision,
    facts.consistency?.kind,
    at,
    facts.latencyUs,
    info?.requestId,
    info?.caller,
    rarePartsOf(facts, loggable),
  );
  const witness = facts.witness;
  if (witness === undefined) {
    out.push(0);
    return;
  }
  out.push(witness.length);
  // The relationship's parts, not its text: they cross to the writer thread as they are (a
  // relationship's stored caveat context and Date need not), and are formatted there.
  for (const r of witness) {
    const { resource, subject } = r;
    out.push(
      resource.type,
      resource.id,
      r.relation,
      subject.type,
      subject.id,
      subject.relation,
      r.caveat?.name,
      r.expiration?.getTime(),
    );
  }
}

/** The records of a captured batch, in order. */
export function recordsOf(batch: Captured): DecisionRecord[] {
  const records: DecisionRecord[] = [];
  for (let i = 0; i < batch.length; ) {
    const witnessed = batch[i + FIELDS - 1] as number;
    records.push(recordAt(batch, i, witnessed));
    i += FIELDS + witnessed * WITNESS_FIELDS;
  }
  return records;
}

/**
 * The stored form of a captured batch's records, in order (what the writer thread appends). A
 * plain decision (no rare parts: most of them) is written as canonical JSON directly, its fields
 * in canonical order, each string between quotes as it is once `UNSAFE` finds nothing in them
 * that JSON.stringify would escape; any other record is built and encoded as `recordsOf` and
 * `encodeDecision` do. Both give the same bytes (test/audit/record.test.ts holds them equal).
 *
 * `escapeFree`: the caller knows that no string of the batch holds anything `UNSAFE` finds (the
 * writer thread tests the batch's text and its names once, `isEscapeFree`), so no record's strings
 * are run together and tested again (about 4k instructions a record, mostly the regex's flatten
 * of the run-together text).
 */
export function encodedRecordsOf(batch: Captured, escapeFree = false): EncodedDecision[] {
  const out: EncodedDecision[] = [];
  for (let i = 0; i < batch.length; ) {
    const witnessed = batch[i + FIELDS - 1] as number;
    out.push(
      plainEncodedAt(batch, i, witnessed, escapeFree) ?? encodeDecision(recordAt(batch, i, witnessed)),
    );
    i += FIELDS + witnessed * WITNESS_FIELDS;
  }
  return out;
}

/**
 * What JSON.stringify would escape in a string: a quote, a backslash, a control character, a
 * surrogate half (also those of a well-formed pair, which it keeps: such a record takes the
 * general path, no harm done).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes
const UNSAFE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Whether JSON.stringify writes `text` between quotes as it is (see `UNSAFE`). */
export function isEscapeFree(text: string): boolean {
  return !UNSAFE.test(text);
}

/**
 * A plain record's canonical JSON, as `canonicalJson(recordAt(...))` writes it, without the record
 * object, the walk that checks its key order and JSON.stringify's pass (together about a fifth of
 * the writer thread's work on a record); undefined for any other record, or where a string would
 * need escaping.
 */
function plainEncodedAt(
  b: Captured,
  i: number,
  witnessed: number,
  escapeFree: boolean,
): EncodedDecision | undefined {
  const at = b[i + 10] as number;
  const latencyUs = b[i + 11] as number | undefined;
  if (b[i + 14] !== undefined || !Number.isInteger(at)) return undefined;
  if (latencyUs !== undefined && !Number.isFinite(latencyUs)) return undefined;
  const requestId = b[i + 12] as string | undefined;
  const caller = b[i + 13] as string | undefined;
  const answer = b[i + 7] as string;
  const consistency = (b[i + 9] as string | undefined) ?? "minimize-latency";
  const operation = b[i] as string;
  const permission = b[i + 6] as string;
  // Written as they are by `recordAt`: JSON.stringify writes anything but a string unquoted.
  if (typeof answer !== "string" || typeof consistency !== "string") return undefined;
  if (typeof operation !== "string" || typeof permission !== "string") return undefined;
  if (!(requestId === undefined || typeof requestId === "string")) return undefined;
  if (!(caller === undefined || typeof caller === "string")) return undefined;
  const resource = `${b[i + 4] as string}:${b[i + 5] as string}`;
  const subject = subjectAt(b, i);
  // Unless known escape-free: every string the record holds, run together, for one test.
  let strings = escapeFree
    ? ""
    : `${answer}${caller ?? ""}${consistency}${operation}${permission}${requestId ?? ""}${resource}${subject}`;
  let witness = "";
  if (witnessed > 0) {
    const start = i + FIELDS;
    for (let w = 0; w < witnessed; w++) {
      const text = witnessAt(b, start + w * WITNESS_FIELDS);
      if (!escapeFree) strings += text;
      witness += w === 0 ? `,"witness":["${text}` : `","${text}`;
    }
    witness += '"]';
  }
  if (!escapeFree && UNSAFE.test(strings)) return undefined;
  const body =
    `{"answer":"${answer}"${caller === undefined ? "" : `,"caller":"${caller}"`},"consistency":"${consistency}"` +
    `${latencyUs === undefined ? "" : `,"latencyUs":${latencyUs}`},"operation":"${operation}","permission":"${permission}"` +
    `${requestId === undefined ? "" : `,"requestId":"${requestId}"`},"resource":"${resource}"` +
    `,"revision":"${revisionText(b[i + 8] as bigint)}","subject":"${subject}","time":"${isoTime(at)}"${witness}}`;
  return { at, subject, body };
}

/** The revision met last and its decimal text: a batch's records are mostly at one revision. */
let lastRevision: bigint | undefined;
let lastRevisionText = "";

/** `String(revision)`, once per revision in a row. */
function revisionText(revision: bigint): string {
  if (revision !== lastRevision) {
    lastRevision = revision;
    lastRevisionText = String(revision);
  }
  return lastRevisionText;
}

/**
 * A captured witness relationship, formatted as `formatRelationshipWithoutContext` would (the
 * audit tests hold the two equal), straight from the captured parts: no relationship object, no
 * Date, on the writer thread's path for every witnessed record.
 */
function witnessAt(b: Captured, i: number): string {
  const caveat = b[i + 6] as string | undefined;
  const expiration = b[i + 7] as number | undefined;
  let out = `${b[i] as string}:${b[i + 1] as string}#${b[i + 2] as string}@${subjectAt(b, i + 2)}`;
  if (caveat !== undefined) out += `[${caveat}]`;
  if (expiration !== undefined) out += `[expiration:${formatTimestamp(new Date(expiration))}]`;
  return out;
}

/** The subject whose type, id and relation are at `i + 1`, `i + 2` and `i + 3`. */
function subjectAt(b: Captured, i: number): string {
  const relation = b[i + 3] as string | undefined;
  const ref = `${b[i + 1] as string}:${b[i + 2] as string}`;
  return relation === undefined || relation === ELLIPSIS_RELATION ? ref : `${ref}#${relation}`;
}

/**
 * `.000Z` to `.999Z`: a record's time is its second's ISO text (formatted once a second) and one of
 * these. `Date.prototype.toISOString` goes through V8's printf-style formatter, about 7,000
 * instructions, as much as a tenth of the writer's whole work on a record.
 */
const MILLIS = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, "0")}Z`);
let second = Number.NaN;
/** The cached second's text up to and with its `.`, e.g. `2026-05-15T14:00:02.`. */
let secondText = "";

/** `new Date(at).toISOString()` for ms since the epoch. */
export function isoTime(at: number): string {
  const ms = at % 1000;
  // Before 1970 (negative remainders) or a fraction of a ms: the general formatter.
  if (!(ms >= 0 && Number.isInteger(at))) return new Date(at).toISOString();
  const s = at - ms;
  if (s !== second) {
    const iso = new Date(s).toISOString();
    // Years past 9999 are written with a sign and six digits: not the 24-character form.
    if (iso.length !== 24) return new Date(at).toISOString();
    secondText = iso.slice(0, 20);
    second = s;
  }
  return secondText + MILLIS[ms]!;
}

/**
 * A record, its fields set in canonical (sorted) key order: its canonical JSON is then one
 * JSON.stringify (see `canonicalJson`), the writer thread's largest cost per record otherwise.
 */
function recordAt(b: Captured, i: number, witnessed: number): DecisionRecord {
  const rare = b[i + 14] as RareParts | undefined;
  const record: { -readonly [K in keyof DecisionRecord]: DecisionRecord[K] } = {
    answer: b[i + 7] as DecisionState,
  } as DecisionRecord;
  if (rare?.approvalId !== undefined) record.approvalId = rare.approvalId;
  if (rare?.approvalRule !== undefined) record.approvalRule = rare.approvalRule;
  const caller = b[i + 13] as string | undefined;
  if (caller !== undefined) record.caller = caller;
  if (rare?.caveats !== undefined) record.caveats = rare.caveats;
  record.consistency = (b[i + 9] as string | undefined) ?? "minimize-latency";
  if (rare?.context !== undefined) record.context = rare.context;
  const latencyUs = b[i + 11] as number | undefined;
  if (latencyUs !== undefined) record.latencyUs = latencyUs;
  if (rare?.missing !== undefined) record.missing = rare.missing;
  if (rare?.onBehalfOf !== undefined) record.onBehalfOf = rare.onBehalfOf;
  record.operation = b[i] as string;
  record.permission = b[i + 6] as string;
  if (rare?.reason !== undefined) record.reason = rare.reason;
  const requestId = b[i + 12] as string | undefined;
  if (requestId !== undefined) record.requestId = requestId;
  record.resource = `${b[i + 4] as string}:${b[i + 5] as string}`;
  record.revision = String(b[i + 8] as bigint);
  if (rare?.sampled === true) record.sampled = true;
  record.subject = subjectAt(b, i);
  if (rare?.subjectGrants !== undefined) record.subjectGrants = rare.subjectGrants;
  record.time = isoTime(b[i + 10] as number);
  if (witnessed > 0) {
    const witness: string[] = [];
    const start = i + FIELDS;
    for (let w = 0; w < witnessed; w++) witness.push(witnessAt(b, start + w * WITNESS_FIELDS));
    record.witness = witness;
  }
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
    approvalId: result.approvalId,
    approvalRule: result.approvalRule,
    witness: result.witness,
  };
}
