/**
 * The Relationships, Check (explain graph, Expand, lookups), Approvals and Audit pages end to end:
 * a real `latch serve --console-listen` with an administrator's token and a token named after an
 * approver (`user:bob=...`), Debian's chromium driven by playwright-core. Skips with one line
 * where /usr/bin/chromium is missing. Screenshots go to a temporary folder, or to
 * docs/console-*.png (the README's pictures) with LATCH_CONSOLE_SCREENSHOTS=1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, chromiumPresent, launchChromium } from "../support/chromium.js";
import { type ConsoleServer, startConsoleServer } from "../support/console-server.js";

const ADMIN = "pages-e2e-admin-0123456789";
const BOB = "pages-e2e-bob-0123456789";
const SCHEMA = `definition user {}
definition agent {}
definition group {
  relation member: user
}
definition folder {
  relation reader: user | group#member
  permission view = reader
}
definition database {
  relation admin: user
  relation operator: agent
  relation reader: user with office_hours
  relation parent: folder
  permission delete = operator
  permission approve = admin
  permission read = reader + admin + parent->view
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
const IMPORT = `// the folder tree of the prod database
database:prod#parent@folder:f
folder:f#reader@group:eng#member
group:eng#member@user:dan

database:prod#reader@user:carol[office_hours]
`;

/** The machine may be loaded: an answer is waited for up to 15 s, never timed. */
const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 15_000 });
const shotsInDocs = process.env.LATCH_CONSOLE_SCREENSHOTS === "1";
if (!chromiumPresent)
  console.log(`console pages e2e: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`);

describe.skipIf(!chromiumPresent)("the console's pages in a real browser", () => {
  let dir: string;
  let server: ConsoleServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const shot = (name: string) => (shotsInDocs ? join("docs", name) : join(dir, name));

  const api = (service: string, method: string, body: unknown) => server.api(ADMIN, service, method, body);
  const signIn = async (token: string) => {
    await page.fill("#token", token);
    await page.click("#sign-in button[type=submit]");
    await page.waitForSelector("nav");
  };
  const check = async (resource: string, permission: string, subject: string, context = "") => {
    await page.fill("#check-resource", resource);
    await page.fill("#check-permission", permission);
    await page.fill("#check-subject", subject);
    await page.fill("#check-context", context);
    await page.click("#check-run");
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latch-console-pages-"));
    writeFileSync(join(dir, "schema.zed"), SCHEMA);
    writeFileSync(join(dir, "rules.yaml"), RULES);
    server = await startConsoleServer(dir, [
      `--db=${join(dir, "latch.db")}`,
      `--schema=${join(dir, "schema.zed")}`,
      `--approval-rules=${join(dir, "rules.yaml")}`,
      "--audit=all",
      `--token=${ADMIN}`,
      `--token=user:bob=${BOB}`,
    ]);
    base = server.base;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    await page.goto(base);
    await signIn(ADMIN);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("adds relationships, showing the server's refusal of a bad one next to the box", async () => {
    await page.click("#tab-relationships");
    for (const r of ["database:prod#operator@agent:bot", "database:prod#admin@user:bob"]) {
      await page.fill("#rel-new", r);
      await page.click("#rel-add button[type=submit]");
      await poll(() => page.textContent("#rel-add-status")).toBe(`Added ${r}.`);
    }
    // `writer` is no relation of database: the server says so, inline, and nothing is written.
    await page.fill("#rel-new", "database:prod#writer@user:eve");
    await page.click("#rel-add button[type=submit]");
    await page.waitForSelector("#rel-add-error:not([hidden])");
    expect(await page.textContent("#rel-add-error")).toContain("writer");
    expect(await page.getAttribute("#rel-new", "aria-invalid")).toBe("true");
    // A line that is not a relationship at all is caught before it is sent.
    await page.fill("#rel-new", "database:prod#admin");
    await page.click("#rel-add button[type=submit]");
    await poll(() => page.textContent("#rel-add-error")).toContain("relationship:");
    await page.fill("#rel-type", "database");
    await page.click("#rel-search");
    await poll(() => page.textContent("#rel-summary")).toBe("2 relationship(s).");
    expect(await page.textContent("#rel-table")).not.toContain("eve");
  });

  it("imports a file in batches and shows the progress to its end", async () => {
    await page.setInputFiles("#rel-import-file", {
      name: "prod.txt",
      mimeType: "text/plain",
      buffer: Buffer.from(IMPORT),
    });
    await poll(() => page.textContent("#rel-import-status")).toBe("prod.txt: imported 4 relationship(s).");
    expect(
      await page.$eval("#rel-import-progress", (p) => [p.getAttribute("value"), p.getAttribute("max")]),
    ).toEqual(["4", "4"]);
    // The browse filters like ReadRelationships: by relation, then by subject.
    await page.fill("#rel-type", "database");
    await page.fill("#rel-relation", "reader");
    await page.click("#rel-search");
    await poll(() => page.locator("#rel-table tbody tr").count()).toBe(1);
    expect(await page.textContent("#rel-table tbody")).toContain(
      "database:prod#reader@user:carol[office_hours]",
    );
    await page.fill("#rel-relation", "");
    await page.fill("#rel-subject", "agent");
    await page.click("#rel-search");
    await poll(() => page.textContent("#rel-table tbody")).toContain("database:prod#operator@agent:bot");
    expect(await page.locator("#rel-table tbody tr").count()).toBe(1);
    await page.fill("#rel-subject", "");
    await page.click("#rel-search");
    await poll(() => page.textContent("#rel-summary")).toBe("4 relationship(s).");
    await page.screenshot({ path: shot("console-relationships.png"), fullPage: true });
  });

  it("deletes a relationship from its row", async () => {
    await page.fill("#rel-new", "database:prod#admin@user:zed");
    await page.click("#rel-add button[type=submit]");
    await poll(() => page.textContent("#rel-summary")).toBe("5 relationship(s).");
    await page.click('#rel-table button[aria-label="delete database:prod#admin@user:zed"]');
    await poll(() => page.textContent("#rel-summary")).toBe("4 relationship(s).");
    expect(await page.textContent("#rel-table")).not.toContain("user:zed");
  });

  it("draws the explain graph with the witness path and the caveat with its context", async () => {
    await page.click("#tab-check");
    await check("database:prod", "read", "user:dan");
    await poll(() => page.textContent("#check-answer")).toBe("ALLOWED");
    // The path from the permission down the folder to the group membership is outlined.
    const witness = await page.textContent("#check-witness");
    for (const r of [
      "database:prod#parent@folder:f",
      "folder:f#reader@group:eng#member",
      "group:eng#member@user:dan",
    ])
      expect(witness).toContain(r);
    const onPath = await page.locator("#check-tree .node.on-path > .box .label").allTextContents();
    expect(onPath[0]).toBe("database:prod#read");
    expect(onPath).toContain("parent->view");
    expect(onPath.some((l) => l.startsWith("database:prod#parent@folder:f"))).toBe(true);
    // The caveated branch: the caveat, its parameter and the context it was given.
    await check("database:prod", "read", "user:carol", '{"hour": 10}');
    await poll(() => page.textContent("#check-answer")).toBe("ALLOWED");
    const caveats = page.locator("#check-caveats");
    expect(await caveats.locator(".caveat.result-true").first().textContent()).toContain(
      "caveat office_hours: TRUE",
    );
    expect(await caveats.locator(".params dt").first().textContent()).toBe("hour");
    expect(await caveats.locator(".params dd").first().textContent()).toBe("10");
    expect(await page.textContent("#check-witness")).toContain(
      "database:prod#reader@user:carol[office_hours]",
    );
    expect(await page.locator("#check-tree .node.on-path .caveat.result-true").count()).toBeGreaterThan(0);
    await page.screenshot({ path: shot("console-explain.png"), fullPage: true });
    // DENIED: every branch drawn in its colour, and no path, for nothing proved it.
    await check("database:prod", "read", "user:eve");
    await poll(() => page.textContent("#check-answer")).toBe("DENIED");
    expect(await page.locator("#check-tree .node.denied").count()).toBeGreaterThan(1);
    expect(await page.locator("#check-tree .on-path").count()).toBe(0);
    expect(await page.textContent("#check-witness")).toContain("None");
  });

  it("draws Expand as a tree and the lookups as tables with their state", async () => {
    await page.fill("#check-resource", "database:prod");
    await page.fill("#check-permission", "read");
    await page.click("#expand-run");
    await page.waitForSelector("#expand-tree");
    const expanded = await page.textContent("#expand-tree");
    expect(expanded).toContain("database:prod#read");
    expect(expanded).toContain("union");
    expect(expanded).toContain("user:carol [office_hours]");
    expect(expanded).toContain("user:bob");
    // LookupSubjects: carol only under a condition, named by its missing parameter.
    await page.fill("#check-subject", "user");
    await page.fill("#check-context", "");
    await page.click("#lookup-subjects-run");
    await page.waitForSelector("#lookup-subjects");
    const rows = await page
      .locator("#lookup-subjects tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent)),
      );
    expect(rows).toEqual(
      expect.arrayContaining([
        ["bob", "ALLOWED", ""],
        ["carol", "CONDITIONAL", "hour"],
        ["dan", "ALLOWED", ""],
      ]),
    );
    await page.screenshot({ path: shot("console-lookups.png"), fullPage: true });
    await page.fill("#check-resource", "database");
    await page.fill("#check-subject", "user:carol");
    await page.click("#lookup-resources-run");
    await page.waitForSelector("#lookup-resources");
    expect(await page.textContent("#lookup-resources tbody tr")).toBe("prodCONDITIONALhour");
  });

  it("shows the agent's permission path, decides as the signed-in approver, and the check turns ALLOWED", async () => {
    await check("database:prod", "delete", "agent:bot");
    await poll(() => page.textContent("#check-answer")).toBe("APPROVAL_REQUIRED (approval rule prod-delete)");
    await api("ApprovalService", "RequestApproval", {
      resource: { objectType: "database", objectId: "prod" },
      permission: "delete",
      subject: { object: { objectType: "agent", objectId: "bot" } },
      bindingMessage: "drop the prod database",
      justification: "decommissioning",
    });
    // Signed in as bob, whose token is named user:bob: he decides as himself.
    await page.click("#sign-out");
    await signIn(BOB);
    await page.click("#tab-approvals");
    await page.waitForSelector(".approval.pending");
    expect(await page.textContent(".approval.pending .permission-path")).toContain(
      "database:prod#operator@agent:bot",
    );
    await page.screenshot({ path: shot("console-approval-path.png"), fullPage: true });
    // Bob's token cannot sign for someone else.
    await page.fill("#approver", "user:olga");
    await page.click(".approval.pending .approve");
    await page.waitForSelector("#page .error:not([hidden])");
    expect(await page.textContent("#page .error")).toContain("approval/approver-mismatch");
    await page.fill("#approver", "");
    await page.click(".approval.pending .approve");
    await page.waitForSelector(".approval.approved");
    expect(await page.textContent(".approval.approved")).toContain("Decided by user:bob");
    await page.click("#tab-check");
    await check("database:prod", "delete", "agent:bot");
    await poll(() => page.textContent("#check-answer")).toMatch(/^ALLOWED /);
  });

  it("shows the decision log live and searchable, each row opening to its witness", async () => {
    await page.click("#tab-audit");
    await poll(() => page.textContent("#audit-live")).toBe("Live: new decisions appear at the top.");
    const row = page.locator("#audit-table details", {
      hasText: "agent:bot: delete on database:prod ALLOWED",
    });
    await poll(() => row.count()).toBeGreaterThan(0);
    // A decision made elsewhere while the page is open appears without a reload.
    await api("PermissionService", "CheckPermission", {
      resource: { objectType: "database", objectId: "prod" },
      permission: "approve",
      subject: { object: { objectType: "user", objectId: "frank" } },
    });
    await poll(() => page.textContent("#audit-table tbody tr:first-child")).toContain(
      "user:frank: approve on database:prod DENIED",
    );
    // The search keeps the rows with every word.
    await page.fill("#audit-search-text", "carol allowed");
    await poll(() => page.locator("#audit-table tbody tr").count()).toBe(1);
    expect(await page.textContent("#audit-table tbody")).toContain(
      "user:carol: read on database:prod ALLOWED",
    );
    await page.fill("#audit-search-text", "agent:bot delete allowed");
    await row.first().locator("summary").click();
    expect(await row.first().locator(".witness").textContent()).toContain("database:prod#operator@agent:bot");
    expect(await row.first().locator("pre").textContent()).toContain('"approvalId"');
    await page.screenshot({ path: shot("console-audit-live.png"), fullPage: true });
    // The browser logs each refused call; the only ones are the two refusals this test asked for:
    // the write of an unknown relation and bob signing for olga.
    expect(consoleErrors).toEqual([
      "Failed to load resource: the server responded with a status of 400 (Bad Request)",
      "Failed to load resource: the server responded with a status of 403 (Forbidden)",
    ]);
  });
  it("lays out every page at 1280 and 1920 wide without sideways scrolling", async () => {
    const tabs = await page.locator("nav .tab").allTextContents();
    expect(tabs.length).toBeGreaterThanOrEqual(6);
    for (const width of [1280, 1920]) {
      await page.setViewportSize({ width, height: 900 });
      for (const name of tabs) {
        await page.click(`#tab-${name.toLowerCase()}`);
        await page.waitForSelector("#page > *");
        // A page wider than the window would need sideways scrolling: the layout must fit.
        const fits = await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth");
        expect(fits, `${name} at ${width}`).toBe(true);
        expect(await page.locator("#page").isVisible(), `${name} at ${width}`).toBe(true);
      }
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });
});
