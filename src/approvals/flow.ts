/**
 * The approval flow, transport-free (the gRPC ApprovalService, the clients and the CLI all call
 * this): rules written and loaded, requests made (CIBA's backchannel authentication request),
 * polled (with `slow_down`) or awaited, decided by an approver, watched by an approvals app. Each
 * step is appended to the audit trail (`store.decisions`) with its time, who and why.
 *
 * In-process state, said plainly: the poll clock (slow_down), `watch` and the fast wake-up of
 * `await` live in this process. On a shared PostgreSQL datastore, `await` also re-reads the store
 * every `pollIntervalMs`, so a decision made through another replica is seen within that time.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter, on } from "node:events";
import {
  formatObjectRef,
  formatSubjectRef,
  LatchError,
  type ObjectRef,
  parseObjectRef,
  type SubjectRef,
} from "../core/index.js";
import type { CheckRequest } from "../engine/index.js";
import { compileSchema } from "../schema/index.js";
import type { Decider, Decorator } from "../service/index.js";
import {
  type ApprovalQuery,
  approvalActionKey,
  type DecisionRecord,
  latestReader,
  type Store,
  type StoredApproval,
  type StoredApprovalRules,
} from "../store/index.js";
import { actionOf, createApprovalGate, ruleFor } from "./gate.js";
import { type ApprovalRule, type ApprovalRules, EMPTY_RULES, parseApprovalRules } from "./rules.js";

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
  /** Called with each new request (the webhook notifier). */
  readonly onRequest?: (approval: StoredApproval) => void;
}

export interface RequestApprovalInput {
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly subject: SubjectRef;
  readonly onBehalfOf?: readonly SubjectRef[];
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

export type ApprovalEvent =
  | { readonly kind: "requested"; readonly approval: StoredApproval }
  | { readonly kind: "decided"; readonly approval: StoredApproval };

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
  /** CIBA polling: the request's state; `approval/slow-down` when polled faster than the interval. */
  get(id: string): Promise<StoredApproval>;
  /** Reads without the poll clock (approvers' views, the CLI's `show`). */
  show(id: string): Promise<StoredApproval>;
  list(query: ApprovalQuery): Promise<readonly StoredApproval[]>;
  decide(input: DecideInput): Promise<StoredApproval>;
  /** Resolves when the request is decided or expires. */
  await(id: string, signal?: AbortSignal): Promise<StoredApproval>;
  /** Requests and decisions made through this process, as they happen, until `signal` aborts. */
  watch(signal?: AbortSignal): AsyncIterable<ApprovalEvent>;
}

const invalid = (field: string, message: string) =>
  new LatchError("approval/invalid-request", "invalid-argument", `${field}: ${message}`, { field });

export function createApprovalFlow(options: ApprovalFlowOptions): ApprovalFlow {
  const { store, decider } = options;
  const now = options.now ?? Date.now;
  const interval = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const lastPoll = new Map<string, number>();
  let current: ApprovalRules = EMPTY_RULES;
  /** The stored version `current` came from (0: none). */
  let loaded = 0;

  async function schema() {
    const stored = await (await latestReader(store)).readSchema();
    if (stored === undefined)
      throw new LatchError(
        "approval/invalid-rules",
        "failed-precondition",
        "no schema is stored: approval rules are validated against it. Write the schema first.",
        { hint: "write the schema first" },
      );
    return compileSchema(stored.text);
  }

  async function audit(record: Omit<DecisionRecord, "time">): Promise<void> {
    await store.decisions.append([{ time: new Date(now()).toISOString(), ...record }]);
  }

  async function found(id: string): Promise<StoredApproval> {
    if (typeof id !== "string" || id === "") throw invalid("id", "give the approval id");
    const approval = await store.approvals.get(id, now());
    if (approval === undefined)
      throw new LatchError("approval/not-found", "not-found", `no approval request has id ${id}`, { id });
    return approval;
  }

  function ruleOf(input: RequestApprovalInput): ApprovalRule {
    const rule = ruleFor(current, input);
    if (rule === undefined)
      throw new LatchError(
        "approval/not-gated",
        "failed-precondition",
        `no approval rule gates ${input.permission} on ${formatObjectRef(input.resource)} for ${formatSubjectRef(input.subject)}: check it and act`,
      );
    return rule;
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
    return text;
  }

  const gate = createApprovalGate({
    rules: () => current,
    approvals: store.approvals,
    now,
    ...(options.closedForMs === undefined ? {} : { closedForMs: options.closedForMs }),
  });
  const flow: ApprovalFlow = {
    gate: gate.decorator,
    rules: () => current,
    readRules: () => store.approvals.readRules(),

    async loadRules() {
      const stored = await store.approvals.readRules();
      if (stored === undefined || stored.version === loaded) return current;
      current = parseApprovalRules(
        stored.text,
        await schema(),
        `stored approval rules version ${stored.version}`,
      );
      loaded = stored.version;
      return current;
    },

    async writeRules(text, file) {
      const rules = parseApprovalRules(text, await schema(), file);
      const version = await store.approvals.writeRules(text, now());
      current = rules;
      loaded = version;
      return { version, rules };
    },

    async request(input) {
      const message = checkText("message", input.message, MAX_BINDING_MESSAGE);
      if (message.trim() === "")
        throw invalid("message", "give a short binding message the approver will see");
      const justification = checkText("justification", input.justification, MAX_JUSTIFICATION);
      const rule = ruleOf(input);
      // A gate never grants: asking a person to unlock what is not permitted anyway wastes their time.
      const check: CheckRequest = {
        resource: input.resource,
        permission: input.permission,
        subject: input.subject,
        ...(input.onBehalfOf === undefined ? {} : { onBehalfOf: input.onBehalfOf }),
        ...(input.context === undefined ? {} : { context: input.context }),
        consistency: { kind: "fully-consistent" },
      };
      const answer = await decider.check(check);
      if (answer.state === "DENIED")
        throw new LatchError(
          "approval/not-gated",
          "failed-precondition",
          `${formatSubjectRef(input.subject)} is not permitted ${input.permission} on ${formatObjectRef(input.resource)}: an approval can only unlock what is already permitted`,
        );
      const at = now();
      const { approval, created } = await store.approvals.create({
        ...actionOf(input),
        id: randomBytes(24).toString("base64url"),
        ruleId: rule.id,
        message,
        justification,
        context: input.context ?? {},
        singleUse: rule.singleUse,
        validForMs: rule.validForMs,
        createdAt: at,
        expiresAt: at + rule.requestTtlMs,
      });
      if (created) {
        await audit({
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
        events.emit("event", { kind: "requested", approval } satisfies ApprovalEvent);
        options.onRequest?.(approval);
      }
      return {
        id: approval.id,
        expiresAt: approval.expiresAt,
        intervalSeconds: interval / 1_000,
        created,
        approval,
      };
    },

    async get(id) {
      const approval = await found(id);
      const at = now();
      const last = lastPoll.get(id);
      lastPoll.set(id, at);
      if (approval.state === "pending" && last !== undefined && at - last < interval)
        throw new LatchError(
          "approval/slow-down",
          "resource-exhausted",
          `approval ${id} was polled ${at - last} ms after the last poll; poll at most every ${interval / 1_000} s`,
          { id, intervalSeconds: interval / 1_000 },
        );
      if (approval.state !== "pending") lastPoll.delete(id);
      return approval;
    },

    show: found,

    list: (query) => store.approvals.list(query, now()),

    async decide(input) {
      const approval = await found(input.id);
      const reason = checkText("reason", input.reason, MAX_JUSTIFICATION);
      const approver = formatSubjectRef(input.approver);
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
      const rule = current.rules.find((r) => r.id === approval.ruleId);
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
      const allowed = await decider.check({
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
      const decided = await store.approvals.decide({
        id: input.id,
        approve: input.approve,
        decidedBy: approver,
        reason,
        now: now(),
      });
      if (decided === undefined) {
        // Someone else decided meanwhile, or it lapsed: say which.
        const again = await found(input.id);
        throw again.state === "expired"
          ? new LatchError(
              "approval/expired",
              "failed-precondition",
              `approval ${input.id} expired undecided`,
            )
          : new LatchError(
              "approval/already-decided",
              "failed-precondition",
              `approval ${input.id} is already ${again.state}`,
            );
      }
      await audit({
        operation: input.approve ? "approval-approve" : "approval-deny",
        subject: approver,
        resource: decided.resource,
        permission: decided.permission,
        answer: input.approve ? "ALLOWED" : "DENIED",
        approvalId: decided.id,
        approvalRule: decided.ruleId,
        reason: `${decided.subject}${decided.chain.length > 0 ? ` for ${decided.chain.join(" for ")}` : ""}${reason === "" ? "" : `: ${reason}`}`,
      });
      if (decided.state === "approved") gate.forget(approvalActionKey(decided));
      events.emit("event", { kind: "decided", approval: decided } satisfies ApprovalEvent);
      return decided;
    },

    async await(id, signal) {
      for (;;) {
        const approval = await found(id);
        if (approval.state !== "pending") return approval;
        const wait = Math.max(1, Math.min(interval, approval.expiresAt - now()));
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            events.off("event", onEvent);
            signal?.removeEventListener("abort", done);
            resolve();
          };
          const onEvent = (e: ApprovalEvent) => {
            if (e.approval.id === id) done();
          };
          const timer = setTimeout(done, wait);
          events.on("event", onEvent);
          signal?.addEventListener("abort", done, { once: true });
        });
        if (signal?.aborted)
          throw new LatchError(
            "request/cancelled",
            "deadline-exceeded",
            `stopped waiting for approval ${id}`,
          );
      }
    },

    async *watch(signal) {
      const iterator = on(events, "event", signal === undefined ? {} : { signal });
      try {
        for await (const [event] of iterator) yield event as ApprovalEvent;
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
    },
  };
  return flow;
}
