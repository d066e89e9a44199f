/**
 * Embedded mode and the in-process CLI record decisions by default, as `latch serve` does
 * (`--audit agents`), in the database they work on; `latch audit query` reads them back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { auditCommand } from "../../src/cli/commands/audit.js";
import { checkCommand } from "../../src/cli/commands/check.js";
import { lookupCommand } from "../../src/cli/commands/lookup.js";
import { createEmbedded } from "../../src/client/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { runCommand } from "../cli/run-command.js";
import { AGENT_SCHEMA } from "../service/delegation/actor-fixtures.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "../store/fixtures/pg-setup.js";

const UPDATES = [
  "document:a#viewer@user:alice",
  "document:a#viewer@agent:bot",
  "document:b#viewer@user:bob",
  "user:alice#delegate_to@agent:bot",
].map((relationship) => ({ operation: "touch" as const, relationship }));

const dir = mkdtempSync(join(tmpdir(), "latch-audit-in-process-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  process.exitCode = 0;
});
let files = 0;

async function seeded(): Promise<string> {
  const path = join(dir, `in-process-${files++}.db`);
  const client = await createEmbedded({ database: path, schema: AGENT_SCHEMA });
  await client.writeRelationships({ updates: UPDATES });
  await client.close();
  return path;
}

async function recorded(path: string) {
  const store = await createSqliteStore({ path });
  try {
    expect((await store.decisions.verify()).ok).toBe(true);
    return (await store.decisions.read()).map((d) => d.record);
  } finally {
    await store.close();
  }
}

describe("embedded mode records by default", () => {
  it("records decisions acting for someone and DENIED ones; a plain allowed check writes nothing", async () => {
    const path = await seeded();
    const client = await createEmbedded({ database: path });
    for (let i = 0; i < 20; i++)
      expect(
        (await client.check({ resource: "document:a", permission: "view", subject: "user:alice" })).state,
      ).toBe("ALLOWED");
    // Nothing was queued or written for the plain allowed checks: the default costs no record.
    expect(client.recorder?.stats()).toEqual({ queued: 0, dropped: 0, written: 0, failed: 0 });
    await client.check({ resource: "document:b", permission: "view", subject: "user:alice" });
    await client.check({
      resource: "document:a",
      permission: "view",
      subject: "agent:bot",
      onBehalfOf: ["user:alice"],
    });
    // Closed at once: the async queue is written before the database closes.
    await client.close();
    expect((await recorded(path)).map((r) => [r.subject, r.onBehalfOf, r.answer, r.caller])).toEqual([
      ["user:alice", undefined, "DENIED", "embedded"],
      ["agent:bot", ["user:alice"], "ALLOWED", "embedded"],
    ]);
  });

  it("takes the server's options (all, sync, a caller) or records nothing with audit false", async () => {
    const path = await seeded();
    const all = await createEmbedded({
      database: path,
      audit: { policy: "all", mode: "sync", caller: "app" },
    });
    await all.check({ resource: "document:a", permission: "view", subject: "user:alice" });
    // sync: committed before the answer came back.
    expect(all.recorder?.stats()).toMatchObject({ queued: 0, written: 1 });
    await all.close();
    const off = await createEmbedded({ database: path, audit: false });
    expect(off.recorder).toBeUndefined();
    await off.check({ resource: "document:b", permission: "view", subject: "user:alice" });
    await off.close();
    expect((await recorded(path)).map((r) => [r.subject, r.answer, r.caller])).toEqual([
      ["user:alice", "ALLOWED", "app"],
    ]);
  });
});

const check = (...args: string[]) => runCommand(checkCommand(), args);
const audit = (...args: string[]) => runCommand(auditCommand(), args);

describe("the in-process CLI records by default", () => {
  it("latch check --db records DENIED and delegated decisions; latch audit query --db shows them", async () => {
    const path = await seeded();
    expect((await check("document:a", "view", "user:alice", "--db", path)).stdout).toBe("allowed\n");
    expect((await check("document:b", "view", "user:alice", "--db", path)).stdout).toBe("denied\n");
    expect(
      (await check("document:a", "view", "agent:bot", "--on-behalf-of", "user:alice", "--db", path)).stdout,
    ).toBe("allowed\n");
    const lookup = await runCommand(lookupCommand(), [
      ...["resources", "document", "view", "agent:bot", "--on-behalf-of", "user:alice", "--db", path],
    ]);
    expect(lookup.stdout).toBe("a allowed\n");
    const query = await audit("query", "--db", path);
    expect(query.exitCode).toBe(0);
    const lines = query.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/Z user:alice: view on document:b DENIED \[caller cli\]$/);
    const delegated =
      /Z agent:bot acting for user:alice: view on document:a ALLOWED via document:a#viewer@agent:bot, document:a#viewer@user:alice, user:alice#delegate_to@agent:bot \[caller cli\]$/;
    expect(lines[1]).toMatch(delegated);
    // The lookup's record carries the same witness as the check's (`latch lookup` through the seam).
    expect(lines[2]).toMatch(delegated);
    expect((await recorded(path)).map((r) => r.operation)).toEqual(["check", "check", "lookup-resources"]);
  });

  it("takes --audit all|off and --audit-mode sync; refuses deny with async and audit flags for a server", async () => {
    const path = await seeded();
    await check("document:a", "view", "user:alice", "--db", path, "--audit", "all", "--audit-mode", "sync");
    await check("document:b", "view", "user:alice", "--db", path, "--audit", "off");
    expect((await recorded(path)).map((r) => [r.resource, r.answer])).toEqual([["document:a", "ALLOWED"]]);
    const deny = await check(
      ...["document:a", "view", "user:alice", "--db", path, "--audit-failure", "deny"],
    );
    expect(deny.exitCode).toBe(1);
    expect(deny.stderr).toContain("--audit-failure deny needs --audit-mode sync");
    const remote = await check(
      "document:a",
      "view",
      "user:alice",
      "--address",
      "127.0.0.1:1",
      "--audit",
      "all",
    );
    expect(remote.exitCode).toBe(1);
    expect(remote.stderr).toContain("--audit applies in process (--db, --datastore); a server has its own");
  });

  describe.skipIf(PG_URL === undefined)("on PostgreSQL (--datastore)", () => {
    const schemas = new SchemaTracker();
    afterAll(() => schemas.dropAll());

    it("records in the same datastore; latch audit query --datastore shows them", async () => {
      const target = ["--datastore", PG_URL!, "--pg-schema", schemas.next()];
      const { openDatastore } = await import("../../src/cli/datastore.js");
      const store = await openDatastore({ datastore: PG_URL, db: "", pgSchema: target[3] });
      const client = await createEmbedded({ database: "", store, schema: AGENT_SCHEMA, audit: false });
      await client.writeRelationships({ updates: UPDATES });
      await client.close();
      expect((await check("document:b", "view", "user:alice", ...target)).stdout).toBe("denied\n");
      const query = await audit("query", ...target);
      expect(query.stdout).toMatch(/Z user:alice: view on document:b DENIED \[caller cli\]\n$/);
      expect((await audit("verify", ...target)).stdout).toContain("ok: 1 record(s) verified");
    });
  });
});
if (PG_URL === undefined) console.info(PG_SKIP_REASON);
