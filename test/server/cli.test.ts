/** The data commands and `latch serve`, run in process with their output captured. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { checkCommand } from "../../src/cli/commands/check.js";
import { relationshipsCommand } from "../../src/cli/commands/relationships.js";
import { addRemoteSchemaCommands } from "../../src/cli/commands/schema-remote.js";
import { serveCommand } from "../../src/cli/commands/serve.js";
import { createClient } from "../../src/client/index.js";
import { captureOutput, runCommand } from "../cli/run-command.js";
import { RELATIONSHIPS, SCHEMA } from "../client/fixtures.js";
import { type Harness, startHarness, TOKEN } from "./harness.js";

const run = runCommand;

const schemaCli = () => addRemoteSchemaCommands(new Command("schema"));

describe("data commands against a server", () => {
  let h: Harness;
  let target: string[];

  beforeAll(async () => {
    h = await startHarness();
    target = ["--address", h.server.address, "--token", TOKEN];
    const client = createClient({ address: h.server.address, token: TOKEN });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
    await client.close();
  });

  afterAll(async () => {
    await h.close();
  });

  afterEach(() => {
    process.exitCode = 0;
  });

  it("prints the answer and exits 0 whatever it is", async () => {
    const allowed = await run(checkCommand(), ["document:q3", "view", "user:alice", ...target]);
    expect(allowed).toEqual({ stdout: "allowed\n", stderr: "", exitCode: 0 });
    const denied = await run(checkCommand(), ["document:q3", "view", "user:bob", ...target]);
    expect(denied.stdout).toBe("denied\n");
    expect(denied.exitCode).toBe(0);
    const conditional = await run(checkCommand(), ["document:secret", "view", "user:carol", ...target]);
    expect(conditional.stdout).toBe("conditional (missing context: level)\n");
    const decided = await run(checkCommand(), [
      "document:secret",
      "view",
      "user:carol",
      "--context",
      '{"level": 1}',
      ...target,
    ]);
    expect(decided.stdout).toBe("allowed\n");
  });

  it("gives machine-readable output with --json", async () => {
    const result = await run(checkCommand(), ["document:secret", "view", "user:carol", "--json", ...target]);
    const body = JSON.parse(result.stdout) as { state: string; missing: string[]; token: string };
    expect(body.state).toBe("CONDITIONAL");
    expect(body.missing).toEqual(["level"]);
    expect(body.token).not.toBe("");
  });

  it("exits 1 with a message on errors", async () => {
    const wrongToken = await run(checkCommand(), [
      "document:q3",
      "view",
      "user:alice",
      "--address",
      h.server.address,
      "--token",
      "nope",
    ]);
    expect(wrongToken.exitCode).toBe(1);
    expect(wrongToken.stderr).toContain("invalid token");
    const badContext = await run(checkCommand(), [
      "document:q3",
      "view",
      "user:alice",
      "--context",
      "[1]",
      ...target,
    ]);
    expect(badContext.exitCode).toBe(1);
    expect(badContext.stderr).toContain("--context");
    const json = await run(checkCommand(), ["nosuch:q3", "view", "user:alice", "--json", ...target]);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stderr).error.kind).toBe("invalid-argument");
  });

  it("writes, reads and deletes relationships", async () => {
    const written = await run(relationshipsCommand(), ["write", "document:cli#viewer@user:zoe", ...target]);
    expect(written.exitCode).toBe(0);
    expect(written.stdout).toMatch(/^wrote 1 at \S+\n$/);
    const read = await run(relationshipsCommand(), ["read", "document", "--id", "cli", ...target]);
    expect(read.stdout).toBe("document:cli#viewer@user:zoe\n");
    const deleted = await run(relationshipsCommand(), [
      "delete",
      "document",
      "--id",
      "cli",
      "--json",
      ...target,
    ]);
    expect(JSON.parse(deleted.stdout).deleted).toBe(1);
    const again = await run(relationshipsCommand(), ["read", "document", "--id", "cli", ...target]);
    expect(again.stdout).toBe("");
  });

  it("reads the schema back", async () => {
    const result = await run(schemaCli(), ["read", ...target]);
    expect(result.stdout).toBe(SCHEMA);
  });
});

describe("data commands on a database (--db)", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-cli-"));
  const db = join(dir, "latch.db");

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes a schema, imports a file, checks and exports it back", async () => {
    writeFileSync(join(dir, "schema.zed"), SCHEMA);
    writeFileSync(join(dir, "rels.txt"), `# fixture\n${RELATIONSHIPS.join("\n")}\n\n`);
    expect((await run(schemaCli(), ["write", join(dir, "schema.zed"), "--db", db])).exitCode).toBe(0);
    const imported = await run(relationshipsCommand(), [
      "import",
      join(dir, "rels.txt"),
      "--db",
      db,
      "--json",
    ]);
    expect(JSON.parse(imported.stdout).imported).toBe(RELATIONSHIPS.length);
    const check = await run(checkCommand(), ["document:q3", "view", "user:alice", "--db", db]);
    expect(check.stdout).toBe("allowed\n");
    const exported = await run(relationshipsCommand(), ["export", "--db", db]);
    expect(exported.stdout.trim().split("\n").sort()).toEqual([...RELATIONSHIPS].sort());
  });

  it("reports an import line that does not parse with its line number", async () => {
    writeFileSync(join(dir, "bad.txt"), "document:a#viewer@user:b\ndocument:a#viewer@@user:c\n");
    const result = await run(relationshipsCommand(), ["import", join(dir, "bad.txt"), "--db", db]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("bad.txt:2");
  });

  it("refuses an invalid schema with its positions", async () => {
    writeFileSync(join(dir, "bad.zed"), "definition user {}\ndefinition doc { relation r: nosuch }\n");
    const result = await run(schemaCli(), ["write", join(dir, "bad.zed"), "--db", db]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/:2:\d+/);
  });
});

describe("latch serve", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-serve-"));

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses to start without a token", async () => {
    const result = await run(serveCommand(), ["--listen", "127.0.0.1:0", "--db", join(dir, "a.db")]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("--insecure-no-auth");
  });

  it("serves with the schema it was given, and stops cleanly on SIGTERM", async () => {
    writeFileSync(join(dir, "schema.zed"), SCHEMA);
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ tokens: ["from-config-0123456789"], logLevel: "silent" }),
    );
    const output = captureOutput();
    const serving = serveCommand().parseAsync(
      [
        "--listen",
        "127.0.0.1:0",
        "--db",
        join(dir, "b.db"),
        "--schema",
        join(dir, "schema.zed"),
        "--config",
        join(dir, "config.json"),
      ],
      { from: "user" },
    );
    try {
      await vi.waitFor(() => expect(output.stdout).toMatch(/latch listening on \S+/), { timeout: 10_000 });
      const address = /latch listening on (\S+)/.exec(output.stdout)![1]!;
      const client = createClient({ address, token: "from-config-0123456789" });
      expect((await client.readSchema()).schema).toBe(SCHEMA);
      await client.close();
    } finally {
      output.restore();
      process.emit("SIGTERM", "SIGTERM");
      await serving;
    }
    expect(Number(process.exitCode ?? 0)).toBe(0);
  });

  it("serves without a token when told --insecure-no-auth (the README's first command)", async () => {
    const output = captureOutput();
    const serving = serveCommand().parseAsync(
      ["--listen", "127.0.0.1:0", "--db", join(dir, "c.db"), "--insecure-no-auth", "--log-level", "silent"],
      { from: "user" },
    );
    try {
      await vi.waitFor(() => expect(output.stdout).toMatch(/latch listening on \S+/), { timeout: 10_000 });
      const address = /latch listening on (\S+)/.exec(output.stdout)![1]!;
      const client = createClient({ address });
      await client.writeSchema(SCHEMA);
      expect((await client.readSchema()).schema).toBe(SCHEMA);
      await client.close();
    } finally {
      output.restore();
      process.emit("SIGTERM", "SIGTERM");
      await serving;
    }
  });

  it("refuses --testing beside a token, and --testing-max-stores without --testing", async () => {
    const both = await run(serveCommand(), [
      "--testing",
      "--token",
      "x-0123456789abcdef",
      "--listen",
      "127.0.0.1:0",
    ]);
    expect(both.exitCode).toBe(1);
    expect(both.stderr).toContain("--testing accepts any token");
    const alone = await run(serveCommand(), ["--testing-max-stores", "3", "--token", "x-0123456789abcdef"]);
    expect(alone.exitCode).toBe(1);
    expect(alone.stderr).toContain("--testing-max-stores goes with --testing");
  });

  it("--testing warns at start and gives each token its own store, with --schema written into each", async () => {
    writeFileSync(join(dir, "testing.zed"), SCHEMA);
    const output = captureOutput();
    const serving = serveCommand().parseAsync(
      [
        "--testing",
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--schema",
        join(dir, "testing.zed"),
        "--log-level",
        "silent",
      ],
      { from: "user" },
    );
    try {
      await vi.waitFor(() => expect(output.stdout).toMatch(/http on http:\/\/\S+/), { timeout: 10_000 });
      expect(output.stderr).toContain("WARNING: --testing");
      const address = /latch listening on (\S+)/.exec(output.stdout)![1]!;
      const one = createClient({ address, token: "any-token-one" });
      const two = createClient({ address, token: "any-token-two" });
      // Both start from the schema given; what one writes the other does not see.
      expect((await one.readSchema()).schema).toBe(SCHEMA);
      await one.writeSchema("definition user {}");
      expect((await one.readSchema()).schema).toBe("definition user {}");
      expect((await two.readSchema()).schema).toBe(SCHEMA);
      await one.close();
      await two.close();
    } finally {
      output.restore();
      process.emit("SIGTERM", "SIGTERM");
      await serving;
    }
  });
});
