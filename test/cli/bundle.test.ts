/**
 * `npm run build` bundles the entries (scripts/bundle.mjs). This bundles the sources the same way
 * into a temporary directory and records what the bundled program loads: the bundling must keep
 * each command's and each backend's code behind its dynamic import (startup.test.ts asserts the
 * same of the unbundled sources), and must load far fewer of Latch's files than the sources do.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain JavaScript build script, without types
import { bundle } from "../../scripts/bundle.mjs";

const root = resolve(".");
const dir = mkdtempSync(join(tmpdir(), "latch-bundle-"));
const out = join(dir, "dist");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  await (bundle as (from: string, to: string, ext: string) => Promise<void>)(join(root, "src"), out, ".ts");
  // Packages stay external: the bundle resolves them from a node_modules above it.
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
}, 60_000);

let runs = 0;

function bundled(args: string[]) {
  const record = join(dir, `loads-${runs++}.txt`);
  const run = spawnSync(
    process.execPath,
    ["--import", join(root, "test/cli/record-loads.mjs"), join(out, "cli/main.js"), ...args],
    { encoding: "utf8", cwd: root, env: { ...process.env, LATCH_RECORD_LOADS: record }, timeout: 60_000 },
  );
  const loaded = [...new Set(readFileSync(record, "utf8").split("\n"))].filter((line) => line !== "");
  const packages = new Set(
    loaded.flatMap((file) => {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
      return name === undefined ? [] : [name];
    }),
  );
  const own = loaded.filter((file) => file.includes(out));
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, packages, own };
}

const SERVER = ["@grpc/grpc-js", "pino", "prom-client", "@bufbuild/protobuf", "pg"];
const CAVEATS = ["@marcbachmann/cel-js", "re2js", "ipaddr.js"];

describe("the bundled program", () => {
  it("--version loads commander and a few chunks, no store, server or caveat package", () => {
    const run = bundled(["--version"]);
    expect(run.stdout.trim()).toBe("0.1.0");
    expect(run.packages).toContain("commander");
    expect([...run.packages].filter((name) => name !== "commander")).toEqual([]);
    expect(run.own.length).toBeLessThan(10);
  });

  it("check --db on a schema without caveats loads SQLite but no server or caveat package", () => {
    const db = join(dir, "docs.db");
    expect(bundled(["schema", "write", "schemas/docs.zed", "--db", db]).status).toBe(0);
    const run = bundled(["check", "document:plan", "view", "user:olga", "--db", db]);
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("denied");
    expect(run.packages).toContain("better-sqlite3");
    expect([...run.packages].filter((name) => [...SERVER, ...CAVEATS].includes(name))).toEqual([]);
    // The sources load over a hundred of Latch's files for this command.
    expect(run.own.length).toBeLessThan(30);
  });

  it("schema check of a schema with caveats loads the CEL library from the bundle", () => {
    const run = bundled(["schema", "check", "schemas/rag.zed"]);
    expect(run.stdout).toMatch(/^schemas\/rag\.zed: 7 definitions, .*4 caveats/);
    expect(run.packages).toContain("@marcbachmann/cel-js");
  });
});
