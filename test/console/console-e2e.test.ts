/**
 * The console end to end: a real `latch serve --console-listen`, Debian's chromium driven by
 * playwright-core (never a downloaded browser). Skips with one line where /usr/bin/chromium is
 * missing; .ci/run installs it. Screenshots go to a temporary folder, or to docs/console-*.png
 * (the README's pictures) with LATCH_CONSOLE_SCREENSHOTS=1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, chromiumPresent, launchChromium } from "../support/chromium.js";
import { type ConsoleServer, startConsoleServer } from "../support/console-server.js";

const TOKEN = "console-e2e-token-0123456789";
const SCHEMA = `definition user {}
definition agent {}
definition database {
  relation admin: user
  relation operator: agent
  relation reader: user with office_hours
  permission delete = operator
  permission approve = admin
  permission read = reader + admin
}

caveat office_hours(hour int) {
  hour >= 9 && hour < 17
}
`;
const RULES = `rules:
  - id: prod-delete
    resource: database
    permission: delete
    subjects: [agent]
    approvers: approve
`;

const present = chromiumPresent;
const shotsInDocs = process.env.LATCH_CONSOLE_SCREENSHOTS === "1";
if (!present) console.log(`console e2e: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`);

describe.skipIf(!present)("the console in a real browser", () => {
  let dir: string;
  let server: ConsoleServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const shot = (name: string) => (shotsInDocs ? join("docs", name) : join(dir, name));

  const api = (service: string, method: string, body: unknown) => server.api(TOKEN, service, method, body);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latch-console-"));
    writeFileSync(join(dir, "schema.zed"), SCHEMA);
    writeFileSync(join(dir, "rules.yaml"), RULES);
    server = await startConsoleServer(dir, [
      `--db=${join(dir, "latch.db")}`,
      `--schema=${join(dir, "schema.zed")}`,
      `--approval-rules=${join(dir, "rules.yaml")}`,
      "--audit=all",
      `--token=${TOKEN}`,
    ]);
    base = server.base;
    await api("RelationshipService", "WriteRelationships", {
      updates: [
        ["admin", { object: { objectType: "user", objectId: "bob" } }],
        ["operator", { object: { objectType: "agent", objectId: "bot" } }],
      ].map(([relation, subject]) => ({
        operation: "OPERATION_TOUCH",
        relationship: { resource: { objectType: "database", objectId: "prod" }, relation, subject },
      })),
    });
    await api("RelationshipService", "WriteRelationships", {
      updates: [
        {
          operation: "OPERATION_TOUCH",
          relationship: {
            resource: { objectType: "database", objectId: "prod" },
            relation: "reader",
            subject: { object: { objectType: "user", objectId: "carol" } },
            optionalCaveat: { caveatName: "office_hours" },
          },
        },
      ],
    });
    await api("ApprovalService", "RequestApproval", {
      resource: { objectType: "database", objectId: "prod" },
      permission: "delete",
      subject: { object: { objectType: "agent", objectId: "bot" } },
      bindingMessage: "drop the prod database",
      justification: "decommissioning",
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("serves the page with strict security headers", async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await res.text()).not.toMatch(/<script>(?!<)/);
    // The API on the console's port is the same gate: no token, no data.
    const bare = await fetch(`${base}/latch.v1.SchemaService/ReadSchema`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(bare.status).toBe(401);
    expect(((await bare.json()) as { code: string }).code).toBe("unauthenticated");
  });

  it("shows only the sign-in form for a wrong token", async () => {
    await page.goto(base);
    await page.fill("#token", "wrong-token-0123456789");
    await page.click("#sign-in button[type=submit]");
    await page.waitForSelector("#sign-in .error:not([hidden])");
    expect(await page.locator("#page").count()).toBe(0);
    expect(await page.locator("nav").count()).toBe(0);
    await page.screenshot({ path: shot("console-sign-in.png") });
  });

  it("signs in and shows the compiler's diagnostic at the right line", async () => {
    await page.fill("#token", TOKEN);
    await page.click("#sign-in button[type=submit]");
    await page.waitForSelector("#schema-text");
    await expect.poll(() => page.inputValue("#schema-text")).toContain("definition database");
    // Line 5 refers to a type that does not exist.
    await page.fill("#schema-text", SCHEMA.replace("relation operator: agent", "relation operator: robot"));
    await page.waitForSelector("#schema-problems .problem");
    const problem = await page.textContent("#schema-problems .problem");
    expect(problem).toContain("line 5, column");
    expect(problem).toContain("robot");
    expect(await page.isDisabled("#schema-write")).toBe(true);
    await page.screenshot({ path: shot("console-schema.png") });
    await page.fill("#schema-text", SCHEMA);
    await expect.poll(() => page.textContent("#schema-problems")).toBe("");
    await page.click("#schema-write");
    await expect.poll(() => page.textContent("#schema-status")).toBe("Schema written.");
  });

  it("runs a check and draws the answer and its explanation", async () => {
    await page.click("#tab-check");
    await page.fill("#check-resource", "database:prod");
    await page.fill("#check-permission", "approve");
    await page.fill("#check-subject", "user:bob");
    await page.click("#check-run");
    await expect.poll(() => page.textContent("#check-answer")).toBe("ALLOWED");
    expect(await page.locator("#check-tree .node.allowed").count()).toBeGreaterThan(0);
    // A caveat without its context: CONDITIONAL, naming the missing parameter.
    await page.fill("#check-permission", "read");
    await page.fill("#check-subject", "user:carol");
    await page.click("#check-run");
    await expect.poll(() => page.textContent("#check-answer")).toBe("CONDITIONAL (missing context: hour)");
    // With the context: the caveat's branch is ALLOWED and shows the caveat and its result.
    await page.fill("#check-context", '{"hour": 10}');
    await page.click("#check-run");
    await expect.poll(() => page.textContent("#check-answer")).toBe("ALLOWED");
    expect(await page.locator("#check-tree .node.allowed .caveat").first().textContent()).toContain(
      "caveat office_hours: TRUE",
    );
    await page.screenshot({ path: shot("console-check.png"), fullPage: true });
    await page.fill("#check-context", "");
    await page.fill("#check-subject", "agent:bot");
    await page.fill("#check-permission", "delete");
    await page.click("#check-run");
    await expect.poll(() => page.textContent("#check-answer")).toContain("APPROVAL_REQUIRED");
  });

  it("approves the pending request, and the agent's check turns ALLOWED", async () => {
    await page.click("#tab-approvals");
    await page.waitForSelector(".approval.pending");
    expect(await page.textContent(".approval.pending .sentence")).toBe(
      "agent:bot asks to delete database:prod",
    );
    await page.screenshot({ path: shot("console-approvals.png") });
    await page.fill("#approver", "user:bob");
    await page.click(".approval.pending .approve");
    await page.waitForSelector(".approval.approved");
    expect(await page.textContent(".approval.approved")).toContain("Decided by user:bob");
    await page.click("#tab-check");
    await page.fill("#check-resource", "database:prod");
    await page.fill("#check-permission", "delete");
    await page.fill("#check-subject", "agent:bot");
    await page.click("#check-run");
    await expect.poll(() => page.textContent("#check-answer")).toContain("ALLOWED");
    expect(await page.textContent("#check-answer")).not.toContain("APPROVAL");
  });

  it("shows the decision log as sentences", async () => {
    await page.click("#tab-audit");
    await page.waitForSelector("#audit-table tbody tr td:nth-child(3)");
    await expect
      .poll(() => page.locator("#audit-table tbody").textContent())
      .toContain("agent:bot: delete on database:prod ALLOWED");
    // A row opens to its full record, the witness included.
    const row = page.locator("#audit-table details", {
      hasText: "agent:bot: delete on database:prod ALLOWED",
    });
    await row.first().locator("summary").click();
    expect(await row.first().locator("pre").textContent()).toContain('"approvalId"');
    await page.screenshot({ path: shot("console-audit.png"), fullPage: true });
    // The one error allowed: the browser logs the wrong token's 401 answer of the sign-in test.
    expect(consoleErrors.filter((e) => !e.includes("status of 401"))).toEqual([]);
  });
});
