/**
 * The Schema and Posture pages end to end: a real `latch serve --console-listen` over the seeded
 * posture scenario (test/posture/fixtures.ts), Debian's chromium driven by playwright-core. Skips
 * with one line where /usr/bin/chromium is missing. Screenshots at 1280 and 1920 wide go to a
 * temporary folder, or to docs/ (the README's pictures) with LATCH_CONSOLE_SCREENSHOTS=1.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { formatSchema } from "../../src/schema/index.js";
import { CONFIG, GROWTH, openScenario, SCHEMA, scenarioRelationships } from "../posture/fixtures.js";
import { CHROMIUM, chromiumPresent, launchChromium } from "../support/chromium.js";
import { type ConsoleServer, startConsoleServer } from "../support/console-server.js";

const TOKEN = "console-schema-e2e-token-0123456789";
const shotsInDocs = process.env.LATCH_CONSOLE_SCREENSHOTS === "1";
if (!chromiumPresent) console.log(`console schema/posture e2e: skipped, ${CHROMIUM} is missing`);

/** 1-based line of the first line of `text` that contains `needle`. */
const lineOf = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;

describe.skipIf(!chromiumPresent)("the Schema and Posture pages in a real browser", () => {
  let dir: string;
  let server: ConsoleServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const shot = async (name: string) => {
    for (const width of [1280, 1920]) {
      await page.setViewportSize({ width, height: 900 });
      const file = `console-${name}-${width}.png`;
      await page.screenshot({ path: shotsInDocs ? join("docs", file) : join(dir, file), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  };

  /** An expression evaluated in the page (text: this project's type check has no DOM library). */
  const inPage = <T>(expression: string) => page.evaluate(expression) as Promise<T>;

  const api = (service: string, method: string, body: unknown) => server.api(TOKEN, service, method, body);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latch-console-schema-"));
    const db = join(dir, "latch.db");
    await (await openScenario(db)).close();
    server = await startConsoleServer(dir, [`--db=${db}`, `--token=${TOKEN}`]);
    base = server.base;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    await page.goto(base);
    await page.fill("#token", TOKEN);
    await page.click("#sign-in button[type=submit]");
    await page.waitForSelector("#schema-text");
    // Polled from here, as the other console tests poll: a string predicate that playwright has to
    // poll in the page runs through eval, which the console's CSP (script-src 'self') refuses.
    await vi.waitFor(async () => expect(await page.inputValue("#schema-text")).toBe(SCHEMA), {
      timeout: 15_000,
      interval: 50,
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("highlights the stored schema with the lexer's words", async () => {
    expect(await page.locator(".highlight .hl-keyword").first().textContent()).toBe("use");
    const defs = await page.locator(".highlight .hl-def").allTextContents();
    expect(defs).toEqual(expect.arrayContaining(["user", "agent", "document", "sensitivity_cleared"]));
    // The layer draws exactly the editor's text, so the caret and the colours line up.
    expect(await page.locator(".highlight").textContent()).toBe(`${SCHEMA}\n`);
    expect(await page.textContent("#schema-diff-summary")).toBe("No changes against the stored schema.");
  });

  it("shows the compiler's diagnostic, with its fix hint, at the right line", async () => {
    const broken = SCHEMA.replace("relation owner: user", "relation owner: usr");
    const line = lineOf(broken, "relation owner: usr");
    await page.fill("#schema-text", broken);
    const problem = page.locator("#schema-problems .problem");
    await expect.poll(() => problem.count()).toBe(1);
    const text = await problem.textContent();
    expect(text).toContain(`line ${line}, column 19`);
    expect(text).toContain("unknown type `usr`");
    expect(await problem.locator(".hint").textContent()).toBe(
      "Fix: did you mean `user`? Or add `definition usr {}` or fix the name",
    );
    expect(await page.locator(".gutter .bad").textContent()).toBe(`${line}\n`);
    expect(await page.locator(".highlight .hl-error").textContent()).toBe("usr");
    expect(await page.isDisabled("#schema-write")).toBe(true);
    expect(await page.isDisabled("#schema-format")).toBe(true);
    // The problem's link puts the caret on the spot.
    await problem.locator("button").click();
    const selected = await inPage<string>(
      `(() => { const a = document.querySelector("#schema-text"); return a.value.slice(a.selectionStart, a.selectionEnd); })()`,
    );
    expect(selected).toBe("usr");
    // ... and in view: the underlined word lies inside the editor's box.
    const spot = (await page.locator(".highlight .hl-error").boundingBox())!;
    const box = (await page.locator(".editor").boundingBox())!;
    expect(spot.y).toBeGreaterThanOrEqual(box.y);
    expect(spot.y + spot.height).toBeLessThanOrEqual(box.y + box.height);
    await shot("schema-problem");
  });

  it("formats with the project's formatter", async () => {
    const messy = SCHEMA.replace("definition user {", "definition   user{").replace(
      "permission read = viewer + folder->view",
      "permission read = viewer+folder->view",
    );
    await page.fill("#schema-text", messy);
    await expect.poll(() => page.textContent("#schema-status")).toBe("No problems.");
    await page.click("#schema-format");
    await expect.poll(() => page.inputValue("#schema-text")).toBe(formatSchema(messy));
    expect(await page.textContent("#schema-status")).toBe("Formatted.");
  });

  it("shows the diff against the stored schema, and the write refused with the orphan counts", async () => {
    const edited = SCHEMA.replace(
      "relation folder: folder\n  relation viewer: user",
      "relation folder: folder\n  relation viewer: agent",
    );
    expect(edited).not.toBe(SCHEMA);
    await page.fill("#schema-text", edited);
    await expect.poll(() => page.textContent("#schema-diff-summary")).toBe("2 change(s) to the schema.");
    expect(await page.locator("#schema-changes li").allTextContents()).toEqual([
      "subject type user of document#viewer: removed",
      "subject type agent of document#viewer: added",
    ]);
    expect(await page.locator("#schema-changes li.risky").textContent()).toBe(
      "subject type user of document#viewer: removed",
    );
    expect(await page.isVisible("#schema-risk")).toBe(true);
    expect(await page.locator("#schema-diff .diff-del").allTextContents()).toEqual([
      "-   relation viewer: user",
    ]);
    expect(await page.locator("#schema-diff .diff-add").allTextContents()).toEqual([
      "+   relation viewer: agent",
    ]);

    const viewers = scenarioRelationships().filter(
      (r) => r.resource.type === "document" && r.relation === "viewer",
    ).length;
    expect(viewers).toBeGreaterThan(0);
    await page.click("#schema-write");
    await page.waitForSelector("#schema-orphans:not([hidden])");
    expect(await page.textContent("#schema-orphans h3")).toBe(
      `Not written: ${viewers} stored relationship(s) would be orphaned`,
    );
    const row = page.locator("#schema-orphan-table tbody tr");
    expect(await row.count()).toBe(1);
    expect(await row.locator("td").nth(0).textContent()).toBe("document#viewer");
    expect(await row.locator("td").nth(1).textContent()).toBe(String(viewers));
    expect(await page.textContent("#schema-status")).toBe("Schema not written.");
    await shot("schema-orphans");
    // Nothing was written.
    expect((await api("SchemaService", "ReadSchema", {})).schemaText).toBe(SCHEMA);
  });

  it("is keyboard accessible: labelled controls in order, focus visible", async () => {
    await page.fill("#schema-text", SCHEMA);
    await page.focus("#schema-text");
    await page.keyboard.press("Tab");
    expect(await inPage<string>("document.activeElement?.id")).toBe("schema-format");
    await page.keyboard.press("Tab");
    expect(await inPage<string>("document.activeElement?.id")).toBe("schema-write");
    const outline = await inPage<string>(
      'getComputedStyle(document.querySelector("#schema-write")).outlineStyle',
    );
    expect(outline).toBe("solid");
    // Every control on the page has an accessible name.
    const unnamed = await inPage<
      string[]
    >(`[...document.querySelectorAll("#page button, #page textarea, #page input")]
      .filter((e) => {
        const labelled = e.id !== "" && document.querySelector('label[for="' + e.id + '"]') !== null;
        return !labelled && !e.getAttribute("aria-label") && (e.textContent ?? "").trim() === "";
      })
      .map((e) => e.outerHTML)`);
    expect(unnamed).toEqual([]);
  });

  it("shows the posture report's planted findings, by severity, and the drift", async () => {
    await page.click("#tab-posture");
    // The defaults fit schemas/rag.zed, not this schema: the server says which names are wrong.
    await page.waitForSelector("#page .error:not([hidden])");
    expect(await page.textContent("#page .error")).toContain("posture config");
    await page.click("#posture-form summary");
    await page.fill("#posture-config", CONFIG);
    await page.check("#posture-save");
    await page.click("#posture-run");
    await expect.poll(() => page.textContent("#posture-status")).toBe("Report computed and kept.");
    const orphan = page.locator(
      '#posture-findings .finding[data-kind="orphan-identity"][data-identity="agent:orphan"]',
    );
    expect(await orphan.count()).toBe(1);
    const severity = await orphan.getAttribute("data-severity");
    expect(
      await page
        .locator(
          `#posture-findings section[data-severity="${severity}"] .finding[data-identity="agent:orphan"]`,
        )
        .count(),
    ).toBe(1);
    expect(await orphan.locator(".fix").textContent()).toMatch(/^Fix: ./);
    const findings = await page.locator("#posture-findings .finding").count();
    expect(await page.textContent('#posture-summary [data-count="findings"] b')).toBe(String(findings));
    expect(await page.locator("#posture-severity-chart rect").count()).toBe(6);
    expect(await page.textContent("#posture-drift")).toContain("No earlier report was kept");
    expect(await page.locator('#posture-reach svg[data-identity="agent:grower"]').count()).toBe(1);

    // agent:grower gains two documents; the next report measures it against the kept one.
    await api("RelationshipService", "WriteRelationships", {
      updates: GROWTH.map((r) => {
        const [, doc] = /^document:(\w+)#/.exec(r)!;
        return {
          operation: "OPERATION_TOUCH",
          relationship: {
            resource: { objectType: "document", objectId: doc },
            relation: "agent_access",
            subject: { object: { objectType: "agent", objectId: "grower" } },
            optionalExpiresAt: "2030-02-01T00:00:00Z",
          },
        };
      }),
    });
    await page.click("#posture-run");
    await expect.poll(() => page.locator('#posture-drift tr[data-identity="agent:grower"]').count()).toBe(1);
    expect(await page.textContent('#posture-drift tr[data-identity="agent:grower"] .change')).toBe("+2");
    await shot("posture");
  });

  it("logged no errors in the browser but the refusals the tests provoked", () => {
    // Chromium logs each non-2xx answer to fetch as a console error: here the posture defaults'
    // refusal (400) and the orphan check's (412). Anything else is a bug.
    const provoked = /Failed to load resource: the server responded with a status of (400|412)/;
    expect(consoleErrors.filter((e) => !provoked.test(e))).toEqual([]);
  });
});
