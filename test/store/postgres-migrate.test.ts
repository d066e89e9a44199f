/** `latch migrate` against PostgreSQL: applies once, then reports the database current. */
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { migrateCommand } from "../../src/cli/commands/migrate.js";
import { POSTGRES_SCHEMA_VERSION } from "../../src/store/postgres/index.js";
import { MIGRATIONS } from "../../src/store/postgres/migrations.js";
import { admin, PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";

if (PG_URL === undefined) console.info(PG_SKIP_REASON);

async function runMigrate(
  args: string[],
): Promise<{ out: string; err: string; exitCode: number | undefined }> {
  let out = "";
  let err = "";
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await migrateCommand().exitOverride().parseAsync(args, { from: "user" });
    return { out, err, exitCode: process.exitCode as number | undefined };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    process.exitCode = before;
  }
}

describe.skipIf(PG_URL === undefined)("latch migrate (PostgreSQL)", () => {
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());
  afterEach(() => vi.restoreAllMocks());

  it("applies the migrations, then finds nothing to do", async () => {
    const schema = schemas.next();
    const first = await runMigrate(["--datastore", PG_URL as string, "--pg-schema", schema]);
    expect(first.exitCode).toBeUndefined();
    expect(first.out).toContain(
      `applied migration(s) ${MIGRATIONS.map((m) => m.version).join(", ")}; now at ${POSTGRES_SCHEMA_VERSION}`,
    );
    const versions = await admin((c) =>
      c.query(`SELECT version FROM "${schema}".latch_migrations ORDER BY version`),
    );
    expect(versions.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    const second = await runMigrate(["--datastore", PG_URL as string, "--pg-schema", schema]);
    expect(second.out).toContain(`already at migration ${POSTGRES_SCHEMA_VERSION}`);
  });

  it("fails with exit code 1 and an unavailable error when the database is unreachable", async () => {
    const result = await runMigrate(["--datastore", "postgres://postgres:pw@127.0.0.1:1/test"]);
    expect(result.exitCode).toBe(1);
    expect(result.err).toContain("store/unavailable");
    expect(result.err).not.toContain(":pw@");
  });

  it("refuses a PG schema name that is not a plain identifier", async () => {
    const result = await runMigrate(["--datastore", PG_URL as string, "--pg-schema", 'x"; drop table y; --']);
    expect(result.exitCode).toBe(1);
    expect(result.err).toContain("store/invalid-pg-schema");
  });
});
