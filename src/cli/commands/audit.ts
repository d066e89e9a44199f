/**
 * `latch audit verify|query|tail|export|prune`: the decision audit trail of a database, read in process
 * (`--db FILE` or `--datastore URL`); `verify`, `query` and `tail` also of a server, through its
 * AuditService (`--address HOST:PORT --token T`), printed the same way. The store backend, the
 * client and the audit module are loaded when a subcommand runs, never when the program starts.
 */
import { Command, Option } from "commander";
import type { LatchClient } from "../../client/index.js";
import { decisionCursor } from "../../service/decisions.js";
import type { DecisionQuery, Store, StoredDecision, VerifyReport } from "../../store/index.js";
import { openDatastore } from "../datastore.js";
import {
  connectRemote,
  printJson,
  printLine,
  type RemoteOptions,
  reportError,
  UsageError,
} from "../options.js";

interface AuditTargetOptions extends RemoteOptions {
  readonly db?: string;
  readonly datastore?: string;
  readonly pgSchema?: string;
  readonly json?: boolean;
}

function addAuditTarget(command: Command, server = false): Command {
  command
    .addOption(new Option("--db <file>", "the SQLite database holding the audit trail"))
    .addOption(new Option("--datastore <url>", "the PostgreSQL database instead (postgres://...)"))
    .addOption(new Option("--pg-schema <name>", "PostgreSQL schema holding Latch's tables (default public)"))
    .addOption(new Option("--json", "machine-readable output"));
  if (!server) return command;
  return command
    .addOption(
      new Option(
        "--address <host:port>",
        "a Latch server instead: read its trail through its AuditService",
      ).env("LATCH_ADDRESS"),
    )
    .addOption(new Option("--token <token>", "bearer token for the server").env("LATCH_TOKEN"))
    .addOption(new Option("--tls", "connect with TLS (system roots unless --ca-cert)"))
    .addOption(new Option("--ca-cert <file>", "PEM file of the CA that signed the server certificate"))
    .addOption(new Option("--timeout <ms>", "deadline of each unary call in milliseconds"));
}

/** What `verify`, `query` and `tail` read: a database in process, or a server's AuditService. */
interface AuditSource {
  verify(): Promise<VerifyReport>;
  /** The record at `seq`, if the log holds it. */
  record(seq: number): Promise<StoredDecision | undefined>;
  /** Every record matching, oldest first. */
  records(filter: { subject?: string; since?: Date }): AsyncIterable<StoredDecision>;
  /** The records appended from now on, until the signal aborts. */
  tail(filter: { subject?: string }, signal: AbortSignal, intervalMs?: number): AsyncIterable<StoredDecision>;
}

function storeSource(store: Store): AuditSource {
  return {
    verify: () => store.decisions.verify(),
    record: async (seq) =>
      (await store.decisions.read({ afterSeq: seq - 1, limit: 1 })).find((d) => d.seq === seq),
    records: (filter) => allRecords(store, filter),
    tail: (filter, signal, intervalMs) =>
      tailDecisions(store, { ...filter, signal, ...(intervalMs === undefined ? {} : { intervalMs }) }),
  };
}

function serverSource(client: LatchClient): AuditSource {
  return {
    verify: () => client.verifyDecisions(),
    record: async (seq) => {
      const page = await client.queryDecisions({ cursor: decisionCursor(seq - 1), pageSize: 1 });
      return page.decisions.find((d) => d.seq === seq);
    },
    async *records(filter) {
      let cursor: string | undefined;
      do {
        const page = await client.queryDecisions({
          ...filter,
          pageSize: 1_000,
          ...(cursor === undefined ? {} : { cursor }),
        });
        yield* page.decisions;
        cursor = page.cursor;
      } while (cursor !== undefined);
    },
    async *tail(filter, signal, intervalMs) {
      if (intervalMs !== undefined)
        throw new UsageError(
          "--interval-ms applies to a database read in process; a server sends records as they come",
        );
      try {
        for await (const { decision } of client.watchDecisions(filter, { signal })) yield decision;
      } catch (error) {
        if (!signal.aborted) throw error;
      }
    },
  };
}

/** Runs `work` on the chosen source (`--db`, `--datastore`, or `--address` when `server`), then closes it. */
async function withSource(
  options: AuditTargetOptions,
  work: (source: AuditSource) => Promise<void>,
  server = false,
): Promise<void> {
  const inProcess = options.db !== undefined || options.datastore !== undefined;
  // An address from the environment gives way to a database named on the command line.
  const address = inProcess && process.env.LATCH_ADDRESS === options.address ? undefined : options.address;
  if (!server || inProcess || address === undefined)
    return withStore(options, (store) => work(storeSource(store)), server);
  let client: LatchClient | undefined;
  try {
    client = await connectRemote({ ...options, address });
    await work(serverSource(client));
  } catch (error) {
    reportError(error, options.json);
  } finally {
    await client?.close().catch(() => undefined);
  }
}

async function withStore(
  options: AuditTargetOptions,
  work: (store: Store) => Promise<void>,
  server = false,
): Promise<void> {
  let store: Store | undefined;
  try {
    if (options.db !== undefined && options.datastore !== undefined)
      throw new UsageError("give either --db or --datastore, not both");
    if (server && options.address !== undefined && process.env.LATCH_ADDRESS !== options.address)
      throw new UsageError("give either --db/--datastore or --address, not both");
    if (options.db === undefined && options.datastore === undefined)
      throw new UsageError(
        server
          ? "no database or server: pass --db FILE or --datastore URL, or --address HOST:PORT for a server"
          : "no database: pass --db FILE or --datastore URL",
      );
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

/** One record as `query`, `tail` and `export --format jsonl` print it, whichever the source. */
export function decisionJson(d: StoredDecision): Record<string, unknown> {
  // Sorted, as the stored canonical JSON is: the same line from a database and from a server.
  const record = Object.fromEntries(
    Object.entries(d.record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return { seq: d.seq, ...record, prevHash: d.prevHash, hash: d.hash };
}

/** A record as a sentence, or as JSON with `--json`. */
async function decisionPrinter(json: boolean | undefined): Promise<(d: StoredDecision) => void> {
  if (json === true) return (d) => printJson(decisionJson(d));
  const { decisionSentence } = await import("../../audit/sentence.js");
  return (d) => printLine(decisionSentence(d.record));
}

function printVerify(report: VerifyReport, json: boolean | undefined): void {
  if (!report.ok) process.exitCode = 1;
  if (json === true) {
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
}

const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * RFC 3339's date-time: the offset is required (without one, Date.parse reads local time), and
 * the fields are checked (Date.parse rolls 2026-02-31 over into March).
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function instant(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day));
  const fits =
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  if (!fits || hour > 23 || minute > 59 || second > 60) return undefined;
  const at = Date.parse(text.toUpperCase());
  return Number.isFinite(at) ? new Date(at) : undefined;
}

/** `90s`, `30m`, `1h`, `7d` ago, or an RFC 3339 instant. */
export function parseSince(text: string, flag: string, now = Date.now()): Date {
  const relative = /^(\d+)([smhd])$/.exec(text);
  if (relative !== null) {
    const at = new Date(now - Number(relative[1]) * UNITS[relative[2]!]!);
    // Past the range of a Date (about 273,000 years): refused, not an empty answer.
    if (Number.isFinite(at.getTime())) return at;
  } else {
    const at = instant(text);
    if (at !== undefined) return at;
  }
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

function verifyCommand(): Command {
  return addAuditTarget(
    new Command("verify").description(
      "walk the hash chain from the oldest kept record; name the first edited, deleted, reordered or truncated one (exit code 1)",
    ),
    true,
  )
    .addOption(
      new Option(
        "--anchor <seq:hash>",
        "a head printed by an earlier verify and kept outside the database: the chain must still hold it (an older head put back over a truncated end verifies otherwise)",
      ),
    )
    .action(async (options: AuditTargetOptions & { anchor?: string }) => {
      await withSource(
        options,
        async (source) => {
          const anchor = options.anchor === undefined ? undefined : parseAnchor(options.anchor);
          const report = await source.verify();
          printVerify(
            report.ok && anchor !== undefined ? await anchored(source, report, anchor) : report,
            options.json,
          );
        },
        true,
      );
    });
}

interface Anchor {
  readonly seq: number;
  readonly hash: string;
}

function parseAnchor(text: string): Anchor {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(text);
  const seq = m === null ? Number.NaN : Number(m[1]);
  if (m === null || !Number.isSafeInteger(seq) || seq < 1)
    throw new UsageError(
      `--anchor must be SEQ:HASH as verify prints its head (record 42, hash 64 hex digits: 42:9f86...), got "${text}"`,
    );
  return { seq, hash: m[2]! };
}

/**
 * A verified chain checked against a head kept outside it: the record at the anchor's seq must
 * be there with the anchor's hash. A chain that ends before it was cut and given an older head;
 * one that kept the seq with another hash was rewritten from there.
 */
async function anchored(source: AuditSource, report: VerifyReport, anchor: Anchor): Promise<VerifyReport> {
  const broken = (kind: "truncated" | "edited", message: string): VerifyReport => ({
    ...report,
    ok: false,
    problem: { seq: anchor.seq, kind, message },
  });
  if ((report.lastSeq ?? 0) < anchor.seq)
    return broken(
      "truncated",
      `the chain ends at record ${report.lastSeq ?? 0} but the anchor is record ${anchor.seq}: truncated, and an older head put back`,
    );
  if (report.firstSeq !== undefined && anchor.seq < report.firstSeq)
    throw new UsageError(
      `the anchor's record ${anchor.seq} was pruned (the log keeps records from ${report.firstSeq}): anchor on a newer head`,
    );
  const record = await source.record(anchor.seq);
  if (record?.hash !== anchor.hash)
    return broken(
      "edited",
      `record ${anchor.seq} is not the anchor's (hash ${record?.hash ?? "none"}): rewritten`,
    );
  return report;
}

function queryCommand(): Command {
  return addAuditTarget(
    new Command("query")
      .description("print recorded decisions, oldest first, one sentence each")
      .option("--subject <subject>", "only decisions by this subject or acting for it (e.g. user:alice)")
      .option(
        "--since <when>",
        "only decisions since: 90s, 30m, 1h, 7d, or an RFC 3339 instant with its offset (2026-05-15T14:00:00Z)",
      ),
    true,
  ).action(async (options: AuditTargetOptions & { subject?: string; since?: string }) => {
    await withSource(
      options,
      async (source) => {
        const print = await decisionPrinter(options.json);
        const filter = {
          ...(options.subject === undefined ? {} : { subject: options.subject }),
          ...(options.since === undefined ? {} : { since: parseSince(options.since, "--since") }),
        };
        for await (const d of source.records(filter)) print(d);
      },
      true,
    );
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
      .option("--interval-ms <n>", "in process: how often to look for new records (default 1000)"),
    true,
  ).action(async (options: AuditTargetOptions & { subject?: string; intervalMs?: string }) => {
    await withSource(
      options,
      async (source) => {
        const print = await decisionPrinter(options.json);
        const intervalMs = options.intervalMs === undefined ? undefined : Number(options.intervalMs);
        if (intervalMs !== undefined && (!Number.isSafeInteger(intervalMs) || intervalMs <= 0))
          throw new UsageError(`--interval-ms must be a positive integer, got "${options.intervalMs}"`);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        try {
          const filter = options.subject === undefined ? {} : { subject: options.subject };
          for await (const d of source.tail(filter, stop.signal, intervalMs)) print(d);
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        }
      },
      true,
    );
  });
}

function exportCommand(): Command {
  return addAuditTarget(
    new Command("export")
      .description(
        "write every kept record for a SIEM, one JSON object a line: the record with its place in the chain (jsonl), or an OCSF 1.3 API Activity event (ocsf)",
      )
      .option("--format <format>", "jsonl or ocsf", "jsonl")
      .option(
        "--since <when>",
        "only decisions since: 90s, 30m, 1h, 7d, or an RFC 3339 instant with its offset (2026-05-15T14:00:00Z)",
      ),
  ).action(async (options: AuditTargetOptions & { format: string; since?: string }) => {
    await withStore(options, async (store) => {
      if (options.format !== "jsonl" && options.format !== "ocsf")
        throw new UsageError(`--format must be jsonl or ocsf, got "${options.format}"`);
      const query = options.since === undefined ? {} : { since: parseSince(options.since, "--since") };
      const write = options.format === "jsonl" ? decisionJson : await ocsfWriter();
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
