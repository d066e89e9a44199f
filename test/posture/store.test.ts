/**
 * Kept posture reports (migration 7) on both backends: saved with their revision, and the one a
 * report compares with is the newest strictly below its revision. PostgreSQL runs where
 * LATCH_TEST_POSTGRES_URL is set, in a schema of its own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore, MIGRATIONS } from "../../src/store/sqlite/index.js";

const dir = mkdtempSync(join(tmpdir(), "latch-posture-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PG_URL = process.env.LATCH_TEST_POSTGRES_URL;
const pgSchemas: string[] = [];
afterAll(async () => {
  if (PG_URL === undefined || pgSchemas.length === 0) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of pgSchemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
});

async function keepsReports(store: Store): Promise<void> {
  const reports = store.postureReports;
  expect(await reports.previous()).toBeUndefined();
  const a = await reports.save(5n, '{"n":"a"}', 1_000);
  const b = await reports.save(9n, '{"n":"b"}', 2_000);
  const c = await reports.save(9n, '{"n":"c"}', 3_000);
  expect(b).toBeGreaterThan(a);
  expect(await reports.previous()).toEqual({ id: c, revision: 9n, createdAt: 3_000, body: '{"n":"c"}' });
  expect((await reports.previous(9n))?.body).toBe('{"n":"a"}');
  expect((await reports.previous(10n))?.body).toBe('{"n":"c"}');
  expect(await reports.previous(5n)).toBeUndefined();
}

describe("kept posture reports", () => {
  it("SQLite: keeps reports with their revision and finds the previous one", async () => {
    const store = await createSqliteStore({ path: join(dir, "keep.db") });
    try {
      await keepsReports(store);
    } finally {
      await store.close();
    }
  });

  it.skipIf(PG_URL === undefined)("PostgreSQL: the same", async () => {
    const { createPostgresStore } = await import("../../src/store/postgres/index.js");
    const schema = `posture_test_${process.pid}_${Date.now().toString(36)}`;
    pgSchemas.push(schema);
    const store = await createPostgresStore({ url: PG_URL!, schema });
    try {
      await keepsReports(store);
    } finally {
      await store.close();
    }
  });

  it("SQLite applies a migration it misses even below the highest applied (parallel branches merge)", async () => {
    const path = join(dir, "gap.db");
    await (await createSqliteStore({ path })).close();
    const db = new Database(path);
    // As if version 6 (signals) arrived after 7 was applied: its tables and its row are missing.
    db.exec("DROP TABLE subject_states; DROP TABLE signals; DELETE FROM migrations WHERE version = 6");
    db.close();
    const store = await createSqliteStore({ path });
    await store.close();
    const after = new Database(path, { readonly: true });
    const versions = (
      after.prepare("SELECT version FROM migrations ORDER BY version").all() as { version: number }[]
    ).map((r) => r.version);
    const tables = after.prepare("SELECT name FROM sqlite_master WHERE name = 'subject_states'").all();
    after.close();
    expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
    expect(tables).toHaveLength(1);
  });
});
