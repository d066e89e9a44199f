/**
 * Approver notification by webhook: each new approval request (`approval.requested`, with the
 * witness of the agent's permission) and each decision (`approval.decided`) is POSTed as JSON to a
 * configured URL, signed with HMAC-SHA256 over the exact body bytes with a shared secret, so the receiver can
 * tell Latch's requests from anyone else's. Header `x-latch-signature: sha256=<hex>`, plus
 * `x-latch-timestamp` (ms, also inside the body, so it is signed) against replays. A failed
 * delivery (network error or a non-2xx status) is retried with exponential backoff; each attempt
 * is appended to the audit trail (operation `approval-webhook`, its outcome as the reason).
 * Redirects are not followed (a 3xx is a failed attempt): following one would re-send the signed
 * approval to whatever host the receiver names, or turn the POST into a GET whose 200 would be
 * audited as a delivery.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { LatchError } from "../core/index.js";
import type { DecisionLog, StoredApproval } from "../store/index.js";

export interface WebhookOptions {
  readonly url: string;
  readonly secret: string;
  /** Attempts in all (default 5). */
  readonly attempts?: number;
  /** First retry delay, doubled each time (default 500 ms). */
  readonly backoffMs?: number;
  /** Per-attempt timeout (default 5 s). */
  readonly timeoutMs?: number;
  readonly log?: DecisionLog;
}

export const SIGNATURE_HEADER = "x-latch-signature";

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

/** For receivers (and tests): true when `signature` is `body`'s signature under `secret`. */
export function verifySignature(body: string, signature: string, secret: string): boolean {
  const want = Buffer.from(signBody(body, secret));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** A request carries its witness (`approval.witness`, stored with it); a decision does not. */
export type WebhookEvent =
  | { readonly type: "approval.requested"; readonly approval: StoredApproval }
  | { readonly type: "approval.decided"; readonly approval: StoredApproval };

function approvalFields(approval: StoredApproval) {
  return {
    id: approval.id,
    rule: approval.ruleId,
    resource: approval.resource,
    permission: approval.permission,
    subject: approval.subject,
    on_behalf_of: approval.chain,
    message: approval.message,
    justification: approval.justification,
    context: approval.context,
    expires_at: new Date(approval.expiresAt).toISOString(),
    single_use: approval.singleUse,
  };
}

/**
 * The payload. A request carries everything a person needs to decide, with the witness: the
 * relationships that prove the action is permitted (so the approver sees why the agent may act at
 * all). A decision carries its outcome, who decided and why.
 */
export function webhookBody(event: WebhookEvent, sentAt: number): string {
  const { approval } = event;
  if (event.type === "approval.requested")
    return JSON.stringify({
      type: event.type,
      sent_at: sentAt,
      approval: { ...approvalFields(approval), witness: approval.witness },
    });
  return JSON.stringify({
    type: event.type,
    sent_at: sentAt,
    approval: {
      ...approvalFields(approval),
      state: approval.state,
      decided_by: approval.decidedBy,
      decided_at: approval.decidedAt === undefined ? undefined : new Date(approval.decidedAt).toISOString(),
      reason: approval.reason,
      valid_until:
        approval.validUntil === undefined ? undefined : new Date(approval.validUntil).toISOString(),
    },
  });
}

/**
 * The webhook URL, refused unless it is http(s) without credentials: fetch cannot send to a URL
 * with `user:password@` (and its error would carry the password into the audit trail on every
 * attempt), and other schemes (data:, file:) would never reach a receiver. `flag` names the option
 * the URL came from, for the message.
 */
export function checkWebhookUrl(url: string, flag = "the approval webhook URL"): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LatchError(
      "approval/invalid-webhook",
      "invalid-argument",
      `${flag} is not a URL (${JSON.stringify(scrubbed(url).slice(0, 200))}); give an http:// or https:// URL`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new LatchError(
      "approval/invalid-webhook",
      "invalid-argument",
      `${flag} must be an http:// or https:// URL, not ${parsed.protocol}`,
      { scheme: parsed.protocol },
    );
  if (parsed.username !== "" || parsed.password !== "")
    throw new LatchError(
      "approval/invalid-webhook",
      "invalid-argument",
      `${flag} must not carry credentials (user:password@): the receiver authenticates Latch by the x-latch-signature HMAC; put any other credential in the path or query`,
    );
  return parsed;
}

/** `text` with the userinfo of any URL in it replaced: error messages must not carry passwords. */
function scrubbed(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, "$1***@");
}

/** An error's message with its cause's (fetch says only "fetch failed"; the cause says why). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause === undefined || cause === error.message ? error.message : `${error.message}: ${cause}`;
}

/**
 * Returns a notifier; its deliveries run in the background and never throw. Throws
 * `approval/invalid-webhook` for a URL `checkWebhookUrl` refuses.
 */
export function createWebhookNotifier(options: WebhookOptions): {
  notify(event: WebhookEvent): void;
  /** Resolves when every delivery started so far has finished (tests, shutdown). */
  idle(): Promise<void>;
} {
  checkWebhookUrl(options.url);
  const attempts = options.attempts ?? 5;
  const backoff = options.backoffMs ?? 500;
  const timeout = options.timeoutMs ?? 5_000;
  const running = new Set<Promise<void>>();

  async function deliver(event: WebhookEvent): Promise<void> {
    const { approval } = event;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const sentAt = Date.now();
      const body = webhookBody(event, sentAt);
      let outcome: string;
      let ok = false;
      try {
        const response = await fetch(options.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            [SIGNATURE_HEADER]: signBody(body, options.secret),
            "x-latch-timestamp": String(sentAt),
          },
          body,
          signal: AbortSignal.timeout(timeout),
          redirect: "manual",
        });
        ok = response.ok;
        outcome = `${event.type} attempt ${attempt}: HTTP ${response.status}`;
        if (response.status >= 300 && response.status < 400)
          outcome += " (a redirect, not followed: configure the URL it names)";
        await response.body?.cancel();
      } catch (error) {
        outcome = `${event.type} attempt ${attempt}: ${scrubbed(describeError(error))}`;
      }
      await options.log
        ?.append([
          {
            time: new Date().toISOString(),
            operation: "approval-webhook",
            subject: approval.subject,
            ...(approval.chain.length > 0 ? { onBehalfOf: approval.chain } : {}),
            resource: approval.resource,
            permission: approval.permission,
            answer:
              event.type === "approval.requested"
                ? "APPROVAL_REQUIRED"
                : approval.state === "approved"
                  ? "ALLOWED"
                  : "DENIED",
            approvalId: approval.id,
            approvalRule: approval.ruleId,
            reason: outcome,
          },
        ])
        .catch(() => undefined);
      if (ok || attempt === attempts) return;
      await new Promise((resolve) => setTimeout(resolve, backoff * 2 ** (attempt - 1)));
    }
  }

  return {
    notify(event) {
      const p = deliver(event).finally(() => running.delete(p));
      running.add(p);
    },
    async idle() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
