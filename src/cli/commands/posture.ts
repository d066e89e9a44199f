/**
 * `latch posture`: the identity security posture report (docs/posture.md) of a database, computed
 * in process (`--db FILE` or `--datastore URL`), or of a server through its PostureService
 * (`--address HOST:PORT`). Prints a table (default) or the JSON report (`--json`), writes the HTML
 * page (`--html FILE`), and with `--fail-on SEVERITY` exits 2 when a finding is at least that
 * severe, so that a pipeline can gate on it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { PostureReport, Severity } from "../../posture/index.js";
import { openDatastore } from "../datastore.js";
import { connectRemote, printJson, type RemoteOptions, reportError, UsageError } from "../options.js";

interface PostureOptions extends RemoteOptions {
  readonly db?: string;
  readonly datastore?: string;
  readonly pgSchema?: string;
  readonly config?: string;
  readonly json?: boolean;
  readonly html?: string;
  readonly failOn?: Severity;
  readonly save?: boolean;
  readonly at?: string;
  readonly now?: string;
}

/** Exit code when `--fail-on` finds what it gates on (1 stays for errors). */
export const FAIL_ON_EXIT_CODE = 2;

export function postureCommand(): Command {
  return new Command("posture")
    .description(
      "what non-human identities (agents, services) can reach and what is wrong with it: orphans, owners who lost access, non-expiring, over-broad, unused grants, drift, risky delegations",
    )
    .addOption(new Option("--db <file>", "the SQLite database to report on"))
    .addOption(new Option("--datastore <url>", "the PostgreSQL database instead (postgres://...)"))
    .addOption(new Option("--pg-schema <name>", "PostgreSQL schema holding Latch's tables (default public)"))
    .addOption(
      new Option("--address <host:port>", "a Latch server instead: report through its PostureService").env(
        "LATCH_ADDRESS",
      ),
    )
    .addOption(new Option("--token <token>", "bearer token for the server").env("LATCH_TOKEN"))
    .addOption(new Option("--tls", "connect with TLS (system roots unless --ca-cert)"))
    .addOption(new Option("--ca-cert <file>", "PEM file of the CA that signed the server certificate"))
    .addOption(new Option("--timeout <ms>", "deadline of the call in milliseconds"))
    .addOption(
      new Option("--config <file>", "the posture configuration (YAML); defaults fit schemas/rag.zed"),
    )
    .addOption(new Option("--at <token>", "report at this revision token instead of the current revision"))
    .addOption(
      new Option(
        "--now <instant>",
        "the clock windows and expirations are measured from (ISO 8601; default now)",
      ),
    )
    .addOption(
      new Option("--save", "keep the report with its revision: the next report measures drift against it"),
    )
    .addOption(new Option("--json", "print the report as JSON (its stable shape: docs/posture.md)"))
    .addOption(new Option("--html <file>", "also write the report as one self-contained HTML page"))
    .addOption(
      new Option(
        "--fail-on <severity>",
        `exit ${FAIL_ON_EXIT_CODE} when a finding is at least this severe`,
      ).choices(["high", "medium", "low"]),
    )
    .action(async (options: PostureOptions) => {
      try {
        const report = await produce(options);
        const { renderHtml, renderText, hasFindingsAtLeast } = await import("../../posture/index.js");
        if (options.html !== undefined) writeFileSync(options.html, renderHtml(report));
        if (options.json === true) printJson(report);
        else process.stdout.write(renderText(report));
        if (options.failOn !== undefined && hasFindingsAtLeast(report, options.failOn)) {
          process.exitCode = FAIL_ON_EXIT_CODE;
          if (options.json !== true)
            process.stderr.write(`posture: findings at or above ${options.failOn}: failing (--fail-on)\n`);
        }
      } catch (error) {
        reportError(error, options.json);
      }
    });
}

function readConfig(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read the posture configuration ${file}: ${(error as Error).message}`);
  }
}

function readNow(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const now = new Date(text);
  if (Number.isNaN(now.getTime()))
    throw new UsageError(`--now ${text}: not an ISO 8601 instant (e.g. 2030-01-01T00:00:00Z)`);
  return now;
}

async function produce(options: PostureOptions): Promise<PostureReport> {
  const config = readConfig(options.config);
  const now = readNow(options.now);
  const inProcess = options.db !== undefined || options.datastore !== undefined;
  if (options.db !== undefined && options.datastore !== undefined)
    throw new UsageError("give either --db or --datastore, not both");
  // An address from the environment gives way to a database named on the command line.
  const address = inProcess && process.env.LATCH_ADDRESS === options.address ? undefined : options.address;
  if (inProcess && address !== undefined)
    throw new UsageError("give either --db/--datastore or --address, not both");
  if (!inProcess && address === undefined)
    throw new UsageError("no database or server: pass --db FILE or --datastore URL, or --address HOST:PORT");
  if (address !== undefined) {
    if (now !== undefined)
      throw new UsageError("--now applies to a database read in process; a server uses its own clock");
    const client = await connectRemote({ ...options, address });
    try {
      return await client.postureReport({
        ...(config === undefined ? {} : { config }),
        ...(options.at === undefined ? {} : { atRevision: options.at }),
        save: options.save === true,
      });
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  const store = await openDatastore({
    datastore: options.datastore,
    db: options.db ?? "",
    pgSchema: options.pgSchema,
  });
  try {
    const { createEngine } = await import("../../engine/index.js");
    const { createPostureReport } = await import("../../posture/index.js");
    const { report } = await createPostureReport({
      store,
      engine: createEngine({ store }),
      config,
      revision: options.at === undefined ? undefined : store.decodeRevision(options.at),
      save: options.save === true,
      now,
    });
    return report;
  } finally {
    await store.close().catch(() => undefined);
  }
}
