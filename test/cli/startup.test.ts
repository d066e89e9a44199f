/**
 * `latch --version` and `latch schema check` start fast because they load neither the server's
 * packages (gRPC, logging, metrics, the generated code) nor a store backend: each command loads
 * those when it runs. The caveat libraries (CEL, RE2, ipaddr.js) load when the first caveat is
 * compiled, so a schema without caveats never loads them. This records what a real `latch`
 * process loads (record-loads.mjs) rather than timing it, so that it holds on a loaded machine;
 * the numbers are in bench/README.md ("Start-up").
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "latch-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEAVY_PACKAGES = ["@grpc/grpc-js", "pino", "prom-client", "pg", "better-sqlite3", "@bufbuild/protobuf"];
/** Loaded when a caveat is compiled (src/conditions/libraries.ts), and only then. */
const CAVEAT_PACKAGES = ["@marcbachmann/cel-js", "re2js", "ipaddr.js"];
const HEAVY_SOURCES = [
  "src/server/",
  "src/client/",
  "src/gen/",
  "src/store/sqlite/",
  "src/store/postgres/store",
];

let runs = 0;

/** Runs `latch ARGS` from the sources and returns what it printed and every module it loaded. */
function latch(args: string[]) {
  const record = join(dir, `loads-${runs++}.txt`);
  const run = spawnSync(
    process.execPath,
    ["--import", "tsx", "--import", "./test/cli/record-loads.mjs", "src/cli/main.ts", ...args],
    { encoding: "utf8", env: { ...process.env, LATCH_RECORD_LOADS: record }, timeout: 60_000 },
  );
  const loaded = readFileSync(record, "utf8")
    .split("\n")
    .filter((line) => line !== "");
  const packages = new Set(
    loaded.flatMap((file) => {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
      return name === undefined ? [] : [name];
    }),
  );
  const sources = loaded
    .filter((file) => file.includes("/src/"))
    .map((file) => file.slice(file.indexOf("src/")));
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, packages, sources };
}

function expectLight(run: ReturnType<typeof latch>): void {
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  // The recorder works: it saw the package every command needs.
  expect(run.packages).toContain("commander");
  expect([...run.packages].filter((name) => HEAVY_PACKAGES.includes(name))).toEqual([]);
  expect(run.sources.filter((file) => HEAVY_SOURCES.some((heavy) => file.startsWith(heavy)))).toEqual([]);
}

describe("what a latch command loads", () => {
  it("--version loads no server package, no generated code, no store backend", () => {
    const run = latch(["--version"]);
    expect(run.stdout.trim()).toBe("0.1.0");
    expectLight(run);
    // Nor the schema compiler and the CEL library.
    expect(run.packages).not.toContain("@marcbachmann/cel-js");
  }, 60_000);

  it("schema check loads the compiler but no server package and no store backend", () => {
    const run = latch(["schema", "check", "schemas/docs.zed"]);
    expect(run.stdout).toMatch(/^schemas\/docs\.zed: 5 definitions/);
    expectLight(run);
    // docs.zed has no caveats: nothing loads the CEL library, RE2 or ipaddr.js.
    expect([...run.packages].filter((name) => CAVEAT_PACKAGES.includes(name))).toEqual([]);
  }, 60_000);

  it("schema check of a schema with caveats loads the CEL library when it compiles them", () => {
    const run = latch(["schema", "check", "schemas/rag.zed"]);
    expect(run.stdout).toMatch(/^schemas\/rag\.zed: 7 definitions, .*4 caveats/);
    expectLight(run);
    expect(run.packages).toContain("@marcbachmann/cel-js");
    expect(run.packages).toContain("ipaddr.js");
  }, 60_000);

  it("audit --help loads no store backend and no audit code: a subcommand loads them when it runs", () => {
    const run = latch(["audit", "--help"]);
    expect(run.stdout).toContain("verify");
    expectLight(run);
    expect(run.sources.filter((file) => file.startsWith("src/audit/"))).toEqual([]);
  }, 60_000);

  it("check --db loads the SQLite backend (the recorder sees what a command does load)", () => {
    const db = join(dir, "check.db");
    const run = latch(["check", "document:x", "view", "user:y", "--db", db]);
    expect(run.packages).toContain("better-sqlite3");
    expect(run.packages).not.toContain("pg");
  }, 60_000);

  it("check --db on a schema without caveats loads no generated code, gRPC or caveat library", () => {
    const db = join(dir, "docs.db");
    expect(latch(["schema", "write", "schemas/docs.zed", "--db", db]).status).toBe(0);
    const write = latch(["relationships", "write", "document:plan#viewer@user:olga", "--db", db]);
    expect(write.status).toBe(0);
    const run = latch(["check", "document:plan", "view", "user:olga", "--db", db]);
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("allowed");
    expect(run.packages).toContain("better-sqlite3");
    const heavy = [...HEAVY_PACKAGES.filter((name) => name !== "better-sqlite3"), ...CAVEAT_PACKAGES];
    expect([...run.packages].filter((name) => heavy.includes(name))).toEqual([]);
    expect(
      run.sources.filter((file) => file.startsWith("src/gen/") || file.startsWith("src/server/")),
    ).toEqual([]);
  }, 60_000);

  it("check --db on a schema with caveats loads the CEL library and answers with it", () => {
    const db = join(dir, "rag.db");
    expect(latch(["schema", "write", "schemas/rag.zed", "--db", db]).status).toBe(0);
    const write = latch([
      "relationships",
      "write",
      "document:plan#viewer@user:olga",
      'document:plan#sensitivity@user:*[sensitivity_cleared:{"sensitivity":2}]',
      "--db",
      db,
    ]);
    expect(write.stderr).toBe("");
    const check = ["check", "document:plan", "read", "user:olga", "--db", db];
    const cleared = latch([...check, "--context", '{"clearance":3}']);
    expect(cleared.stdout.trim()).toBe("allowed");
    expect(cleared.packages).toContain("@marcbachmann/cel-js");
    expect(latch([...check, "--context", '{"clearance":1}']).stdout.trim()).toBe("denied");
    expect(latch(check).stdout.trim()).toBe("conditional (missing context: clearance)");
  }, 60_000);
});
