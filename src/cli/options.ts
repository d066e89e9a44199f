/**
 * Options shared by the data commands (`check`, `relationships`, `schema write|read`): where to
 * send the request (`--address`/`--token` for a server, `--db` for a database in process), output
 * format (`--json`), and the error convention: exit code 0 when the command ran, whatever the
 * answer, and 1 only on errors.
 */

import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import type { LatchClient } from "../client/index.js";
import { isLatchError } from "../core/index.js";
import type { Consistency } from "../engine/index.js";
// The error and its rendering alone, from their own file: the schema's index loads the compiler
// and the CEL library, which a command that fails before any schema work should not wait for.
import { renderDiagnostics, SchemaError } from "../schema/diagnostics.js";
import { ACTOR_TOKEN_FLAGS, type ActorTokenFlags, parseActorTokenFlags } from "./actor-token-flags.js";
import { AUDIT_FLAGS, type AuditFlags, addSharedFlags, parseAuditFlags } from "./audit-flags.js";
import { openDatastore } from "./datastore.js";
import { parseDelegationPermissions } from "./delegation-flags.js";
import { parseSignalFlags, type SignalFlags } from "./signal-flags.js";

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

export interface TargetOptions {
  readonly address?: string;
  readonly token?: string;
  readonly db?: string;
  readonly datastore?: string;
  readonly pgSchema?: string;
  readonly json?: boolean;
  readonly tls?: boolean;
  readonly caCert?: string;
  readonly timeout?: string;
  readonly delegationPermission?: string[];
}

/** What the decision commands (`check`, `lookup resources`) take when they run in process. */
export interface InProcessDecisionOptions extends ActorTokenFlags, AuditFlags, SignalFlags {}

function collectFlag(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function addDelegationOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--on-behalf-of <subject>",
        "the subject acts for this principal (e.g. user:alice); repeat for a chain, nearest first",
      ).argParser(collectFlag),
    )
    .addOption(
      new Option(
        "--delegated-only",
        "the subject needs no grant of its own: the principals' permissions and their delegations decide",
      ),
    )
    .addOption(
      new Option(
        "--actor-token <jwt>",
        "an RFC 8693 actor token stating the subject and the chain; the server verifies it (--actor-token-jwks)",
      ).env("LATCH_ACTOR_TOKEN"),
    );
}

export interface DelegationFlags {
  readonly onBehalfOf?: string[];
  readonly delegatedOnly?: boolean;
  readonly actorToken?: string;
}

export function delegationParams(options: DelegationFlags): {
  onBehalfOf?: string[];
  subjectGrants?: "not-required";
  actorToken?: string;
} {
  const chain = options.onBehalfOf ?? [];
  // An actor token states the chain itself.
  if (options.delegatedOnly === true && chain.length === 0 && options.actorToken === undefined)
    throw new UsageError("--delegated-only needs --on-behalf-of (or --actor-token)");
  return {
    ...(chain.length === 0 ? {} : { onBehalfOf: chain }),
    ...(options.delegatedOnly === true ? { subjectGrants: "not-required" as const } : {}),
    ...(options.actorToken === undefined ? {} : { actorToken: options.actorToken }),
  };
}

/**
 * In process (`--db`, `--datastore`), a decision command is its own server: it records decisions
 * in the database's audit trail as `latch serve` does (same flags, same environment variables, same
 * default: `--audit agents`), and verifies actor tokens when given the keys.
 */
export function addInProcessDecisionOptions(command: Command): Command {
  return addSharedFlags(command, IN_PROCESS_FLAGS, "in-process");
}

const IN_PROCESS_FLAGS = [...AUDIT_FLAGS, ...ACTOR_TOKEN_FLAGS];

/**
 * A flag given on the command line for a server target is a mistake (the server has its own
 * settings); the same value from the environment is not (a shell may hold a server's settings).
 */
function refuseInProcessFlags(options: InProcessDecisionOptions): void {
  for (const { key, flags, env } of IN_PROCESS_FLAGS) {
    const given = (options as Readonly<Record<string, unknown>>)[key];
    // A repeatable flag read from the environment is that one value.
    const value = Array.isArray(given) ? given.join(",") : given;
    if (value !== undefined && process.env[env] !== value)
      throw new UsageError(
        `${flags.split(" ")[0]} applies in process (--db, --datastore); a server has its own`,
      );
  }
}

/** The recorder's settings from the `--audit*` flags; `latch serve`'s defaults when absent. */
function auditSettings(options: InProcessDecisionOptions) {
  return {
    ...parseAuditFlags(options, (message) => new UsageError(message)),
    caller: "cli",
    onError: (error: unknown) =>
      process.stderr.write(
        `warning: decision records could not be written to the audit trail: ${error instanceof Error ? error.message : String(error)}\n`,
      ),
  };
}

export function addTargetOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--address <host:port>", `Latch server to talk to (default ${DEFAULT_ADDRESS})`).env(
        "LATCH_ADDRESS",
      ),
    )
    .addOption(new Option("--token <token>", "bearer token for the server").env("LATCH_TOKEN"))
    .addOption(new Option("--db <file>", "work in process on this SQLite database instead of a server"))
    .addOption(
      new Option("--datastore <url>", "work in process on this PostgreSQL database (postgres://...) instead"),
    )
    .addOption(new Option("--pg-schema <name>", "PostgreSQL schema holding Latch's tables (default public)"))
    .addOption(new Option("--tls", "connect with TLS (system roots unless --ca-cert)"))
    .addOption(new Option("--ca-cert <file>", "PEM file of the CA that signed the server certificate"))
    .addOption(new Option("--timeout <ms>", "deadline of each call in milliseconds"))
    .addOption(
      new Option(
        "--delegation-permission <type=permission>",
        "in process (--db, --datastore): the permission of TYPE that says whom it delegates to (default delegate); repeatable",
      ).argParser(collectFlag),
    )
    .addOption(new Option("--json", "machine-readable output"));
}

/**
 * The in-process engine of a command that sends a request or a few and exits: the default
 * subproblem cache (100,000 entries, allocated up front) costs about 15 ms to create and would
 * never fill. `latch bench`, which runs for a while, keeps the default.
 */
const ONE_SHOT_ENGINE = { cache: { maxEntries: 10_000 } } as const;

export interface TargetUse {
  /** Runs long enough to want the engine's default cache (`latch bench --db`). */
  readonly longLived?: boolean;
}

export async function openTarget(
  options: TargetOptions & InProcessDecisionOptions,
  use: TargetUse = {},
): Promise<LatchClient> {
  if (options.db !== undefined || options.datastore !== undefined) {
    if (options.address !== undefined && process.env.LATCH_ADDRESS !== options.address) {
      throw new UsageError("give either --db/--datastore or --address, not both");
    }
    if (options.db !== undefined && options.datastore !== undefined) {
      throw new UsageError("give either --db or --datastore, not both");
    }
    // Loaded here, not at the top: the in-process client brings the engine and a store backend,
    // the remote one gRPC; a command pays only for the one it uses (and `--version` for neither).
    const { createEmbedded } = await import("../client/embedded.js");
    const delegationPermission = parseDelegationPermissions(
      options.delegationPermission,
      (message) => new UsageError(message),
    );
    const engine = use.longLived === true ? {} : { engine: ONE_SHOT_ENGINE };
    const actorTokens = parseActorTokenFlags(options, (message) => new UsageError(message));
    const extra = {
      ...engine,
      ...(delegationPermission === undefined ? {} : { delegation: { delegationPermission } }),
      ...(actorTokens === undefined ? {} : { actorTokens }),
      audit: auditSettings(options),
      signals: parseSignalFlags(options, (message) => new UsageError(message)),
    };
    if (options.db !== undefined) return createEmbedded({ database: options.db, ...extra });
    const store = await openDatastore({ datastore: options.datastore, db: "", pgSchema: options.pgSchema });
    return createEmbedded({ database: "", store, ...extra });
  }
  if (options.delegationPermission !== undefined && options.delegationPermission.length > 0)
    throw new UsageError(
      "--delegation-permission applies in process (--db, --datastore); a server has its own",
    );
  refuseInProcessFlags(options);
  return connectRemote(options);
}

export interface RemoteOptions {
  readonly address?: string;
  readonly token?: string;
  readonly tls?: boolean;
  readonly caCert?: string;
  readonly timeout?: string;
}

/** A client of the server at `--address` (default 127.0.0.1:50051), with `--token`, TLS, `--timeout`. */
export async function connectRemote(options: RemoteOptions): Promise<LatchClient> {
  const { createClient } = await import("../client/remote.js");
  const tls =
    options.caCert !== undefined
      ? { rootCerts: readFileSync(options.caCert) }
      : options.tls === true
        ? true
        : undefined;
  return createClient({
    address: options.address ?? DEFAULT_ADDRESS,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(tls === undefined ? {} : { tls }),
    ...(options.timeout === undefined ? {} : { timeoutMs: positiveInt(options.timeout, "--timeout") }),
  });
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive integer, got "${text}"`);
  return n;
}

/** `minimize-latency`, `fully-consistent`, `at-least-as-fresh:TOKEN`, `at-exact-snapshot:TOKEN`. */
export function parseConsistency(text: string | undefined): Consistency | undefined {
  if (text === undefined) return undefined;
  if (text === "minimize-latency" || text === "fully-consistent") return { kind: text };
  const colon = text.indexOf(":");
  const kind = text.slice(0, colon);
  const token = text.slice(colon + 1);
  if (colon > 0 && token !== "" && (kind === "at-least-as-fresh" || kind === "at-exact-snapshot")) {
    return { kind, token };
  }
  throw new UsageError(
    `--consistency must be minimize-latency, fully-consistent, at-least-as-fresh:TOKEN or at-exact-snapshot:TOKEN, got "${text}"`,
  );
}

export function parseJsonObject(text: string | undefined, flag: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`${flag} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function jsonSafe(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

export function printJson(value: unknown): void {
  process.stdout.write(`${jsonSafe(value)}\n`);
}

export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Reports a failure in the chosen format and sets exit code 1. */
export function reportError(error: unknown, json: boolean | undefined): void {
  process.exitCode = 1;
  if (json === true) {
    const body = isLatchError(error)
      ? { code: error.code, kind: error.kind, message: error.message, details: error.details }
      : {
          code: error instanceof UsageError ? "cli/usage" : "cli/error",
          message: String((error as Error)?.message ?? error),
        };
    process.stderr.write(`${jsonSafe({ error: body })}\n`);
    return;
  }
  if (error instanceof SchemaError) {
    const more = error.diagnosticCount - error.diagnostics.length;
    process.stderr.write(`${renderDiagnostics(error.diagnostics)}\n`);
    if (more > 0) process.stderr.write(`… and ${more} more error(s)\n`);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = isLatchError(error) ? ` [${error.code}]` : "";
  process.stderr.write(`error: ${message}${code}\n`);
}

/**
 * Runs a command body against the chosen target, closing the client afterwards and turning any
 * failure into a message plus exit code 1 (never a stack trace).
 */
export async function withTarget(
  options: TargetOptions & InProcessDecisionOptions,
  body: (client: LatchClient) => Promise<void>,
  use: TargetUse = {},
): Promise<void> {
  let client: LatchClient | undefined;
  try {
    client = await openTarget(options, use);
    await body(client);
  } catch (error) {
    reportError(error, options.json);
  } finally {
    await client?.close().catch(() => undefined);
  }
}
