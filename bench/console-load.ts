/**
 * How fast the console's first page is usable on loopback: a real `latch serve --console-listen`
 * serving a fresh `vite build`, Debian's chromium (playwright-core), a new browser context per
 * round (nothing cached). Reports, per round and as medians: DOMContentLoaded, the sign-in form
 * ready for typing (its token field focused by the page's own script), and sign-in to the first
 * page drawn. The target of issue 21 is the sign-in form interactive in under 1 s.
 *
 *   npx tsx bench/console-load.ts [rounds]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "../test/support/chromium.js";
import { startConsoleServer } from "../test/support/console-server.js";

const TOKEN = "console-load-bench-0123456789";
const rounds = Number(process.argv[2] ?? 10);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "latch-console-load-"));
  const server = await startConsoleServer(dir, [`--db=${join(dir, "latch.db")}`, `--token=${TOKEN}`]);
  const base = server.base;
  const browser = await launchChromium();
  const dcl: number[] = [];
  const ready: number[] = [];
  const signedIn: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(base);
      // Strings, not functions: they run in the page, and this file is typed without the DOM.
      await page.waitForFunction('document.activeElement?.id === "token"');
      const nav = (await page.evaluate(
        '({ dcl: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd, ready: performance.now() })',
      )) as { dcl: number; ready: number };
      const start = Date.now();
      await page.fill("#token", TOKEN);
      await page.click("#sign-in button[type=submit]");
      await page.waitForSelector("#page > *");
      signedIn.push(Date.now() - start);
      dcl.push(nav.dcl);
      ready.push(nav.ready);
      await context.close();
    }
  } finally {
    await browser.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`rounds: ${rounds}, fresh browser context each`);
  console.log(`DOMContentLoaded      p50 ${ms(median(dcl))}  max ${ms(Math.max(...dcl))}`);
  console.log(`sign-in form ready    p50 ${ms(median(ready))}  max ${ms(Math.max(...ready))}`);
  console.log(`sign-in -> first page p50 ${ms(median(signedIn))}  max ${ms(Math.max(...signedIn))}`);
}

await main();
