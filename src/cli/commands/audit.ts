/**
 * `latch audit verify|query|tail|export|prune`: the decision audit trail of a database, read in process
 * (`--db FILE` or `--datastore URL`). The store backend and the audit module are loaded when a
 * subcommand runs, never when the program starts.
 */
import { Command, Option } from "commander";
import type { DecisionQuery, Store, StoredDecision } from "../../store/index.js";
import { openDatastore } from "../datastore.js";
import { printJson, printLine, reportError, UsageError } from "../options.js";

interface AuditTargetOptions {
  readonly db?: string;
  readonly datastore?: string;
  readonly pgSchema?: string;
  readonly json?: boolean;
}

function addAuditTarget(command: Command): Command {
  return command
    .addOption(new Option("--db <file>", "the SQLite database holding the audit trail"))
    .addOption(new Option("--datastore <url>", "the PostgreSQL database instead (postgres://...)"))
    .addOption(new Option("--pg-schema <name>", "PostgreSQL schema holding Latch's tables (default public)"))
    .addOption(new Option("--json", "machine-readable output"));
}

async function withStore(options: AuditTargetOptions, work: (store: Store) => Promise<void>): Promise<void> {
  let store: Store | undefined;
  try {
    if (options.db !== undefined && options.datastore !== undefined)
      throw new UsageError("give either --db or --datastore, not both");
    if (options.db === undefined && options.datastore === undefined)
      throw new UsageError("no database: pass --db FILE or --datastore URL");
    store = await openDatastore({
      datastore: options.datastore,
      db: options.db ?? "",
      pgSchema: options.pgSchema,
    });
    await work(store);
  } catch (error) {
    reportError(error, options.json);
  } finally {
    await store?.close().catch(() => undefined);
  }
}

const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `1h`, `7d` ago, or an RFC 3339 instant. */
export function parseSince(text: string, flag: string, now = Date.now()): Date {
  const relative = /^(\d+)([smhd])$/.exec(text);
  if (relative !== null) return new Date(now - Number(relative[1]) * UNITS[relative[2]!]!);
  const at = Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}T/.test(text) && Number.isFinite(at)) return new Date(at);
  throw new UsageError(
    `${flag} must be a duration such as 90s, 30m, 1h or 7d, or an RFC 3339 instant, got "${text}"`,
  );
}

/** Every record matching the query, page by page. */
async function* allRecords(
  store: Store,
  query: Omit<DecisionQuery, "afterSeq" | "limit">,
): AsyncIterable<StoredDecision> {
  let afterSeq = 0;
  for (;;) {
    const page = await store.decisions.read({ ...query, afterSeq, limit: 1_000 });
    yield* page;
    if (page.length < 1_000) return;
    afterSeq = page[page.length - 1]!.seq;
  }
}

const asJson = (d: StoredDecision) => ({ seq: d.seq, ...d.record, prevHash: d.prevHash, hash: d.hash });

function verifyCommand(): Command {
  return addAuditTarget(
    new Command("verify").description(
      "walk the hash chain from the oldest kept record; name the first edited, deleted, reordered or truncated one (exit code 1)",
    ),
  ).action(async (options: AuditTargetOptions) => {
    await withStore(options, async (store) => {
      const report = await store.decisions.verify();
      if (!report.ok) process.exitCode = 1;
      if (options.json === true) {
        printJson(report);
        return;
      }
      if (report.ok) {
        const range = report.records === 0 ? "" : ` (records ${report.firstSeq}..${report.lastSeq})`;
        printLine(`ok: ${report.records} record(s) verified${range}`);
        if (report.head !== undefined) printLine(`head: record ${report.head.seq}, hash ${report.head.hash}`);
        return;
      }
      const problem = report.problem!;
      printLine(`BROKEN at record ${problem.seq} (${problem.kind}): ${problem.message}`);
    });
  });
}

function queryCommand(): Command {
  return addAuditTarget(
    new Command("query")
      .description("print recorded decisions, oldest first, one sentence each")
      .option("--subject <subject>", "only decisions by this subject or acting for it (e.g. user:alice)")
      .option("--since <when>", "only decisions since: 90s, 30m, 1h, 7d, or an RFC 3339 instant"),
  ).action(async (options: AuditTargetOptions & { subject?: string; since?: string }) => {
    await withStore(options, async (store) => {
      const { decisionSentence } = await import("../../audit/sentence.js");
      const query = {
        ...(options.subject === undefined ? {} : { subject: options.subject }),
        ...(options.since === undefined ? {} : { since: parseSince(options.since, "--since") }),
      };
      for await (const d of allRecords(store, query)) {
        if (options.json === true) printJson(asJson(d));
        else printLine(decisionSentence(d.record));
      }
    });
  });
}

export interface TailOptions {
  /** Only decisions by this subject or acting for it. */
  readonly subject?: string;
  /** How long to wait between polls when nothing new came (default 1000 ms). */
  readonly intervalMs?: number;
  /** Ends the tail (the command aborts it on SIGINT or SIGTERM). */
  readonly signal: AbortSignal;
}

const PAGE = 1_000;

/** The seq of the newest record now: from the newest checkpoint, at most one interval to page over. */
async function lastSeq(store: Store): Promise<number> {
  const checkpoints = await store.decisions.checkpoints();
  let afterSeq = checkpoints.at(-1)?.seq ?? 0;
  for (;;) {
    const page = await store.decisions.read({ afterSeq, limit: PAGE });
    if (page.length > 0) afterSeq = page[page.length - 1]!.seq;
    if (page.length < PAGE) return afterSeq;
  }
}

/**
 * The records appended from now on, as they come, polling the log (a datastore has no push that
 * both backends share), until the signal aborts. Records already there when it starts are skipped.
 */
export async function* tailDecisions(store: Store, options: TailOptions): AsyncIterable<StoredDecision> {
  const { signal } = options;
  const intervalMs = options.intervalMs ?? 1_000;
  let afterSeq = await lastSeq(store);
  const filter = options.subject === undefined ? {} : { subject: options.subject };
  while (!signal.aborted) {
    const page = await store.decisions.read({ ...filter, afterSeq, limit: PAGE });
    for (const d of page) {
      if (signal.aborted) return;
      yield d;
    }
    if (page.length > 0) afterSeq = page[page.length - 1]!.seq;
    if (page.length === PAGE) continue;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, intervalMs);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done);
    });
  }
}

function tailCommand(): Command {
  return addAuditTarget(
    new Command("tail")
      .description("print decisions as they are recorded, one sentence each, until interrupted (Ctrl-C)")
      .option("--subject <subject>", "only decisions by this subject or acting for it (e.g. user:alice)")
      .option("--interval-ms <n>", "how often to look for new records (default 1000)"),
  ).action(async (options: AuditTargetOptions & { subject?: string; intervalMs?: string }) => {
    await withStore(options, async (store) => {
      const { decisionSentence } = await import("../../audit/sentence.js");
      const intervalMs = options.intervalMs === undefined ? undefined : Number(options.intervalMs);
      if (intervalMs !== undefined && (!Number.isSafeInteger(intervalMs) || intervalMs <= 0))
        throw new UsageError(`--interval-ms must be a positive integer, got "${options.intervalMs}"`);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        const tail = tailDecisions(store, {
          signal: stop.signal,
          ...(options.subject === undefined ? {} : { subject: options.subject }),
          ...(intervalMs === undefined ? {} : { intervalMs }),
        });
        for await (const d of tail) {
          if (options.json === true) printJson(asJson(d));
          else printLine(decisionSentence(d.record));
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
  });
}

function exportCommand(): Command {
  return addAuditTarget(
    new Command("export")
      .description(
        "write every kept record for a SIEM, one JSON object a line: the record with its place in the chain (jsonl), or an OCSF 1.3 API Activity event (ocsf)",
      )
      .option("--format <format>", "jsonl or ocsf", "jsonl")
      .option("--since <when>", "only decisions since: 90s, 30m, 1h, 7d, or an RFC 3339 instant"),
  ).action(async (options: AuditTargetOptions & { format: string; since?: string }) => {
    await withStore(options, async (store) => {
      if (options.format !== "jsonl" && options.format !== "ocsf")
        throw new UsageError(`--format must be jsonl or ocsf, got "${options.format}"`);
      const query = options.since === undefined ? {} : { since: parseSince(options.since, "--since") };
      const write = options.format === "jsonl" ? asJson : await ocsfWriter();
      for await (const d of allRecords(store, query)) printJson(write(d));
    });
  });
}

/** The OCSF mapper, loaded only when asked for, with Latch's version for `metadata.product`. */
async function ocsfWriter(): Promise<(d: StoredDecision) => Record<string, unknown>> {
  const [{ toOcsfEvent }, { VERSION }] = await Promise.all([
    import("../../audit/ocsf.js"),
    import("../version.js"),
  ]);
  return (d) => toOcsfEvent(d, { version: VERSION });
}

function pruneCommand(): Command {
  return addAuditTarget(
    new Command("prune")
      .description(
        "delete the oldest records, whole prefixes up to a signed checkpoint, so that verify still passes",
      )
      .option("--older-than <age>", "delete records older than this: 30d, 12h, ...")
      .option("--keep-last <n>", "keep at least the newest N records"),
  ).action(async (options: AuditTargetOptions & { olderThan?: string; keepLast?: string }) => {
    await withStore(options, async (store) => {
      if (options.olderThan === undefined && options.keepLast === undefined)
        throw new UsageError("say what to prune: --older-than AGE and/or --keep-last N");
      const keepLast = options.keepLast === undefined ? undefined : Number(options.keepLast);
      if (keepLast !== undefined && (!Number.isSafeInteger(keepLast) || keepLast < 0))
        throw new UsageError(`--keep-last must be a non-negative integer, got "${options.keepLast}"`);
      const deleted = await store.decisions.prune({
        ...(keepLast === undefined ? {} : { keepLast }),
        ...(options.olderThan === undefined ? {} : { before: parseSince(options.olderThan, "--older-than") }),
      });
      if (options.json === true) printJson({ deleted });
      else printLine(`deleted ${deleted} record(s)`);
    });
  });
}

export function auditCommand(): Command {
  return new Command("audit")
    .description("the decision audit trail: verify its hash chain, query, tail, export and prune it")
    .addCommand(verifyCommand())
    .addCommand(queryCommand())
    .addCommand(tailCommand())
    .addCommand(exportCommand())
    .addCommand(pruneCommand());
}
