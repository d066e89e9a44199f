/**
 * The HTML page, opened in a real headless browser (Debian's chromium driven by playwright-core;
 * `.ci/run` installs it): the findings and the reach charts are checked as rendered, and a
 * screenshot is kept at docs/posture-report.png. Skips with one line where chromium is absent.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Locator } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostureReport, type PostureReport, renderHtml } from "../../src/posture/index.js";
import { CHROMIUM, chromiumPresent, launchChromium } from "../support/chromium.js";
import { CONFIG, growGrower, NOW, openScenario } from "./fixtures.js";

/** The text as laid out and shown (innerText on purpose: what a reader sees, not the DOM's text). */
// biome-ignore lint/performance/useDomNodeTextContent: the test checks rendered text
const rendered = (l: Locator): Promise<string> => l.innerText();
const present = chromiumPresent;
if (!present)
  console.log(
    `${CHROMIUM} is missing: the posture page's browser test is skipped (apt-get install -y chromium)`,
  );

const dir = mkdtempSync(join(tmpdir(), "latch-posture-html-"));
const SCREENSHOT = join(import.meta.dirname, "../../docs/posture-report.png");
let browser: Browser | undefined;
let report: PostureReport;
let page: string;

beforeAll(async () => {
  const s = await openScenario(join(dir, "html.db"));
  try {
    await createPostureReport({ store: s.store, engine: s.engine, config: CONFIG, now: NOW, save: true });
    await growGrower(s.store);
    report = (await createPostureReport({ store: s.store, engine: s.engine, config: CONFIG, now: NOW }))
      .report;
  } finally {
    await s.close();
  }
  page = join(dir, "posture.html");
  writeFileSync(page, renderHtml(report));
  if (present) browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!present)("the posture page in chromium", () => {
  it("renders the summary, every finding by severity, the reach charts and the drift", async () => {
    const tab = await browser!.newPage({ viewport: { width: 1100, height: 900 } });
    const requests: string[] = [];
    tab.on("request", (r) => {
      if (!r.url().startsWith("file:")) requests.push(r.url());
    });
    await tab.goto(`file://${page}`);

    // Self-contained: nothing fetched from anywhere.
    expect(requests).toEqual([]);
    expect(await rendered(tab.locator('[data-count="findings"]'))).toBe(String(report.findings.length));
    expect(await rendered(tab.locator('[data-count="high"]'))).toBe(String(report.summary.bySeverity.high));

    // Each finding is visible, under its severity's section, with its kind and identity as rendered.
    for (const f of report.findings) {
      const card = tab.locator(
        `section[data-severity="${f.severity}"] article[data-kind="${f.kind}"][data-identity="${f.identity}"]`,
      );
      await expect.poll(() => card.count()).toBe(1);
      expect(await card.isVisible()).toBe(true);
      expect(await rendered(card.locator(".kind"))).toBe(f.kind);
      expect(await rendered(card.locator("p").first())).toBe(f.message);
    }

    // One chart per identity; its bar is as wide as the identity's share of the documents.
    expect(await tab.locator("svg.reach").count()).toBe(report.identities.length);
    const wide = tab.locator(
      'svg.reach[data-identity="agent:wide"] g[data-permission="document#agent_read"]',
    );
    expect(await wide.getAttribute("data-reached")).toBe("5");
    const track = await wide.locator("rect").first().boundingBox();
    const bar = await wide.locator("rect.reached").boundingBox();
    const sensitive = await wide.locator("rect.sensitive").boundingBox();
    expect(track!.width).toBeGreaterThan(0);
    expect(bar!.width / track!.width).toBeCloseTo(0.5, 1);
    expect(sensitive!.width / track!.width).toBeCloseTo(0.1, 1);
    const clean = tab.locator('svg.reach[data-identity="agent:clean"] rect.reached');
    expect((await clean.boundingBox())!.width / track!.width).toBeCloseTo(0.1, 1);

    // The drift section shows grower's growth.
    const drift = tab.locator('table.drift tr[data-identity="agent:grower"]');
    expect(await rendered(drift)).toContain("+2");

    await tab.screenshot({ path: SCREENSHOT, fullPage: true });
    await tab.close();
  }, 120_000);
});
