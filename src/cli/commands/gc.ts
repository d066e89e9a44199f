/**
 * `latch gc [--dry-run]`: one history compaction run on a datastore (store/history.ts), and
 * `latch backup`: an online copy of a SQLite store. `latch serve` compacts by itself every
 * `--gc-interval`; `latch gc` is for a look first (`--dry-run`) or for a schedule of one's own.
 */
import { existsSync } from "node:fs";
import { Command, Option } from "commander";
import type { CompactionReport } from "../../store/index.js";
import { openDatastore, usesPostgres } from "../datastore.js";
import { parseDuration } from "../duration.js";
import { positiveInt, printJson, printLine, reportError, UsageError } from "../options.js";

interface GcOptions {
  readonly db: string;
  readonly datastore?: string;
  readonly pgSchema?: string;
  readonly gcWindow?: string;
  readonly grace?: string;
  readonly batchSize?: string;
  readonly dryRun?: boolean;
  readonly json?: boolean;
}

function describe(report: CompactionReport): string[] {
  const removed = `${report.relationshipVersions} old relationship versions, ${report.changes} changes-feed entries, ${report.schemas} superseded schemas, ${report.revisions} revision rows`;
  if (report.skipped === "locked")
    return ["another replica is compacting this datastore right now: nothing done"];
  if (report.dryRun) {
    return [
      `dry run: a compaction would remove ${removed}`,
      report.horizon === 0n
        ? "no revision is old enough to compact yet"
        : `revision tokens before ${report.horizon} would then be refused`,
    ];
  }
  const lines = [`removed ${removed}`];
  lines.push(
    report.horizon === 0n
      ? "no revision is old enough to compact yet"
      : `revisions before ${report.horizon} are refused`,
  );
  if (report.pending !== undefined) {
    lines.push(
      `horizon ${report.pending} is published; rows below it are deleted by the next run after the grace period (--grace)`,
    );
  }
  return lines;
}

export function gcCommand(): Command {
  return new Command("gc")
    .description(
      "compact history older than the GC window (old relationship versions, changes feed, old schemas)",
    )
    .addOption(new Option("--db <file>", "SQLite database").env("LATCH_DB").default("./latch.db"))
    .addOption(
      new Option("--datastore <url>", "postgres://user@host:5432/db; overrides --db").env("LATCH_DATASTORE"),
    )
    .addOption(
      new Option("--pg-schema <name>", "PostgreSQL schema holding Latch's tables").env("LATCH_PG_SCHEMA"),
    )
    .addOption(
      new Option("--gc-window <duration>", "keep this much history (default 24h)").env("LATCH_GC_WINDOW"),
    )
    .addOption(
      new Option(
        "--grace <duration>",
        "wait this long between refusing old revisions and deleting their rows (default 2m; 0 only when no server is running)",
      ),
    )
    .addOption(new Option("--batch-size <n>", "rows per delete transaction (default 1000)"))
    .option("--dry-run", "report what a compaction would remove; change nothing")
    .option("--json", "machine-readable output")
    .action(async (options: GcOptions) => {
      try {
        const target = options.datastore?.trim() || options.db;
        if (!usesPostgres({ datastore: options.datastore, db: options.db }) && !existsSync(target)) {
          throw new UsageError(`no such database file: ${target}. Pass the file latch serve uses (--db).`);
        }
        const store = await openDatastore({
          datastore: options.datastore,
          db: options.db,
          pgSchema: options.pgSchema,
        });
        try {
          if (store.compactHistory === undefined)
            throw new UsageError("this datastore does not support compaction");
          const report = await store.compactHistory({
            ...(options.gcWindow === undefined
              ? {}
              : { windowMs: parseDuration(options.gcWindow, "--gc-window") }),
            ...(options.grace === undefined ? {} : { graceMs: parseDuration(options.grace, "--grace") }),
            ...(options.batchSize === undefined
              ? {}
              : { batchSize: positiveInt(options.batchSize, "--batch-size") }),
            dryRun: options.dryRun === true,
          });
          if (options.json === true) printJson(report);
          else for (const line of describe(report)) printLine(line);
        } finally {
          await store.close();
        }
      } catch (error) {
        reportError(error, options.json);
      }
    });
}

interface BackupOptions {
  readonly db: string;
  readonly datastore?: string;
  readonly json?: boolean;
}

export function backupCommand(): Command {
  return new Command("backup")
    .description("copy a SQLite store while it serves (SQLite's online backup), then check the copy")
    .argument("<destination>", "the new file to write (must not exist)")
    .addOption(new Option("--db <file>", "SQLite database to copy").env("LATCH_DB").default("./latch.db"))
    .addOption(
      new Option("--datastore <url>", "a PostgreSQL URL is refused: use pg_dump").env("LATCH_DATASTORE"),
    )
    .option("--json", "machine-readable output")
    .action(async (destination: string, options: BackupOptions) => {
      try {
        if (usesPostgres({ datastore: options.datastore, db: options.db })) {
          throw new UsageError(
            "latch backup copies SQLite files; back up PostgreSQL with pg_dump, e.g. `pg_dump --format=custom --schema=public --file=latch.dump URL` (see docs/operations.md)",
          );
        }
        const source = options.datastore?.trim() || options.db;
        const { backupSqlite } = await import("../../store/sqlite/index.js");
        const result = await backupSqlite(source, destination);
        if (options.json === true) printJson({ destination, ...result });
        else {
          printLine(
            `backed up ${source} to ${destination}: ${result.bytes} bytes, revision ${result.revision}, ${result.relationships} relationships; integrity check ok`,
          );
        }
      } catch (error) {
        reportError(error, options.json);
      }
    });
}
