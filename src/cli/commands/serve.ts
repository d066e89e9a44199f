/**
 * `latch serve`: the gRPC server on the embedded SQLite store, or on a PostgreSQL database shared
 * by several replicas with `--datastore`. Every flag has an environment variable, and
 * `--config FILE` (JSON, keys named like the long flags in camelCase) supplies any of them;
 * precedence is flag, then environment, then config file, then default.
 */

import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { LevelWithSilent, Logger } from "pino";
// The limit alone, from its own file: the engine's index would load the whole engine for --help.
import { checkWebhookUrl } from "../../approvals/webhook.js";
import { MAX_DEPTH_LIMIT } from "../../engine/limits.js";
import type { OpenOptions } from "../../open/index.js";
import type { Metrics, RunningServer, ServerLimits } from "../../server/index.js";
import type { Store } from "../../store/index.js";
import type { MirrorEvent } from "../../store/mirror/index.js";
import { ACTOR_TOKEN_FLAGS, parseActorTokenFlags } from "../actor-token-flags.js";
import { AUDIT_FLAGS, addSharedFlags, parseAuditFlags } from "../audit-flags.js";
import { parseDelegationPermissions } from "../delegation-flags.js";
import { parseDuration } from "../duration.js";
import { parseSignalFlags, SIGNAL_FLAGS } from "../signal-flags.js";

/**
 * What `serve` runs on, loaded when it runs: the server brings gRPC, pino and prom-client, which
 * no other command needs (and `latch --version` should not wait for).
 */
async function loadServeParts() {
  const [open, server, datastore] = await Promise.all([
    import("../../open/index.js"),
    import("../../server/index.js"),
    import("../datastore.js"),
  ]);
  return { ...open, ...server, ...datastore };
}

interface ServeOptions {
  listen: string;
  httpListen?: string;
  consoleListen?: string;
  consoleDir?: string;
  testing?: boolean | string;
  testingMaxStores?: string;
  db: string;
  datastore?: string;
  datastoreReadReplica?: string[] | string;
  pgSchema?: string;
  healthProbeMs?: string;
  schema?: string;
  approvalRules?: string;
  approvalWebhook?: string;
  token: string[];
  insecureNoAuth?: boolean;
  insecureShortTokens?: boolean;
  metricsToken?: string;
  idleTimeoutMs?: string;
  handshakeTimeoutMs?: string;
  tlsCert?: string;
  tlsKey?: string;
  metricsListen?: string;
  maxMessageBytes?: string;
  maxBulkItems?: string;
  maxImportRelationships?: string;
  maxDepth?: string;
  maxCaveatCost?: string;
  logLevel: string;
  config?: string;
  shutdownGraceMs?: string;
  mirrorMaxRelationships?: string;
  gcWindow?: string;
  gcInterval?: string;
  delegationPermission?: string[];
  actorTokenJwks?: string;
  actorTokenIssuer?: string;
  actorTokenAudience?: string;
  audit: string;
  auditMode: string;
  auditFailure?: string;
  auditLoggable?: string;
  auditInclude?: string[] | string;
  auditSample?: string;
  auditFlushMs?: string;
  ssfListen?: string;
  ssfJwks?: string;
  ssfIssuer?: string;
  ssfAudience?: string;
  signalRules?: string;
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function int(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new Error(`${flag} must be a positive integer, got "${text}"`);
  return n;
}

/** Fills options that came from nowhere but their default with values from the config file. */
function applyConfig(command: Command, options: ServeOptions): void {
  if (options.config === undefined) return;
  const config = JSON.parse(readFileSync(options.config, "utf8")) as Record<string, unknown>;
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new Error(`${options.config}: expected a JSON object`);
  }
  const known = new Set(command.options.map((o) => o.attributeName()));
  for (const [key, raw] of Object.entries(config)) {
    const name = key === "tokens" ? "token" : key;
    if (!known.has(name) || name === "config") throw new Error(`${options.config}: unknown setting "${key}"`);
    const source = command.getOptionValueSource(name);
    if (source !== undefined && source !== "default") continue;
    const value =
      name === "token" || name === "datastoreReadReplica"
        ? Array.isArray(raw)
          ? raw.map(String)
          : [String(raw)]
        : typeof raw === "boolean"
          ? raw
          : String(raw);
    command.setOptionValueWithSource(name, value, "config");
    (options as unknown as Record<string, unknown>)[name] = value;
  }
}

/** Where the server listens and what it serves from: addresses, testing mode, datastore, schema. */
function addServerFlags(command: Command): Command {
  return command
    .addOption(new Option("--config <file>", "JSON file with any of these settings").env("LATCH_CONFIG"))
    .addOption(
      new Option("--listen <host:port>", "gRPC address").env("LATCH_LISTEN").default("127.0.0.1:50051"),
    )
    .addOption(
      new Option(
        "--http-listen <host:port>",
        "also serve HTTP here: Latch's services in the Connect protocol (JSON), SpiceDB's HTTP gateway routes",
      ).env("LATCH_HTTP_LISTEN"),
    )
    .addOption(
      new Option(
        "--console-listen <host:port>",
        "also serve the web console here (same token; the Connect API on the same port); default off",
      ).env("LATCH_CONSOLE_LISTEN"),
    )
    .addOption(
      new Option(
        "--console-dir <dir>",
        "the console's built files (default: dist/console of this package)",
      ).env("LATCH_CONSOLE_DIR"),
    )
    .addOption(
      new Option(
        "--testing",
        "TESTS ONLY: every distinct bearer token gets its own empty in-memory store; any token is accepted",
      ).env("LATCH_TESTING"),
    )
    .addOption(
      new Option(
        "--testing-max-stores <n>",
        "with --testing: most stores open at once; past it the least recently used idle one is dropped (default 256)",
      ).env("LATCH_TESTING_MAX_STORES"),
    )
    .addOption(new Option("--db <file>", "SQLite database file").env("LATCH_DB").default("./latch.db"))
    .addOption(
      new Option(
        "--datastore <url>",
        "postgres://user@host:5432/db (shared by replicas); overrides --db",
      ).env("LATCH_DATASTORE"),
    )
    .addOption(
      new Option(
        "--datastore-read-replica <url>",
        "postgres:// URL of a hot standby of --datastore: reads at a revision it has replayed go there; repeatable (LATCH_DATASTORE_READ_REPLICAS: several, separated by commas or spaces)",
      )
        .env("LATCH_DATASTORE_READ_REPLICAS")
        .argParser(collect),
    )
    .addOption(
      new Option("--pg-schema <name>", "PostgreSQL schema holding Latch's tables (default public)").env(
        "LATCH_PG_SCHEMA",
      ),
    )
    .addOption(
      new Option("--health-probe-ms <n>", "how often health probes the datastore (default 2000)").env(
        "LATCH_HEALTH_PROBE_MS",
      ),
    )
    .addOption(
      new Option("--schema <file>", "schema written at start (unless already stored)").env("LATCH_SCHEMA"),
    );
}

/** Approvals: the rules written at start, the webhook told of each new request. */
function addApprovalFlags(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--approval-rules <file>",
        "approval rules (YAML) written at start unless already stored; validated against the schema (docs/approvals.md)",
      ).env("LATCH_APPROVAL_RULES"),
    )
    .addOption(
      new Option(
        "--approval-webhook <url>",
        "POST each new approval request here, signed with HMAC-SHA256 by the secret in LATCH_APPROVAL_WEBHOOK_SECRET",
      ).env("LATCH_APPROVAL_WEBHOOK"),
    );
}

/** Who may call: bearer tokens, TLS, the metrics endpoint. */
function addAccessFlags(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--token <name=secret>",
        "pre-shared bearer token, NAME=SECRET (the name is the caller in the audit trail) or a bare SECRET (named token-N); secrets at least 16 characters; repeat the flag for several (LATCH_TOKEN: one token; LATCH_TOKENS: several, separated by whitespace)",
      )
        .env("LATCH_TOKEN")
        .argParser(collect),
    )
    .addOption(
      new Option("--insecure-no-auth", "serve without any token (development only)").env(
        "LATCH_INSECURE_NO_AUTH",
      ),
    )
    .addOption(
      new Option(
        "--insecure-short-tokens",
        "accept tokens shorter than 16 characters (development only)",
      ).env("LATCH_INSECURE_SHORT_TOKENS"),
    )
    .addOption(new Option("--tls-cert <file>", "PEM certificate chain").env("LATCH_TLS_CERT"))
    .addOption(new Option("--tls-key <file>", "PEM private key").env("LATCH_TLS_KEY"))
    .addOption(
      new Option("--metrics-listen <host:port>", "serve Prometheus /metrics here").env(
        "LATCH_METRICS_LISTEN",
      ),
    )
    .addOption(
      new Option("--metrics-token <token>", "bearer token /metrics requires (default: none, open)").env(
        "LATCH_METRICS_TOKEN",
      ),
    );
}

/** Connection timeouts, and how large and costly one request may be. */
function addLimitFlags(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--idle-timeout-ms <n>",
        "close connections without a call in progress for this long, also sockets that never speak (default 300000)",
      ).env("LATCH_IDLE_TIMEOUT_MS"),
    )
    .addOption(
      new Option(
        "--handshake-timeout-ms <n>",
        "close sockets that have not sent an HTTP/2 preface within this long (default 10000)",
      ).env("LATCH_HANDSHAKE_TIMEOUT_MS"),
    )
    .addOption(
      new Option("--max-message-bytes <n>", "largest request accepted (default 4 MiB)").env(
        "LATCH_MAX_MESSAGE_BYTES",
      ),
    )
    .addOption(
      new Option("--max-bulk-items <n>", "items per CheckBulk (default 1000)").env("LATCH_MAX_BULK_ITEMS"),
    )
    .addOption(
      new Option(
        "--max-import-relationships <n>",
        "relationships in one import stream, held in memory until it commits (default 500000)",
      ).env("LATCH_MAX_IMPORT_RELATIONSHIPS"),
    )
    .addOption(
      new Option(
        "--max-depth <n>",
        `dispatch hops one check may go from its resource (default 50, at most ${MAX_DEPTH_LIMIT})`,
      ).env("LATCH_MAX_DEPTH"),
    )
    .addOption(
      new Option(
        "--max-caveat-cost <n>",
        "cost budget of one caveat evaluation, about one unit per expression node evaluated (default 200000)",
      ).env("LATCH_MAX_CAVEAT_COST"),
    );
}

/** The audit trail of decisions. */
function addAuditFlags(command: Command): Command {
  return addSharedFlags(command, AUDIT_FLAGS, "serve");
}

/** Logging, the in-memory mirror, shutdown. */
function addRuntimeFlags(command: Command): Command {
  return command
    .addOption(
      new Option("--log-level <level>", "log level").env("LATCH_LOG_LEVEL").choices(LEVELS).default("info"),
    )
    .addOption(
      new Option(
        "--mirror-max-relationships <n>",
        "most relationships held in memory for the hot reads (default 5000000; 0: none); above it, whole relation sets, the smallest first",
      ).env("LATCH_MIRROR_MAX_RELATIONSHIPS"),
    )
    .addOption(
      new Option("--shutdown-grace-ms <n>", "how long in-flight calls may finish at shutdown").env(
        "LATCH_SHUTDOWN_GRACE_MS",
      ),
    )
    .addOption(
      new Option(
        "--gc-window <duration>",
        "keep history (old relationship versions, the changes feed, old schemas) this long; older revision tokens are refused (default 24h)",
      ).env("LATCH_GC_WINDOW"),
    )
    .addOption(
      new Option(
        "--gc-interval <duration>",
        "how often to compact history in the background (default 5m; 0: never, run `latch gc` instead)",
      ).env("LATCH_GC_INTERVAL"),
    );
}

/** On-behalf-of chains: delegation permissions and RFC 8693 actor tokens. */
function addDelegationFlags(command: Command): Command {
  command.addOption(
    new Option(
      "--delegation-permission <type=permission>",
      "the permission of TYPE that says whom it delegates to (on-behalf-of chains; default delegate); repeatable (LATCH_DELEGATION_PERMISSION: several, separated by commas)",
    )
      .env("LATCH_DELEGATION_PERMISSION")
      .argParser(collect),
  );
  return addSharedFlags(command, ACTOR_TOKEN_FLAGS, "serve");
}

/** Security signals in: the RFC 8935 push endpoint, the transmitter, the rules (docs/signals.md). */
function addSignalFlags(command: Command): Command {
  command.addOption(
    new Option(
      "--ssf-listen <host:port>",
      "receive Security Event Tokens pushed here (RFC 8935: POST application/secevent+jwt); needs --ssf-jwks",
    ).env("LATCH_SSF_LISTEN"),
  );
  return addSharedFlags(command, SIGNAL_FLAGS, "serve");
}

export function serveCommand(): Command {
  const command = new Command("serve").description(
    "run the Latch gRPC server on a SQLite database or a shared PostgreSQL one",
  );
  // In this order: it is the order --help lists them in.
  for (const add of [
    addServerFlags,
    addApprovalFlags,
    addAccessFlags,
    addLimitFlags,
    addAuditFlags,
    addRuntimeFlags,
    addDelegationFlags,
    addSignalFlags,
  ]) {
    add(command);
  }

  command.action(async (options: ServeOptions) => {
    try {
      await serve(command, options);
    } catch (error) {
      process.stderr.write(`latch serve: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  });
  return command;
}

const flag = (value: boolean | string | undefined) => value === true || String(value) === "true";

/**
 * Each `--token` flag (or LATCH_TOKEN, or an entry of the config file's `tokens`) is one token,
 * whatever characters it holds: splitting on commas made `--token 'a,b'` accept `b` alone.
 * Several tokens come from repeated flags, or from LATCH_TOKENS, separated by whitespace (which no
 * token holds: it would not survive the `Bearer` header's trimming anyway).
 */
function tokensOf(command: Command, options: ServeOptions): string[] {
  let tokens = options.token ?? [];
  const listed = process.env.LATCH_TOKENS;
  const source = command.getOptionValueSource("token");
  if (listed !== undefined && source !== "cli") {
    const more = listed.split(/\s+/).filter((t) => t !== "");
    // Environment before config file, as for every other setting.
    tokens = source === "env" ? [...tokens, ...more] : more;
  }
  return tokens.map((t) => t.trim()).filter((t) => t !== "");
}

/** The in-memory copy's settings, with its events logged. */
function mirrorOptions(mirrorMax: number | undefined, log: Logger) {
  return {
    ...(mirrorMax === undefined ? {} : { maxRelationships: mirrorMax }),
    onEvent: (event: MirrorEvent) => {
      if (event.kind === "ready") {
        const { relationships, ms } = event;
        log.info({ relationships, revision: String(event.revision), ms }, "relationships loaded into memory");
      } else if (event.kind === "partial") {
        const { maxRelationships, dropped, relationships } = event;
        log.warn(
          { maxRelationships, dropped, relationships },
          "more relationships than --mirror-max-relationships: reading these type#relation sets from the datastore",
        );
      } else log.warn({ err: event.error }, "the in-memory copy could not follow the datastore");
    },
  };
}

/** The recorder's settings from the `--audit*` flags. */
function auditOptions(
  settings: Settings,
  logger: Logger,
  // The metrics are made later (in wrapStore); appends happen only once calls are served.
  onAppend: (seconds: number) => void,
): NonNullable<OpenOptions["audit"]> {
  const { audit } = settings;
  return {
    ...audit,
    // A server's first decisions should not wait for the thread, nor a crash soon after start lose them.
    startWriter: true,
    onAppend,
    onError: (error) =>
      logger.error(
        { err: error, auditMode: audit.mode, auditFailure: audit.failure },
        "decision records could not be written to the audit trail",
      ),
  };
}

/**
 * Sweeps expired relationships and compacts history while serving; resolves once a signal has shut
 * the server down.
 */
async function serveUntilSignalled(
  running: { shutdown(graceMs: number): Promise<void> },
  store: Store | undefined,
  log: Logger,
  graceMs: number,
  gc: Settings["gc"] = {},
): Promise<void> {
  const sweeper = setInterval(() => {
    store?.sweepExpired(10_000).catch((error: unknown) => log.warn({ err: error }, "expired sweep failed"));
  }, 60_000);
  sweeper.unref();
  const stopCompaction = await startCompaction(store, gc, log);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, "shutting down: no new calls, finishing in-flight ones");
      clearInterval(sweeper);
      stopCompaction();
      running.shutdown(graceMs).then(done, done);
    };
    const done = () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

/** History compaction in the background (store/history.ts), unless `--gc-interval 0`. */
async function startCompaction(store: Store | undefined, gc: Settings["gc"], log: Logger) {
  if (store === undefined || gc.intervalMs === 0) return () => undefined;
  const { scheduleCompaction } = await import("../../store/history.js");
  return scheduleCompaction(store, {
    ...gc,
    onReport: (report) => {
      if (
        report.skipped === undefined &&
        report.relationshipVersions + report.changes + report.revisions > 0
      ) {
        const { horizon, relationshipVersions, changes, schemas, revisions } = report;
        log.info(
          { horizon: String(horizon), relationshipVersions, changes, schemas, revisions },
          "history compacted",
        );
      }
    },
    onError: (error) => log.warn({ err: error }, "history compaction failed"),
  });
}

type ServeParts = Awaited<ReturnType<typeof loadServeParts>>;

/** The settings both modes share, read and checked from the flags before anything is opened. */
function readSettings(options: ServeOptions, tokens: string[], testing: boolean) {
  const idleTimeoutMs = int(options.idleTimeoutMs, "--idle-timeout-ms");
  const handshakeTimeoutMs = int(options.handshakeTimeoutMs, "--handshake-timeout-ms");
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new Error("--tls-cert and --tls-key go together");
  }
  if (!LEVELS.includes(options.logLevel)) throw new Error(`--log-level must be one of ${LEVELS.join(", ")}`);
  const maxBulkItems = int(options.maxBulkItems, "--max-bulk-items");
  const delegationPermission = parseDelegationPermissions(options.delegationPermission, (m) => new Error(m));
  const actorTokens = parseActorTokenFlags(options, (m) => new Error(m));
  const maxDepth = int(options.maxDepth, "--max-depth");
  if (maxDepth !== undefined && maxDepth > MAX_DEPTH_LIMIT)
    throw new Error(`--max-depth must be at most ${MAX_DEPTH_LIMIT}, got ${maxDepth}`);
  const maxCaveatCost = int(options.maxCaveatCost, "--max-caveat-cost");
  const audit = parseAuditFlags(options, (m) => new Error(m)); // refused at start, before anything is opened
  const signals = parseSignalFlags(options, (m) => new Error(m));
  if (options.ssfListen !== undefined && signals.transmitter === undefined)
    throw new Error("--ssf-listen needs the transmitter: --ssf-jwks, --ssf-issuer and --ssf-audience");
  if (testing && (options.ssfListen !== undefined || signals.transmitter !== undefined))
    throw new Error("--testing has no signals: leave out --ssf-*");
  const maxMessageBytes = int(options.maxMessageBytes, "--max-message-bytes");
  const maxImportRelationships = int(options.maxImportRelationships, "--max-import-relationships");
  const testingMaxStores = int(options.testingMaxStores, "--testing-max-stores");
  if (testingMaxStores !== undefined && !testing)
    throw new Error("--testing-max-stores goes with --testing (a store per token)");
  const tls =
    options.tlsCert === undefined || options.tlsKey === undefined
      ? undefined
      : { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) };
  const limits: Partial<ServerLimits> = {
    ...(maxBulkItems === undefined ? {} : { maxBulkItems }),
    ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    ...(maxImportRelationships === undefined ? {} : { maxImportRelationships }),
  };
  return {
    /** What every backend is opened with (openLatch). */
    latch: {
      ...(options.schema === undefined ? {} : { schema: readFileSync(options.schema, "utf8") }),
      approvals: approvalSettings(options),
      ...(delegationPermission === undefined ? {} : { delegation: { delegationPermission } }),
      ...(actorTokens === undefined ? {} : { actorTokens }),
      engine: {
        ...(maxDepth === undefined ? {} : { maxDepth }),
        ...(maxCaveatCost === undefined ? {} : { maxCaveatCost }),
        ...(maxBulkItems === undefined ? {} : { maxBulkItems }),
      },
    },
    /** What startServer is given in both modes. */
    server: {
      tokens,
      insecureNoAuth: flag(options.insecureNoAuth),
      insecureShortTokens: flag(options.insecureShortTokens),
      ...(options.metricsToken === undefined ? {} : { metricsToken: options.metricsToken }),
      ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
      ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }),
      limits,
      listen: options.listen,
      ...(options.httpListen === undefined ? {} : { httpListen: options.httpListen }),
      ...(options.consoleListen === undefined ? {} : { consoleListen: options.consoleListen }),
      ...(options.consoleDir === undefined ? {} : { consoleDir: options.consoleDir }),
      ...(options.metricsListen === undefined ? {} : { metricsListen: options.metricsListen }),
      ...(tls === undefined ? {} : { tls }),
    },
    /** The `--audit*` flags (datastore mode; testing mode audits nothing). */
    audit,
    /** Security signals (datastore mode), and where SETs are pushed. */
    signals,
    ssfListen: options.ssfListen,
    testingMaxStores,
    graceMs: int(options.shutdownGraceMs, "--shutdown-grace-ms") ?? 10_000,
    gc: {
      ...(options.gcWindow === undefined ? {} : { windowMs: parseDuration(options.gcWindow, "--gc-window") }),
      ...(options.gcInterval === undefined
        ? {}
        : { intervalMs: parseDuration(options.gcInterval, "--gc-interval") }),
    },
    healthProbeMs: int(options.healthProbeMs, "--health-probe-ms"),
  };
}

type Settings = ReturnType<typeof readSettings>;

/** Where the server listens, on stdout (tests and scripts read these lines). */
function printAddresses(running: RunningServer, tls: boolean): void {
  process.stdout.write(`latch listening on ${running.address}${tls ? " (TLS)" : ""}\n`);
  if (running.httpAddress !== undefined) {
    process.stdout.write(`http on ${tls ? "https" : "http"}://${running.httpAddress}\n`);
  }
  if (running.consoleAddress !== undefined) {
    process.stdout.write(`console on ${tls ? "https" : "http"}://${running.consoleAddress}\n`);
  }
  if (running.metricsAddress !== undefined) {
    process.stdout.write(`metrics on http://${running.metricsAddress}/metrics\n`);
  }
}

async function serve(command: Command, options: ServeOptions): Promise<void> {
  const parts = await loadServeParts();
  applyConfig(command, options);
  const testing = flag(options.testing);
  const tokens = tokensOf(command, options);
  const insecure = flag(options.insecureNoAuth);
  const insecureShortTokens = flag(options.insecureShortTokens);
  if (testing) {
    if (tokens.length > 0 || insecure)
      throw new Error(
        "--testing accepts any token (a store per token): leave out --token and --insecure-no-auth",
      );
  } else {
    if (tokens.length === 0 && !insecure) {
      throw new Error(
        "no token configured: give --token (or LATCH_TOKEN / LATCH_TOKENS), or --insecure-no-auth for development",
      );
    }
    parts.checkTokens({ tokens, insecureNoAuth: insecure, insecureShortTokens });
  }
  if (options.metricsToken !== undefined) {
    // The metrics token has no name: its text is the secret whole, `=` or not.
    parts.checkTokens(
      { tokens: [{ name: "metrics", secret: options.metricsToken }], insecureShortTokens },
      "metrics token",
    );
  }
  const settings = readSettings(options, tokens, testing);
  const log = parts.createLogger(options.logLevel as LevelWithSilent);
  if (testing) await serveTesting(parts, settings, log);
  else await serveDatastore(parts, settings, options, log);
}

/**
 * `--testing`: a store per token, each an empty in-memory SQLite database opened on the token's
 * first call (with `--schema` written to it, if given). Nothing is kept, nothing is audited.
 */
async function serveTesting(parts: ServeParts, settings: Settings, log: Logger) {
  process.stderr.write(
    "WARNING: --testing: any token is accepted, each token gets its own empty in-memory store, nothing is kept; for tests only, never in production\n",
  );
  log.warn("testing mode: a store per token, any token accepted, nothing kept");
  const running = await parts.startServer({
    ...settings.server,
    tokens: [],
    insecureNoAuth: false,
    testing: {
      open: () => parts.openLatch({ database: ":memory:", mirror: false, ...settings.latch }),
      ...(settings.testingMaxStores === undefined ? {} : { maxStores: settings.testingMaxStores }),
      onEvict: (caller) =>
        log.info({ caller }, "testing mode: store dropped to make room (least recently used)"),
    },
    logger: log,
    // Calls and their codes; the engines are one per token, so their cache counters stay at 0.
    ...(settings.server.metricsListen === undefined
      ? {}
      : { metrics: parts.createMetrics(() => ({ cacheHits: 0, cacheMisses: 0, dispatches: 0 })) }),
  });
  printAddresses(running, settings.server.tls !== undefined);
  log.info({ address: running.address, http: running.httpAddress }, "serving (testing mode)");
  await serveUntilSignalled(running, undefined, log, settings.graceMs);
  log.info("stopped");
}

async function serveDatastore(parts: ServeParts, settings: Settings, options: ServeOptions, log: Logger) {
  const insecure = settings.server.insecureNoAuth;
  if (insecure && settings.server.tokens.length === 0) {
    process.stderr.write("WARNING: --insecure-no-auth: every caller can read and write everything\n");
    log.warn("serving without authentication");
  }
  const mirrorMax =
    options.mirrorMaxRelationships === "0"
      ? 0
      : int(options.mirrorMaxRelationships, "--mirror-max-relationships");
  const datastore = {
    datastore: options.datastore,
    db: options.db,
    pgSchema: options.pgSchema,
    readReplicas: parts.readReplicaUrls(options.datastoreReadReplica),
  };

  // The engine is created after the metrics (in wrapStore) so that its store calls are timed too.
  let engineStats = () => ({ cacheHits: 0, cacheMisses: 0, dispatches: 0 });
  let metrics: Metrics | undefined;
  const latch = await parts.openLatch({
    ...settings.latch,
    signals: {
      ...settings.signals,
      onRefused: (error) => log.warn({ err: error }, "security event token refused"),
      onReceived: (receipt) =>
        log.info(
          {
            issuer: receipt.issuer,
            jti: receipt.jti,
            revision: String(receipt.revision),
            effects: receipt.effects,
          },
          "security event token applied",
        ),
    },
    store: await parts.openDatastore(datastore),
    audit: auditOptions(settings, log, (seconds) => metrics?.observeAuditAppend(seconds)),
    mirror: mirrorMax === 0 ? false : mirrorOptions(mirrorMax, log),
    wrapStore: (raw, mirror) => {
      metrics =
        options.metricsListen === undefined
          ? undefined
          : parts.createMetrics(() => engineStats(), {
              ...(mirror === undefined ? {} : { mirrorStats: () => mirror.stats() }),
              ...(raw.readReplicas === undefined ? {} : { readReplicas: () => raw.readReplicas!() }),
            });
      // Gated so that calls fail fast with UNAVAILABLE while health finds the database unreachable.
      return parts.createDatastoreGate(metrics === undefined ? raw : metrics.instrumentStore(raw)).store;
    },
    onSchemaWritten: () => log.info({ file: options.schema }, "schema written"),
  });
  const { store, engine, decider, recorder } = latch;
  engineStats = () => engine.stats();
  if (recorder !== undefined) metrics?.watchAudit(() => recorder.stats());

  let ssf: ReturnType<typeof parts.createSsfReceiverServer> | undefined;
  try {
    if (settings.ssfListen !== undefined && latch.signals !== undefined) {
      ssf = parts.createSsfReceiverServer(latch.signals.receiver);
      const address = await ssf.listen(settings.ssfListen);
      process.stdout.write(`ssf on http://${address}\n`);
      log.info({ address }, "receiving security event tokens (RFC 8935 push)");
    }
    const running = await parts.startServer({
      ...settings.server,
      store,
      engine,
      decider,
      ...(latch.approvals === undefined ? {} : { approvals: latch.approvals }),
      permissions: latch.permissions,
      ...(latch.signals === undefined ? {} : { signals: latch.signals }),
      logger: log,
      ...(metrics === undefined ? {} : { metrics }),
      ...(settings.healthProbeMs === undefined ? {} : { healthProbeMs: settings.healthProbeMs }),
    });
    printAddresses(running, settings.server.tls !== undefined);
    log.info(
      {
        address: running.address,
        http: running.httpAddress,
        metrics: running.metricsAddress,
        datastore: parts.describeDatastore(datastore),
      },
      "serving",
    );

    await serveUntilSignalled(running, store, log, settings.graceMs, settings.gc);
  } finally {
    await ssf?.close();
    // Queued (async) decision records are written before the datastore closes.
    await latch.close();
    if (recorder !== undefined) log.info(recorder.stats(), "audit trail");
    log.info("stopped");
  }
}

/** `--approval-rules` and `--approval-webhook` as openLatch's approval settings. */
function approvalSettings(options: ServeOptions): NonNullable<Exclude<OpenOptions["approvals"], false>> {
  // Refused at start, not found out at the first delivery: only http(s), no credentials.
  if (options.approvalWebhook !== undefined) checkWebhookUrl(options.approvalWebhook, "--approval-webhook");
  const secret = process.env.LATCH_APPROVAL_WEBHOOK_SECRET;
  if (options.approvalWebhook !== undefined && (secret === undefined || secret.length < 16))
    throw new Error(
      "--approval-webhook needs LATCH_APPROVAL_WEBHOOK_SECRET (at least 16 characters): the receiver checks the signature with it",
    );
  return {
    ...(options.approvalRules === undefined
      ? {}
      : { rules: readFileSync(options.approvalRules, "utf8"), rulesFile: options.approvalRules }),
    ...(options.approvalWebhook === undefined
      ? {}
      : { webhook: { url: options.approvalWebhook, secret: secret! } }),
  };
}
