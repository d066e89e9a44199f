/**
 * `latch --version` and `latch schema check` start fast because they load neither the server's
 * packages (gRPC, logging, metrics, the generated code) nor a store backend: each command loads
 * those when it runs. This records what a real `latch` process loads (record-loads.mjs) rather than
 * timing it, so that it holds on a loaded machine; the numbers are in the report of issue 13.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "latch-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEAVY_PACKAGES = ["@grpc/grpc-js", "pino", "prom-client", "pg", "better-sqlite3", "@bufbuild/protobuf"];
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
});
