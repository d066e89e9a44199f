/**
 * The approval webhook's delivery and URL: a redirect is never followed (a 307 would re-POST the
 * signed approval to whatever host it names; a 302 would turn into a GET whose 200 would be
 * audited as a delivery): any 3xx is a failed attempt. The URL must be http(s) without
 * credentials, refused when the notifier is made and at `latch serve` start, the password never
 * written anywhere.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createWebhookNotifier } from "../../src/approvals/index.js";
import { checkWebhookUrl } from "../../src/approvals/webhook.js";
import { serveCommand } from "../../src/cli/commands/serve.js";
import type { DecisionLog, StoredApproval } from "../../src/store/index.js";

const approval = {
  id: "appr-1",
  ruleId: "prod-delete",
  resource: "database:prod-orders",
  permission: "delete",
  subject: "agent:cleanup",
  chain: ["user:alice"],
  message: "Delete prod-orders?",
  justification: "",
  context: {},
  expiresAt: Date.now() + 600_000,
  singleUse: true,
  witness: ["database:prod-orders#operator@agent:cleanup"],
  state: "pending",
} as unknown as StoredApproval;

function fakeLog(): { log: DecisionLog; reasons: string[] } {
  const reasons: string[] = [];
  const log = {
    append: async (records: { reason?: string }[]) => {
      for (const r of records) reasons.push(String(r.reason));
    },
  } as unknown as DecisionLog;
  return { log, reasons };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("approval webhook redirects", () => {
  const elsewhere: string[] = [];
  let other: Server;
  let redirector: Server;
  let redirectorUrl: string;

  beforeAll(async () => {
    other = createServer((req: IncomingMessage, res) => {
      req.resume();
      elsewhere.push(`${req.method} ${req.url}`);
      res.writeHead(200).end("ok");
    });
    const otherUrl = await listen(other);
    redirector = createServer((req, res) => {
      req.resume();
      res.writeHead(Number(req.url!.slice(1)), { location: `${otherUrl}/collect` }).end();
    });
    redirectorUrl = await listen(redirector);
  });
  afterAll(async () => {
    await new Promise((r) => other.close(r));
    await new Promise((r) => redirector.close(r));
  });

  for (const status of [301, 302, 303, 307, 308]) {
    it(`counts a ${status} as a failed attempt and does not follow it`, async () => {
      elsewhere.length = 0;
      const { log, reasons } = fakeLog();
      const n = createWebhookNotifier({
        url: `${redirectorUrl}/${status}`,
        secret: "s".repeat(16),
        attempts: 2,
        backoffMs: 1,
        log,
      });
      n.notify({ type: "approval.requested", approval });
      await n.idle();
      expect(elsewhere).toEqual([]);
      // Both attempts made (the first was not a delivery), each audited as the redirect it was.
      expect(reasons).toEqual([
        `approval.requested attempt 1: HTTP ${status} (a redirect, not followed: configure the URL it names)`,
        `approval.requested attempt 2: HTTP ${status} (a redirect, not followed: configure the URL it names)`,
      ]);
    });
  }

  it("audits why a delivery failed, not only fetch's 'fetch failed'", async () => {
    // A port nobody listens on: one that was just free.
    const probe = createServer();
    const closed = await listen(probe);
    await new Promise((r) => probe.close(r));
    const { log, reasons } = fakeLog();
    const n = createWebhookNotifier({ url: `${closed}/`, secret: "s".repeat(16), attempts: 1, log });
    n.notify({ type: "approval.requested", approval });
    await n.idle();
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^approval\.requested attempt 1: fetch failed: .*ECONNREFUSED/);
  });
});

describe("the approval webhook URL", () => {
  for (const [url, says] of [
    ["http://hook:S3cretPassw0rd@127.0.0.1:1/", "must not carry credentials"],
    ["https://hook@example.com/", "must not carry credentials"],
    ["data:text/plain,nothing", "must be an http:// or https:// URL, not data:"],
    ["file:///etc/passwd", "must be an http:// or https:// URL, not file:"],
    ["ftp://example.com/", "must be an http:// or https:// URL, not ftp:"],
    ["not a url", "is not a URL"],
  ] as const) {
    it(`refuses ${url} when the notifier is made`, () => {
      let error: unknown;
      try {
        createWebhookNotifier({ url, secret: "s".repeat(16) });
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: "approval/invalid-webhook" });
      expect((error as Error).message).toContain(says);
      expect((error as Error).message).not.toContain("S3cretPassw0rd");
    });
  }

  it("takes http and https URLs, with a path and a query", () => {
    expect(checkWebhookUrl("https://hooks.example.com/latch?token=abc").hostname).toBe("hooks.example.com");
    expect(checkWebhookUrl("http://127.0.0.1:8080/").port).toBe("8080");
  });

  it("names the flag when `latch serve --approval-webhook` is refused, before serving", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-webhook-url-"));
    let stderr = "";
    const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    const before = process.exitCode;
    vi.stubEnv("LATCH_APPROVAL_WEBHOOK_SECRET", "s".repeat(16));
    try {
      await serveCommand().parseAsync(
        [
          "--listen",
          "127.0.0.1:0",
          "--db",
          join(dir, "latch.db"),
          "--insecure-no-auth",
          "--log-level",
          "silent",
          "--approval-webhook",
          "https://hook:S3cretPassw0rd@hooks.example.com/",
        ],
        { from: "user" },
      );
      expect(process.exitCode).toBe(1);
      expect(stderr).toMatch(/--approval-webhook must not carry credentials/);
      expect(stderr).not.toContain("S3cretPassw0rd");
    } finally {
      vi.unstubAllEnvs();
      err.mockRestore();
      process.exitCode = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
