/**
 * `--audit-include` and `--audit-sample` (and LATCH_AUDIT_INCLUDE, LATCH_AUDIT_SAMPLE) on the
 * in-process decision commands and `latch serve`: parsed by src/cli/audit-flags.ts for both.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseAuditFlags } from "../../src/cli/audit-flags.js";
import { checkCommand } from "../../src/cli/commands/check.js";
import { serveCommand } from "../../src/cli/commands/serve.js";
import { createEmbedded } from "../../src/client/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { runCommand } from "../cli/run-command.js";

const SCHEMA = `
definition user {}
definition document {
  relation viewer: user
  permission view = viewer
  permission export = viewer
}
definition folder {
  relation viewer: user
  permission view = viewer
}`;

const dir = mkdtempSync(join(tmpdir(), "latch-audit-policy-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ENV = ["LATCH_AUDIT", "LATCH_AUDIT_INCLUDE", "LATCH_AUDIT_SAMPLE"];
afterEach(() => {
  for (const name of ENV) delete process.env[name];
});
let files = 0;

async function seeded(): Promise<string> {
  const path = join(dir, `policy-${files++}.db`);
  const client = await createEmbedded({ database: path, schema: SCHEMA, audit: false });
  await client.writeRelationships({
    updates: ["document:a#viewer@user:alice", "folder:f#viewer@user:alice"].map((relationship) => ({
      operation: "touch" as const,
      relationship,
    })),
  });
  await client.close();
  return path;
}

async function recorded(path: string) {
  const store = await createSqliteStore({ path });
  try {
    return (await store.decisions.read()).map((d) => d.record);
  } finally {
    await store.close();
  }
}

const check = (...args: string[]) => runCommand(checkCommand(), args);

describe("--audit-include and --audit-sample in process", () => {
  it("records every decision on included types and permissions (flags repeat, env is comma-separated)", async () => {
    const path = await seeded();
    const include = ["--audit-include", "folder", "--audit-include", "document#export"];
    for (const [resource, permission] of [
      ["folder:f", "view"],
      ["document:a", "view"],
      ["document:a", "export"],
    ] as const) {
      expect((await check(resource, permission, "user:alice", "--db", path, ...include)).stdout).toBe(
        "allowed\n",
      );
    }
    process.env.LATCH_AUDIT_INCLUDE = "document#view, folder";
    await check("document:a", "view", "user:alice", "--db", path);
    expect(
      (await recorded(path)).map((r) => [r.resource, r.permission, r.witness?.length, r.sampled]),
    ).toEqual([
      ["folder:f", "view", 1, undefined],
      ["document:a", "export", 1, undefined],
      ["document:a", "view", 1, undefined],
    ]);
  });

  it("--audit-sample 1 keeps every plain decision, marked sampled; LATCH_AUDIT_SAMPLE too", async () => {
    const path = await seeded();
    await check("document:a", "view", "user:alice", "--db", path, "--audit-sample", "1");
    await check("document:a", "view", "user:alice", "--db", path, "--audit-sample", "0");
    process.env.LATCH_AUDIT_SAMPLE = "1";
    await check("folder:f", "view", "user:alice", "--db", path);
    expect((await recorded(path)).map((r) => [r.resource, r.answer, r.sampled])).toEqual([
      ["document:a", "ALLOWED", true],
      ["folder:f", "ALLOWED", true],
    ]);
  });

  it("refuses a malformed entry, a share outside 0..1, and either with a policy other than agents", async () => {
    const path = await seeded();
    const cases: [string[], string][] = [
      [
        ["--audit-include", "document:a"],
        '--audit-include takes TYPE or TYPE#PERMISSION (e.g. document or document#export), got "document:a"',
      ],
      [
        ["--audit-sample", "1.5"],
        '--audit-sample takes the share of plain decisions to record, between 0 and 1 (e.g. 0.01), got "1.5"',
      ],
      [["--audit-sample", "often"], 'between 0 and 1 (e.g. 0.01), got "often"'],
      [["--audit-sample", ""], 'between 0 and 1 (e.g. 0.01), got ""'],
      [["--audit", "all", "--audit-sample", "0.5"], "--audit all leaves nothing to add or sample"],
      [["--audit", "off", "--audit-include", "folder"], "--audit off leaves nothing to add or sample"],
    ];
    for (const [flags, message] of cases) {
      const out = await check("document:a", "view", "user:alice", "--db", path, ...flags);
      expect(out.exitCode, flags.join(" ")).toBe(1);
      expect(out.stderr, flags.join(" ")).toContain(message);
    }
    // A server has its own settings: refused on the command line, ignored from the environment.
    const remote = await check(
      "document:a",
      "view",
      "user:alice",
      "--address",
      "127.0.0.1:1",
      "--audit-sample",
      "0.1",
    );
    expect(remote.stderr).toContain(
      "--audit-sample applies in process (--db, --datastore); a server has its own",
    );
    expect(await recorded(path)).toEqual([]);
  });

  it("parseAuditFlags: the settings the recorder takes", () => {
    const fail = (message: string) => new Error(message);
    expect(parseAuditFlags({ auditInclude: ["a,b#c", " d "], auditSample: "0.25" }, fail)).toEqual({
      policy: "agents",
      mode: "async",
      loggableParameters: [],
      include: ["a", "b#c", "d"],
      sample: 0.25,
    });
    expect(parseAuditFlags({ audit: "off", auditSample: "0" }, fail)).toMatchObject({ policy: "off" });
  });

  it("--audit-flush-ms: whole milliseconds from 1 to 10000, for async only", () => {
    const fail = (message: string) => new Error(message);
    expect(parseAuditFlags({ auditFlushMs: "10" }, fail)).toEqual({
      policy: "agents",
      mode: "async",
      loggableParameters: [],
      flushMs: 10,
    });
    expect(parseAuditFlags({}, fail)).not.toHaveProperty("flushMs");
    for (const bad of ["0", "10001", "2.5", "soon", ""]) {
      expect(() => parseAuditFlags({ auditFlushMs: bad }, fail), bad).toThrow(
        `--audit-flush-ms takes whole milliseconds from 1 to 10000 (e.g. 10), got "${bad}"`,
      );
    }
    expect(() => parseAuditFlags({ auditMode: "sync", auditFlushMs: "10" }, fail)).toThrow(
      "--audit-flush-ms is for --audit-mode async",
    );
  });
});

describe("latch serve --audit-sample and --audit-flush-ms", () => {
  it.each([
    ["--audit-sample", "2", "--audit-sample takes the share of plain decisions to record, between 0 and 1"],
    ["--audit-flush-ms", "0", '--audit-flush-ms takes whole milliseconds from 1 to 10000 (e.g. 10), got "0"'],
  ])("refuses %s %s at start, before anything is opened", async (flag, value, message) => {
    const out = await runCommand(serveCommand(), [
      ...["--listen", "127.0.0.1:0", "--db", join(dir, "never.db"), "--insecure-no-auth"],
      ...["--log-level", "silent", flag, value],
    ]);
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain(message);
  });
});
