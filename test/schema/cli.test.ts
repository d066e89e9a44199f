import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { schemaCommand } from "../../src/cli/commands/schema.js";
import { formatSchema } from "../../src/schema/index.js";
import { runCommand } from "../cli/run-command.js";

const run = (args: string[]) => runCommand(schemaCommand(), args);

const dir = mkdtempSync(join(tmpdir(), "latch-schema-cli-"));
const good = join(dir, "good.zed");
const bad = join(dir, "bad.zed");
const goodText =
  "definition user {}\ncaveat cav(n int) { n > 1 }\ndefinition doc { relation viewer: user with cav; permission view = viewer }\n";
writeFileSync(good, goodText);
writeFileSync(bad, "definition user {}\ndefinition doc {\n  relation viewer: usr\n}\n");

afterEach(() => {
  process.exitCode = undefined;
});

describe("latch schema", () => {
  it("check prints one summary line per valid file", async () => {
    const result = await run(["check", good]);
    expect(result.stdout).toBe(`${good}: 2 definitions, 1 relations, 1 permissions, 1 caveats\n`);
    expect(result.exitCode).toBe(0);
  });

  it("check prints rendered errors and sets exit code 1 when any file fails", async () => {
    const result = await run(["check", good, bad, join(dir, "missing.zed")]);
    expect(result.stdout).toContain(`${good}: 2 definitions`);
    expect(result.stderr).toContain(`${bad}:3:20: error[schema/unknown-type]`);
    expect(result.stderr).toContain("missing.zed: cannot read the file");
    expect(result.exitCode).toBe(1);
  });

  it("format prints the canonical text", async () => {
    const result = await run(["format", good]);
    expect(result.stdout).toBe(formatSchema(goodText));
    expect(result.exitCode).toBe(0);
  });
});
