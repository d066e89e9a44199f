/** `latch approvals ...` and `latch check --consume-approval`, in process against a database file. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalsCommand } from "../../src/cli/commands/approvals.js";
import { checkCommand } from "../../src/cli/commands/check.js";
import { createEmbedded } from "../../src/index.js";
import { runCommand } from "../cli/run-command.js";
import { RULES, SCHEMA } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "latch-approvals-cli-"));
const db = join(dir, "latch.db");
const rules = join(dir, "rules.yaml");
const target = ["--db", db];
const approvals = (...args: string[]) => runCommand(approvalsCommand(), [...args, ...target]);
const check = (...args: string[]) =>
  runCommand(checkCommand(), ["database:prod-orders", "delete", "agent:cleanup", ...args, ...target]);

beforeAll(async () => {
  const client = await createEmbedded({ database: db, schema: SCHEMA });
  await client.writeRelationships({
    updates: [
      "database:prod-orders#owner@user:alice",
      "database:prod-orders#operator@agent:cleanup",
      "database:prod-orders#approver@user:olga",
      "database:prod-orders#approver@user:alice",
      "user:alice#delegate_to@agent:cleanup",
    ].map((relationship) => ({ operation: "touch" as const, relationship })),
  });
  await client.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("latch approvals (CLI)", () => {
  it("refuses a rules file that names an unknown permission, with file and line", async () => {
    writeFileSync(rules, RULES.replace("permission: delete", "permission: drop"));
    const out = await approvals("write", rules);
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain(`${rules}:4: type \`database\` has no permission \`drop\``);
    expect(out.stderr).toContain("[approval/invalid-rules]");
  });

  it("writes rules, gates the check, takes a request, refuses self-approval, approves, consumes once", async () => {
    writeFileSync(rules, RULES);
    expect((await approvals("write", rules)).stdout).toBe("approval rules version 1: prod-delete\n");
    expect((await check()).stdout).toMatch(/^approval required \(rule prod-delete\)/);

    const requested = await approvals(
      "request",
      "database:prod-orders",
      "delete",
      "agent:cleanup",
      "--message",
      "Delete prod-orders?",
    );
    expect(requested.exitCode).toBe(0);
    const id = requested.stdout.trim();
    expect((await approvals("list", "--pending")).stdout).toContain(
      `${id} pending: agent:cleanup delete on database:prod-orders`,
    );
    const shown = (await approvals("show", id)).stdout;
    expect(shown).toContain('"Delete prod-orders?"');
    expect(shown).toContain("witness: database:prod-orders#operator@agent:cleanup");

    const bob = await approvals("approve", id, "--as", "user:bob");
    expect(bob.exitCode).toBe(1);
    expect(bob.stderr).toContain("[approval/not-approver]");
    const approved = await approvals("approve", id, "--as", "user:olga", "--reason", "OPS-42");
    expect(approved.stdout).toContain("approved by user:olga: OPS-42");
    const twice = await approvals("deny", id, "--as", "user:olga");
    expect(twice.stderr).toContain("[approval/already-decided]");

    expect((await check("--consume-approval")).stdout).toBe(`allowed (approval ${id})\n`);
    expect((await check("--consume-approval")).stdout).toMatch(/^approval required/);
    expect((await approvals("show", id, "--json")).stdout).toContain('"state":"consumed"');
  });

  it("alice cannot approve her own agent's request; an unknown id is not found", async () => {
    const requested = await approvals(
      "request",
      "database:prod-orders",
      "delete",
      "agent:cleanup",
      "--on-behalf-of",
      "user:alice",
      "--message",
      "for alice",
    );
    expect(requested.stderr).toBe("");
    const id = requested.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{48}$/);
    const self = await approvals("approve", id, "--as", "user:alice");
    expect(self.stderr).toContain("[approval/self-approval]");
    const unknown = await approvals("show", "no-such-id");
    expect(unknown.stderr).toContain("[approval/not-found]");
  });
});
