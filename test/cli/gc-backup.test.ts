/**
 * `latch gc` and `latch backup` on a SQLite file: the dry run reports and changes nothing, the run
 * removes what it reported; a backup taken while writes go on restores to a store that answers
 * exactly as the source did at the copy's revision.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createProgram } from "../../src/cli/program.js";
import { parseRelationship } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { exportAll, SCHEMA } from "../store/conformance/helpers.js";
import { runCommand } from "./run-command.js";

const dir = mkdtempSync(join(tmpdir(), "latch-gc-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });

async function seeded(name: string, writes: number) {
  const path = join(dir, name);
  const store = await createSqliteStore({ path });
  await store.writeSchema(SCHEMA);
  for (let i = 0; i < writes; i++) {
    await store.write([
      touch(`document:d${i % 4}#viewer@user:u${i % 2}`),
      touch(`document:e#viewer@user:u${i}`),
    ]);
  }
  return { path, store };
}

describe("latch gc", () => {
  it("reports in a dry run what the run then removes", async () => {
    const { path, store } = await seeded("gc.db", 12);
    const live = await exportAll(store);
    await store.close();
    const dry = await runCommand(createProgram(), [
      "gc",
      "--db",
      path,
      "--gc-window",
      "0",
      "--dry-run",
      "--json",
    ]);
    expect(dry.exitCode).toBe(0);
    const planned = JSON.parse(dry.stdout) as { dryRun: boolean; relationshipVersions: number };
    expect(planned.dryRun).toBe(true);
    expect(planned.relationshipVersions).toBeGreaterThan(0);

    const run = await runCommand(createProgram(), ["gc", "--db", path, "--gc-window", "0", "--grace", "0"]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`removed ${planned.relationshipVersions} old relationship versions`);

    const reopened = await createSqliteStore({ path });
    try {
      expect(await exportAll(reopened)).toEqual(live);
      const again = await reopened.compactHistory!({ windowMs: 0, graceMs: 0, dryRun: true });
      expect(again.relationshipVersions).toBe(0);
    } finally {
      await reopened.close();
    }
  });

  it("refuses a malformed window and a missing file with clear messages", async () => {
    const { path, store } = await seeded("window.db", 1);
    await store.close();
    const out = await runCommand(createProgram(), ["gc", "--db", path, "--gc-window", "a day"]);
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("--gc-window must be a duration such as 24h");
    const missing = await runCommand(createProgram(), ["gc", "--db", join(dir, "absent.db")]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("no such database file");
  });
});

describe("latch backup", () => {
  it("copies a store while it is written to, and the copy restores and answers as the source did", async () => {
    const { path, store } = await seeded("source.db", 20);
    const target = join(dir, "copy.db");
    // Writes keep coming while the backup runs: the copy holds one consistent revision.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 200; i++) {
        await store.write([touch(`document:busy${i}#viewer@user:w`)]);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const out = await runCommand(createProgram(), ["backup", target, "--db", path, "--json"]);
    writing = false;
    await writer;
    expect(out.exitCode).toBe(0);
    const result = JSON.parse(out.stdout) as { revision: string; relationships: number };
    const revision = BigInt(result.revision);

    const restored = await createSqliteStore({ path: target });
    try {
      expect(await restored.currentRevision()).toBe(revision);
      const copied = await exportAll(restored);
      expect(copied.length).toBe(result.relationships);
      expect(copied).toEqual(await exportAll(store, revision));
      const engine = createEngine({ store: restored, quantizationMs: 0, cache: false });
      const answer = await engine.check({
        resource: { type: "document", id: "e" },
        permission: "view",
        subject: { type: "user", id: "u7" },
      });
      expect(answer.state).toBe("ALLOWED");
      // The restored store is a working store: it takes writes at the next revision.
      expect(await restored.write([touch("document:after#viewer@user:a")])).toBe(revision + 1n);
    } finally {
      await restored.close();
      await store.close();
    }
  });

  it("refuses to overwrite a file, a missing source and a PostgreSQL URL", async () => {
    const { path, store } = await seeded("exists.db", 1);
    await store.close();
    const existing = await runCommand(createProgram(), ["backup", path, "--db", path]);
    expect(existing.exitCode).toBe(1);
    expect(existing.stderr).toContain("will not overwrite");
    const missing = await runCommand(createProgram(), [
      "backup",
      join(dir, "n.db"),
      "--db",
      join(dir, "none.db"),
    ]);
    expect(missing.stderr).toContain("no such database file");
    const pg = await runCommand(createProgram(), [
      "backup",
      join(dir, "p.db"),
      "--datastore",
      "postgres://x@h/db",
    ]);
    expect(pg.exitCode).toBe(1);
    expect(pg.stderr).toContain("pg_dump");
  });
});
