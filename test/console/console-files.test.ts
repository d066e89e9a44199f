import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, get, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleRoutes, loadConsoleFiles } from "../../src/server/console-files.js";

describe("the console's static files", () => {
  let dir: string;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latch-console-files-"));
    mkdirSync(join(dir, "assets"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>x</title>");
    writeFileSync(join(dir, "assets", "index-abc.js"), "console.log(1)");
    const routes = createConsoleRoutes(loadConsoleFiles(dir)!);
    server = createServer((req, res) => {
      if (!routes.handle(req, res)) {
        res.writeHead(418);
        res.end("passed on");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("is absent when there is no build", () => {
    expect(loadConsoleFiles(join(dir, "missing"))).toBeUndefined();
  });

  it("serves the page and its assets with their types and the security headers", async () => {
    const page = await fetch(`${base}/`);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const script = await fetch(`${base}/assets/index-abc.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await script.text()).toBe("console.log(1)");
  });

  it("answers 404 for unknown files and paths outside the build, and leaves POSTs to the API", async () => {
    expect((await fetch(`${base}/nope.js`)).status).toBe(404);
    // Sent raw (fetch would normalise the dots away): only the build's own paths are files.
    for (const path of ["/../../etc/passwd", "/assets/../index.html", "/assets/%2e%2e/index.html"]) {
      const status = await new Promise<number | undefined>((resolve, reject) =>
        get(`${base}${path}`, { path }, (res) => {
          res.resume();
          resolve(res.statusCode);
        }).on("error", reject),
      );
      expect(status, path).toBe(404);
    }
    const post = await fetch(`${base}/latch.v1.SchemaService/ReadSchema`, { method: "POST", body: "{}" });
    expect(post.status).toBe(418);
  });
});

describe("latch serve --console-listen without a build", () => {
  it("refuses to start and says how to build the console", () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-console-missing-"));
    try {
      const run = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "src/cli/main.ts",
          "serve",
          "--listen=127.0.0.1:0",
          "--console-listen=127.0.0.1:0",
          `--console-dir=${join(dir, "nothing")}`,
          `--db=${join(dir, "latch.db")}`,
          "--token=console-missing-token-0123",
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain("no console build in");
      expect(run.stderr).toContain("npm run build");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
