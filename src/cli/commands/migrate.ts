/**
 * `latch migrate --datastore URL`: applies the datastore's pending migrations ahead of a deploy, so
 * new replicas start against a ready database. Replicas also migrate on start (under the same
 * lock), so running this is an operational choice, not a requirement.
 */
import { Command } from "commander";
import { isLatchError } from "../../core/index.js";
import { isPostgresUrl } from "../datastore.js";

/** The URL without its password, for messages. */
function redact(datastore: string): string {
  try {
    const url = new URL(datastore);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return datastore;
  }
}

export function migrateCommand(): Command {
  return new Command("migrate")
    .description(
      "apply pending datastore migrations (PostgreSQL URL or SQLite file); safe to run from several places at once",
    )
    .option(
      "--datastore <url>",
      "postgres://user@host:5432/db, or a SQLite file path (default: $LATCH_DATASTORE)",
      process.env.LATCH_DATASTORE,
    )
    .option("--pg-schema <name>", "PostgreSQL schema holding Latch's tables", "public")
    .action(async (options: { datastore?: string; pgSchema: string }) => {
      const datastore = options.datastore;
      if (datastore === undefined || datastore === "") {
        process.stderr.write("latch migrate: no datastore: pass --datastore URL or set LATCH_DATASTORE\n");
        process.exitCode = 2;
        return;
      }
      try {
        if (isPostgresUrl(datastore)) {
          // Each backend is loaded only when chosen: pg and better-sqlite3 cost time to load.
          const { migratePostgres, POSTGRES_SCHEMA_VERSION } = await import("../../store/postgres/index.js");
          const applied = await migratePostgres(datastore, options.pgSchema);
          process.stdout.write(
            applied.length === 0
              ? `${redact(datastore)} (schema ${options.pgSchema}): already at migration ${POSTGRES_SCHEMA_VERSION}\n`
              : `${redact(datastore)} (schema ${options.pgSchema}): applied migration(s) ${applied.join(", ")}; now at ${POSTGRES_SCHEMA_VERSION}\n`,
          );
        } else {
          // SQLite applies its migrations on open, under its write lock.
          const { createSqliteStore } = await import("../../store/sqlite/index.js");
          const store = await createSqliteStore({ path: datastore });
          await store.close();
          process.stdout.write(`${datastore}: migrations applied\n`);
        }
      } catch (error) {
        const reason = isLatchError(error) ? `${error.message} [${error.code}]` : String(error);
        process.stderr.write(`latch migrate: ${redact(datastore)}: ${reason}\n`);
        process.exitCode = 1;
      }
    });
}
