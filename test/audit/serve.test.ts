/** `latch serve --audit`: the server records decisions in its datastore's audit trail. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { serveCommand } from "../../src/cli/commands/serve.js";
import { createClient } from "../../src/client/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { captureOutput } from "../cli/run-command.js";
import { RELATIONSHIPS, SCHEMA } from "../client/fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "latch-audit-serve-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("latch serve --audit", () => {
  it("records every DENIED decision (policy agents, the default), and none when off", async () => {
    for (const audit of ["agents", "off"]) {
      const path = join(dir, `${audit}.db`);
      const output = captureOutput();
      const args = ["--listen", "127.0.0.1:0", "--db", path, "--insecure-no-auth", "--log-level", "silent"];
      const serving = serveCommand().parseAsync(audit === "off" ? [...args, "--audit", "off"] : args, {
        from: "user",
      });
      try {
        await vi.waitFor(() => expect(output.stdout).toMatch(/latch listening on \S+/), { timeout: 10_000 });
        const address = /latch listening on (\S+)/.exec(output.stdout)![1]!;
        const client = createClient({ address });
        await client.writeSchema(SCHEMA);
        await client.writeRelationships({
          updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
        });
        expect(
          (await client.check({ resource: "document:q3", permission: "view", subject: "user:alice" })).state,
        ).toBe("ALLOWED");
        expect(
          (await client.check({ resource: "document:q3", permission: "view", subject: "user:bob" })).state,
        ).toBe("DENIED");
        await client.close();
      } finally {
        output.restore();
        process.emit("SIGTERM", "SIGTERM");
        await serving;
      }
      // Async records queued at shutdown are written before the datastore closes.
      const store = await createSqliteStore({ path });
      const records = (await store.decisions.read()).map((d) => [d.record.subject, d.record.answer]);
      expect(records).toEqual(audit === "off" ? [] : [["user:bob", "DENIED"]]);
      expect((await store.decisions.verify()).ok).toBe(true);
      await store.close();
    }
  });

  it("refuses --audit-failure deny with async mode, which never waits for a record", async () => {
    let stderr = "";
    const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    const before = process.exitCode;
    try {
      await serveCommand().parseAsync(
        [
          "--db",
          join(dir, "deny.db"),
          "--insecure-no-auth",
          "--log-level",
          "silent",
          "--audit-failure",
          "deny",
        ],
        { from: "user" },
      );
      expect(process.exitCode).toBe(1);
      expect(stderr).toMatch(/--audit-failure deny needs --audit-mode sync/);
    } finally {
      err.mockRestore();
      process.exitCode = before;
    }
  });

  it("names the caller by its token's name and publishes the audit metrics", async () => {
    const path = join(dir, "named.db");
    const secret = "reader-secret-0123456789";
    const output = captureOutput();
    const args = ["--listen", "127.0.0.1:0", "--db", path, "--log-level", "silent"];
    const serving = serveCommand().parseAsync(
      [...args, "--token", `reader=${secret}`, "--metrics-listen", "127.0.0.1:0", "--audit-mode", "sync"],
      { from: "user" },
    );
    let metricsText = "";
    try {
      await vi.waitFor(() => expect(output.stdout).toMatch(/metrics on (\S+)/), { timeout: 10_000 });
      const address = /latch listening on (\S+)/.exec(output.stdout)![1]!;
      const metricsUrl = /metrics on (\S+)/.exec(output.stdout)![1]!;
      const client = createClient({ address, token: secret });
      await client.writeSchema(SCHEMA);
      await client.writeRelationships({
        updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
      });
      expect(
        (await client.check({ resource: "document:q3", permission: "view", subject: "user:bob" })).state,
      ).toBe("DENIED");
      await client.close();
      metricsText = await (await fetch(metricsUrl)).text();
    } finally {
      output.restore();
      process.emit("SIGTERM", "SIGTERM");
      await serving;
    }
    expect(metricsText).toMatch(/^latch_audit_records_written_total 1$/m);
    expect(metricsText).toMatch(/^latch_audit_records_dropped_total 0$/m);
    expect(metricsText).toMatch(/^latch_audit_write_duration_seconds_count 1$/m);
    const store = await createSqliteStore({ path });
    const records = (await store.decisions.read()).map((d) => [d.record.caller, d.record.subject]);
    expect(records).toEqual([["reader", "user:bob"]]);
    expect(JSON.stringify(await store.decisions.read())).not.toContain(secret);
    await store.close();
  });
});
