/** `latch watch-permissions`: the set, then each change, one line per event, until interrupted. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { watchPermissionsCommand } from "../../../src/cli/commands/watch-permissions.js";
import { createEmbedded } from "../../../src/client/index.js";
import { captureOutput } from "../../cli/run-command.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission read = viewer
}`;

async function until(what: string, predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("latch watch-permissions", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-watch-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints the set, then the changes written by another client, and ends cleanly on SIGINT", async () => {
    const db = join(dir, "watch.db");
    const writer = await createEmbedded({ database: db, schema: SCHEMA, mirror: false });
    await writer.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:d1#viewer@user:alice" }],
    });
    const output = captureOutput();
    process.exitCode = 0;
    let run: Promise<unknown> | undefined;
    try {
      run = watchPermissionsCommand().parseAsync(["document", "read", "user:alice", "--db", db], {
        from: "user",
      });
      await until("the first set", () => output.stdout.includes("SYNCED"));
      await writer.writeRelationships({
        updates: [{ operation: "delete", relationship: "document:d1#viewer@user:alice" }],
      });
      await until("the removal", () => output.stdout.includes("REMOVED d1"));
      process.emit("SIGINT");
      await run;
    } finally {
      output.restore();
      await writer.close();
    }
    const lines = output.stdout.split("\n").filter((l) => l !== "");
    expect(lines[0]).toBe("ADDED d1");
    expect(lines[1]).toMatch(/^SYNCED \S+$/);
    expect(lines[2]).toBe("REMOVED d1");
    expect(output.stderr).toBe("");
    expect(Number(process.exitCode ?? 0)).toBe(0);
  });

  it("with --after TOKEN, prints only the changes since that token", async () => {
    const db = join(dir, "resume.db");
    const writer = await createEmbedded({ database: db, schema: SCHEMA, mirror: false });
    const write = async (operation: "touch" | "delete", doc: string) =>
      (
        await writer.writeRelationships({
          updates: [{ operation, relationship: `document:${doc}#viewer@user:alice` }],
        })
      ).token;
    await write("touch", "d1");
    const after = await write("touch", "d2");
    await write("delete", "d1");
    await write("touch", "d3");
    const output = captureOutput();
    process.exitCode = 0;
    try {
      const run = watchPermissionsCommand().parseAsync(
        ["document", "read", "user:alice", "--db", db, "--after", after],
        { from: "user" },
      );
      await until("the first SYNCED", () => output.stdout.includes("SYNCED"));
      process.emit("SIGINT");
      await run;
    } finally {
      output.restore();
      await writer.close();
    }
    const lines = output.stdout.split("\n").filter((l) => l !== "");
    expect(lines.slice(0, 2)).toEqual(["REMOVED d1", "ADDED d3"]);
    expect(lines[2]).toMatch(/^SYNCED \S+$/);
    expect(output.stderr).toBe("");
  });
});
