/**
 * The approval flow, transport-free (the gRPC ApprovalService, the clients and the CLI all call
 * this): rules written and loaded, requests made (CIBA's backchannel authentication request),
 * polled (with `slow_down`) or awaited, decided by an approver, watched by an approvals app. Each
 * step is appended to the audit trail (`store.decisions`) with its time, who and why.
 *
 * Requests, decisions and the poll clock (slow_down) live in the datastore, and `watch` and
 * `await` follow its approvals feed (feed.ts), so several replicas on one PostgreSQL database, or
 * several processes on one SQLite file, see each other's. Per process: the rules in force (looked
 * for every `rulesRefreshMs`) and the gate's short memory of "no approval" (gate.ts).
 */
import { randomBytes } from "node:crypto";
import {
  formatObjectRef,
  formatRelationshipWithoutContext,
  formatSubjectRef,
  isLatchError,
  LatchError,
  type ObjectRef,
  parseObjectRef,
  type SubjectRef,
} from "../core/index.js";
import type { CheckRequest, SubjectGrants } from "../engine/index.js";
import { compileSchema } from "../schema/index.js";
import type { Decider, Decorator } from "../service/index.js";
import {
  type ApprovalQuery,
  approvalActionKey,
  type DecisionRecord,
  latestReader,
  type RulesValidator,
  type Store,
  type StoredApproval,
  type StoredApprovalRules,
} from "../store/index.js";
import {
  type ApprovalEvent,
  type ApprovalFeed,
  awaitDecision,
  createApprovalFeed,
  watchEvents,
} from "./feed.js";
import {
  type ApprovalGate,
  type AttributesOf,
  actionOf,
  candidatesFor,
  createApprovalGate,
  gatingRule,
} from "./gate.js";
import {
  type ApprovalRule,
  type ApprovalRules,
  EMPTY_RULES,
  parseApprovalRules,
  ruleIdAtLine,
} from "./rules.js";

export const DEFAULT_POLL_INTERVAL_MS = 5_000;
/** The binding message is shown to a person on a phone or in a chat: short. */
export const MAX_BINDING_MESSAGE = 512;
export const MAX_JUSTIFICATION = 4_096;

export interface ApprovalFlowOptions {
  readonly store: Store;
  /** The seam below the gate (delegation and engine): the action's own answer, and approvers'. */
  readonly decider: Decider;
  readonly now?: () => number;
  /** CIBA's polling interval: GetApproval faster than this answers slow_down. */
  readonly pollIntervalMs?: number;
  /** How long the gate remembers that an action has no approval (ms; see gate.ts). */
  readonly closedForMs?: number;
  /** Signals' attributes, when signals are on: `when` thresholds are judged on them too (gate.ts). */
  readonly attributesOf?: AttributesOf;
  /**
   * Called with each new request made through this flow, its witness included (the
   * relationships that proved the underlying ALLOWED): the webhook notifier.
   */
  readonly onRequest?: (approval: StoredApproval) => void;
  /** Called with each decision (the webhook notifier). */
  readonly onDecide?: (approval: StoredApproval) => void;
}

export interface RequestApprovalInput {
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly subject: SubjectRef;
  readonly onBehalfOf?: readonly SubjectRef[];
  /** As on a check: `not-required` when the principal's delegation alone decides. */
  readonly subjectGrants?: SubjectGrants;
  /** Shown to the approver; at most MAX_BINDING_MESSAGE bytes. */
  readonly message: string;
  readonly justification?: string;
  /** The caveat context the agent means to use. */
  readonly context?: Readonly<Record<string, unknown>>;
}

export interface ApprovalTicket {
  /** CIBA's `auth_req_id`. */
  readonly id: string;
  readonly expiresAt: number;
  readonly intervalSeconds: number;
  /** False when an identical request was already pending: its id is returned. */
  readonly created: boolean;
  readonly approval: StoredApproval;
}

export interface DecideInput {
  readonly id: string;
  readonly approve: boolean;
  readonly approver: SubjectRef;
  readonly reason?: string;
}

export interface ApprovalFlow {
  /** The gate decorator for the seam, reading this flow's current rules. */
  readonly gate: Decorator;
  rules(): ApprovalRules;
  /** The stored rules file and its version (undefined before the first write). */
  readRules(): Promise<StoredApprovalRules | undefined>;
  /**
   * Loads the stored rules, compiled against the stored schema, unless their version is the one
   * in force (then it costs one read): at open, and periodically so that rules written through
   * another replica apply here too. A stored version that does not compile is refused (thrown)
   * and the rules in force stay.
   */
  loadRules(): Promise<ApprovalRules>;
  /** Validates a rules file against the current schema, stores it as a new version, applies it. */
  writeRules(
    text: string,
    file?: string,
  ): Promise<{ readonly version: number; readonly rules: ApprovalRules }>;
  request(input: RequestApprovalInput): Promise<ApprovalTicket>;
  /**
   * CIBA polling: the request's state; `approval/slow-down` when polled faster than the interval,
   * which then grows by SLOW_DOWN_STEP_MS for that request (`details.intervalSeconds`). The clock
   * is stored with the request, so every replica keeps the same one.
   */
  get(id: string): Promise<StoredApproval>;
  /** Reads without the poll clock (approvers' views, the CLI's `show`). */
  show(id: string): Promise<StoredApproval>;
  list(query: ApprovalQuery): Promise<readonly StoredApproval[]>;
  decide(input: DecideInput): Promise<StoredApproval>;
  /** Resolves when the request is decided (through any replica) or expires. */
  await(id: string, signal?: AbortSignal): Promise<StoredApproval>;
  /**
   * Requests and decisions made through any replica or process on the datastore, as they commit,
   * until `signal` aborts. A request decided before the feed read it comes once, as `decided`.
   */
  watch(signal?: AbortSignal): AsyncIterable<ApprovalEvent>;
  /** Stops following the datastore's feed (ends nothing else). */
  close(): void;
}

const invalid = (field: string, message: string) =>
  new LatchError("approval/invalid-request", "invalid-argument", `${field}: ${message}`, { field });

/**
 * What every operation of one flow shares, built once by createApprovalFlow. The operations below
 * are module-level functions over it (one per role) so that each reads on its own; the mutable
 * parts (rules in force, poll clock) stay in createApprovalFlow and are reached through `rules()`
 * so that an operation always sees the rules loaded since it was built.
 */
interface FlowContext {
  readonly store: Store;
  readonly decider: Decider;
  readonly now: () => number;
  /** CIBA's polling interval (ms). */
  readonly interval: number;
  /** The datastore's requests and decisions, from every replica: `await`'s wake-up and `watch`. */
  readonly feed: ApprovalFeed;
  readonly rules: () => ApprovalRules;
  readonly gate: ApprovalGate;
  readonly attributesOf: AttributesOf | undefined;
  readonly onRequest: ((approval: StoredApproval) => void) | undefined;
  readonly onDecide: ((approval: StoredApproval) => void) | undefined;
}

export function createApprovalFlow(options: ApprovalFlowOptions): ApprovalFlow {
  const { store } = options;
  const now = options.now ?? Date.now;
  const feed = createApprovalFeed(store.approvals, now);
  let current: ApprovalRules = EMPTY_RULES;
  /** The stored version `current` came from (0: none). */
  let loaded = 0;

  const gate = createApprovalGate({
    rules: () => current,
    approvals: store.approvals,
    now,
    ...(options.closedForMs === undefined ? {} : { closedForMs: options.closedForMs }),
    ...(options.attributesOf === undefined ? {} : { attributesOf: options.attributesOf }),
  });
  const ctx: FlowContext = {
    store,
    decider: options.decider,
    now,
    interval: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    feed,
    rules: () => current,
    gate,
    attributesOf: options.attributesOf,
    onRequest: options.onRequest,
    onDecide: options.onDecide,
  };
  const flow: ApprovalFlow = {
    gate: gate.decorator,
    rules: () => current,
    readRules: () => store.approvals.readRules(),

    async loadRules() {
      const stored = await store.approvals.readRules();
      if (stored === undefined || stored.version === loaded) return current;
      current = parseApprovalRules(
        stored.text,
        await storedSchema(store),
        `stored approval rules version ${stored.version}`,
      );
      loaded = stored.version;
      return current;
    },

    async writeRules(text, file) {
      let rules = EMPTY_RULES;
      // Validated inside the rules write, against the schema stored then (serialized with schema
      // writes), so no schema write can slip in between.
      const version = await store.approvals.writeRules(text, now(), (schema) => {
        if (schema === undefined) throw noSchema();
        rules = parseApprovalRules(text, compileSchema(schema), file);
      });
      current = rules;
      loaded = version;
      return { version, rules };
    },

    request: (input) => requestApproval(ctx, input),
    get: (id) => pollApproval(ctx, id),
    show: (id) => found(ctx, id),
    list: (query) => store.approvals.list(query, now()),
    decide: (input) => decideApproval(ctx, input),
    await: (id, signal) =>
      awaitDecision({ feed, read: () => found(ctx, id), intervalMs: ctx.interval, now, id }, signal),
    watch: (signal) => watchEvents(feed, signal),
    close: () => feed.close(),
  };
  return flow;
}

// --- shared steps -----------------------------------------------------------------------------

const noSchema = () =>
  new LatchError(
    "approval/invalid-rules",
    "failed-precondition",
    "no schema is stored: approval rules are validated against it. Write the schema first.",
    { hint: "write the schema first" },
  );

/** The stored schema, compiled: rules are validated against it. */
async function storedSchema(store: Store) {
  const stored = await (await latestReader(store)).readSchema();
  if (stored === undefined) throw noSchema();
  return compileSchema(stored.text);
}

/**
 * For `Store.writeSchema`'s `validateRules`: refuses (`schema/breaks-approval-rules`) a schema
 * under which the stored approval rules would not be valid, naming the rule and its line. Called
 * inside the schema write's transaction, serialized with rules writes.
 */
export const validateStoredRules: RulesValidator = (stored, schema) => {
  if (stored === undefined) return;
  try {
    parseApprovalRules(stored.text, schema, `stored approval rules version ${stored.version}`);
  } catch (error) {
    if (!isLatchError(error) || error.code !== "approval/invalid-rules") throw error;
    throw breaksRules(error, stored.text);
  }
};

/** The parse error of the stored rules under a new schema, as a refusal of that schema write. */
function breaksRules(error: LatchError, text: string): LatchError {
  const line = typeof error.details.line === "number" ? error.details.line : undefined;
  const rule = line === undefined ? undefined : ruleIdAtLine(text, line);
  return new LatchError(
    "schema/breaks-approval-rules",
    "failed-precondition",
    `schema not written: the stored approval rules would no longer be valid${rule === undefined ? "" : ` (rule ${rule})`}: ${error.message} Change or remove that rule first (\`latch approvals write FILE\`), then write the schema.`,
    { ...(rule === undefined ? {} : { rule }), ...(line === undefined ? {} : { line }) },
  );
}

async function audit(ctx: FlowContext, record: Omit<DecisionRecord, "time">): Promise<void> {
  await ctx.store.decisions.append([{ time: new Date(ctx.now()).toISOString(), ...record }]);
}

async function found(ctx: FlowContext, id: string): Promise<StoredApproval> {
  if (typeof id !== "string" || id === "") throw invalid("id", "give the approval id");
  const approval = await ctx.store.approvals.get(id, ctx.now());
  if (approval === undefined)
    throw new LatchError("approval/not-found", "not-found", `no approval request has id ${id}`, { id });
  return approval;
}

function checkText(field: string, text: string | undefined, max: number): string {
  if (text === undefined) return "";
  if (typeof text !== "string") throw invalid(field, "must be text");
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > max)
    throw new LatchError(
      "approval/message-too-long",
      "resource-exhausted",
      `${field} is ${bytes} bytes; at most ${max} are allowed (the approver reads it on a small screen): shorten it`,
      { field, limit: max, size: bytes },
    );
  // Line breaks and tabs are text; other control characters (a terminal escape, a carriage
  // return) could dress the message up as something else where it is printed.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  const control = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.exec(text);
  if (control !== null)
    throw invalid(
      field,
      `holds the control character U+${control[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()} at ${control.index}; only line breaks and tabs may be used`,
    );
  return text;
}

// --- request ----------------------------------------------------------------------------------

function notGated(input: RequestApprovalInput): LatchError {
  return new LatchError(
    "approval/not-gated",
    "failed-precondition",
    `no approval rule gates ${input.permission} on ${formatObjectRef(input.resource)} for ${formatSubjectRef(input.subject)}: check it and act`,
  );
}

async function requestApproval(ctx: FlowContext, input: RequestApprovalInput): Promise<ApprovalTicket> {
  const message = checkText("message", input.message, MAX_BINDING_MESSAGE);
  if (message.trim() === "") throw invalid("message", "give a short binding message the approver will see");
  const justification = checkText("justification", input.justification, MAX_JUSTIFICATION);
  const candidates = candidatesFor(ctx.rules(), input);
  if (candidates.length === 0) throw notGated(input);
  // A gate never grants: asking a person to unlock what is not permitted anyway wastes their time.
  const check: CheckRequest = {
    resource: input.resource,
    permission: input.permission,
    subject: input.subject,
    ...(input.onBehalfOf === undefined ? {} : { onBehalfOf: input.onBehalfOf }),
    ...(input.subjectGrants === undefined ? {} : { subjectGrants: input.subjectGrants }),
    ...(input.context === undefined ? {} : { context: input.context }),
    consistency: { kind: "fully-consistent" },
    // The approver is shown why the agent may act at all.
    witness: true,
  };
  const answer = await ctx.decider.check(check);
  if (answer.state === "DENIED")
    throw new LatchError(
      "approval/not-gated",
      "failed-precondition",
      `${formatSubjectRef(input.subject)} is not permitted ${input.permission} on ${formatObjectRef(input.resource)}: an approval can only unlock what is already permitted`,
    );
  // Judged as the gate judges the check it unlocks (on the values the answer used).
  const rule = gatingRule(candidates, input, answer.witness, ctx.attributesOf);
  if (rule === undefined) throw notGated(input);
  const at = ctx.now();
  const { approval, created } = await ctx.store.approvals.create({
    ...actionOf(input),
    // Hex, not base64url: an id may be typed as a CLI argument, and one starting with "-" reads as an option.
    id: randomBytes(24).toString("hex"),
    ruleId: rule.id,
    message,
    justification,
    context: input.context ?? {},
    singleUse: rule.singleUse,
    validForMs: rule.validForMs,
    createdAt: at,
    expiresAt: at + rule.requestTtlMs,
    // The approver is shown why the agent may act at all, as the audit trail shows it.
    witness: (answer.witness ?? []).map(formatRelationshipWithoutContext),
  });
  // An identical pending request is returned as is: it was audited and announced when made.
  if (created) {
    await audit(ctx, {
      operation: "approval-request",
      subject: approval.subject,
      ...(approval.chain.length > 0 ? { onBehalfOf: approval.chain } : {}),
      resource: approval.resource,
      permission: approval.permission,
      answer: "APPROVAL_REQUIRED",
      approvalId: approval.id,
      approvalRule: rule.id,
      reason: message,
    });
    ctx.feed.poke();
    ctx.onRequest?.(approval);
  }
  return {
    id: approval.id,
    expiresAt: approval.expiresAt,
    intervalSeconds: ctx.interval / 1_000,
    created,
    approval,
  };
}

// --- get (CIBA polling) -----------------------------------------------------------------------

/** CIBA (after RFC 8628 §3.5): each `slow_down` adds this to the poller's interval, for good. */
export const SLOW_DOWN_STEP_MS = 5_000;

/**
 * The poll clock is stored with the request (every replica shares it): a poll sooner than the
 * interval answers slow_down and grows that request's interval by SLOW_DOWN_STEP_MS, so a poller
 * that ignores the answer is slowed further each time, whichever replica it polls.
 */
async function pollApproval(ctx: FlowContext, id: string): Promise<StoredApproval> {
  if (typeof id !== "string" || id === "") throw invalid("id", "give the approval id");
  const outcome = await ctx.store.approvals.poll(id, ctx.now(), {
    intervalMs: ctx.interval,
    stepMs: SLOW_DOWN_STEP_MS,
  });
  if (outcome === undefined)
    throw new LatchError("approval/not-found", "not-found", `no approval request has id ${id}`, { id });
  if (outcome.slowDown === undefined) return outcome.approval;
  const { sinceMs, intervalMs } = outcome.slowDown;
  throw new LatchError(
    "approval/slow-down",
    "resource-exhausted",
    `approval ${id} was polled ${sinceMs} ms after the last poll; its interval is now ${intervalMs / 1_000} s: poll at most that often`,
    { id, intervalSeconds: intervalMs / 1_000 },
  );
}

// --- decide -----------------------------------------------------------------------------------

/**
 * The rule a pending request was made under, after refusing what may not be decided (expired,
 * already decided, rule gone) and a self-approval the rule does not allow.
 */
function decidableRule(
  ctx: FlowContext,
  input: DecideInput,
  approval: StoredApproval,
  approver: string,
): ApprovalRule {
  if (approval.state === "expired")
    throw new LatchError(
      "approval/expired",
      "failed-precondition",
      `approval ${input.id} expired undecided; ask again`,
      {
        id: input.id,
      },
    );
  if (approval.state !== "pending")
    throw new LatchError(
      "approval/already-decided",
      "failed-precondition",
      `approval ${input.id} is already ${approval.state}${approval.decidedBy === undefined ? "" : ` by ${approval.decidedBy}`}`,
      { id: input.id, state: approval.state },
    );
  const rule = ctx.rules().rules.find((r) => r.id === approval.ruleId);
  if (rule === undefined)
    throw new LatchError(
      "approval/not-gated",
      "failed-precondition",
      `approval ${input.id} was made under rule ${approval.ruleId}, which the current rules no longer have`,
    );
  if (!rule.allowSelfApproval && (approver === approval.subject || approval.chain.includes(approver)))
    throw new LatchError(
      "approval/self-approval",
      "permission-denied",
      `${approver} asked for this action (or is acting through the agent that did): someone else must decide`,
      { id: input.id },
    );
  return rule;
}

async function decideApproval(ctx: FlowContext, input: DecideInput): Promise<StoredApproval> {
  const approval = await found(ctx, input.id);
  const reason = checkText("reason", input.reason, MAX_JUSTIFICATION);
  const approver = formatSubjectRef(input.approver);
  const rule = decidableRule(ctx, input, approval, approver);
  const allowed = await ctx.decider.check({
    resource: parseObjectRef(approval.resource),
    permission: rule.approvers,
    subject: input.approver,
    consistency: { kind: "fully-consistent" },
  });
  if (allowed.state !== "ALLOWED")
    throw new LatchError(
      "approval/not-approver",
      "permission-denied",
      `${approver} lacks ${rule.approvers} on ${approval.resource}, which rule ${rule.id} requires of approvers`,
      { id: input.id },
    );
  const decided = await ctx.store.approvals.decide({
    id: input.id,
    approve: input.approve,
    decidedBy: approver,
    reason,
    now: ctx.now(),
  });
  if (decided === undefined) {
    // Someone else decided meanwhile, or it lapsed: say which.
    const again = await found(ctx, input.id);
    throw again.state === "expired"
      ? new LatchError("approval/expired", "failed-precondition", `approval ${input.id} expired undecided`)
      : new LatchError(
          "approval/already-decided",
          "failed-precondition",
          `approval ${input.id} is already ${again.state}`,
        );
  }
  await audit(ctx, {
    operation: input.approve ? "approval-approve" : "approval-deny",
    subject: approver,
    resource: decided.resource,
    permission: decided.permission,
    answer: input.approve ? "ALLOWED" : "DENIED",
    approvalId: decided.id,
    approvalRule: decided.ruleId,
    reason: `${decided.subject}${decided.chain.length > 0 ? ` for ${decided.chain.join(" for ")}` : ""}${reason === "" ? "" : `: ${reason}`}`,
  });
  // The gate remembers "no approval" for a while; a fresh approval must be usable at once.
  if (decided.state === "approved") ctx.gate.forget(approvalActionKey(decided));
  ctx.feed.poke();
  ctx.onDecide?.(decided);
  return decided;
}
