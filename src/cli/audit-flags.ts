/**
 * `--audit`, `--audit-mode`, `--audit-failure`, `--audit-loggable`, `--audit-include`,
 * `--audit-sample`, `--audit-flush-ms`, shared by `latch serve` and the in-process decision
 * commands: the same settings, the same defaults, the same refusals.
 */
import { type Command, Option } from "commander";
import type { AuditFailure, AuditMode, AuditPolicy } from "../audit/index.js";

export interface AuditFlags {
  readonly audit?: string | undefined;
  readonly auditMode?: string | undefined;
  readonly auditFailure?: string | undefined;
  readonly auditLoggable?: string | undefined;
  /** Repeated flags, or one comma-separated value (the environment variable). */
  readonly auditInclude?: readonly string[] | string | undefined;
  readonly auditSample?: string | undefined;
  readonly auditFlushMs?: string | undefined;
}

export interface AuditSettings {
  readonly policy: AuditPolicy;
  readonly mode: AuditMode;
  readonly failure?: AuditFailure;
  readonly loggableParameters: readonly string[];
  readonly include?: readonly string[];
  readonly sample?: number;
  readonly flushMs?: number;
}

/** Where a flag is declared: `latch serve` (its help, its defaults) or an in-process command. */
export type FlagSite = "serve" | "in-process";

/** One flag shared by `latch serve` and the in-process commands, with each one's help text. */
export interface SharedFlag {
  readonly key: string;
  readonly flags: string;
  readonly env: string;
  readonly help: Readonly<Record<FlagSite, string>>;
  readonly choices?: readonly string[];
  /** `latch serve`'s default; in process the flag stays unset unless given (see openTarget). */
  readonly serveDefault?: string;
  readonly repeatable?: boolean;
}

export const AUDIT_FLAGS: readonly SharedFlag[] = [
  {
    key: "audit",
    flags: "--audit <policy>",
    env: "LATCH_AUDIT",
    help: {
      serve:
        "record decisions in the datastore's audit trail: all, agents (acting for someone, or DENIED), off",
      "in-process":
        "in process: record decisions in the database's audit trail: all, agents (the default: acting for someone, or DENIED), off",
    },
    choices: ["all", "agents", "off"],
    serveDefault: "agents",
  },
  {
    key: "auditMode",
    flags: "--audit-mode <mode>",
    env: "LATCH_AUDIT_MODE",
    help: {
      serve:
        "async (batched, bounded queue; answers do not wait) or sync (answer after the record commits; refused if it cannot)",
      "in-process":
        "in process: async (the default; written before the command exits) or sync (answer after the record commits)",
    },
    choices: ["async", "sync"],
    serveDefault: "async",
  },
  {
    key: "auditFailure",
    flags: "--audit-failure <what>",
    env: "LATCH_AUDIT_FAILURE",
    help: {
      serve:
        "sync: deny (the default: refuse a decision whose record cannot be written) or allow-and-alert (answer, log an error, count it); async always answers and drops and counts",
      "in-process": "in process, sync: deny (the default) or allow-and-alert when a record cannot be written",
    },
    choices: ["deny", "allow-and-alert"],
  },
  {
    key: "auditLoggable",
    flags: "--audit-loggable <names>",
    env: "LATCH_AUDIT_LOGGABLE",
    help: {
      serve: "caveat parameters whose context values are recorded, comma-separated (others are redacted)",
      "in-process": "in process: caveat parameters whose context values are recorded, comma-separated",
    },
  },
  {
    key: "auditInclude",
    flags: "--audit-include <type[#permission]>",
    env: "LATCH_AUDIT_INCLUDE",
    help: {
      serve:
        "agents: record every decision on this resource type or permission too (e.g. document#export); repeatable (LATCH_AUDIT_INCLUDE: comma-separated)",
      "in-process":
        "in process, agents: record every decision on this resource type or permission (e.g. document#export); repeatable",
    },
    repeatable: true,
  },
  {
    key: "auditSample",
    flags: "--audit-sample <share>",
    env: "LATCH_AUDIT_SAMPLE",
    help: {
      serve:
        "agents: also record this share (0..1) of plain decisions (no chain, not DENIED), each marked sampled (default 0)",
      "in-process":
        "in process, agents: also record this share (0..1) of plain decisions (no chain, not DENIED), marked sampled",
    },
  },
  {
    key: "auditFlushMs",
    flags: "--audit-flush-ms <ms>",
    env: "LATCH_AUDIT_FLUSH_MS",
    help: {
      serve:
        "async: how long records wait to share one append, 1-10000 (default 50): a crash loses about the last this many ms of records; shorter costs throughput",
      "in-process": "in process, async: how long records wait to share one append (default 50 ms)",
    },
  },
];

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Declares shared flags on a command, with the help text (and defaults) of `site`. */
export function addSharedFlags(command: Command, flags: readonly SharedFlag[], site: FlagSite): Command {
  for (const flag of flags) {
    const option = new Option(flag.flags, flag.help[site]).env(flag.env);
    if (flag.choices !== undefined) option.choices(flag.choices);
    if (site === "serve" && flag.serveDefault !== undefined) option.default(flag.serveDefault);
    if (flag.repeatable === true) option.argParser(collect);
    command.addOption(option);
  }
  return command;
}

/** `a,b` or a repeated flag's values, each possibly `a,b`: the names, trimmed, none empty. */
function list(value: readonly string[] | string | undefined): string[] {
  const parts = typeof value === "string" ? [value] : (value ?? []);
  return parts
    .flatMap((part) => part.split(","))
    .map((name) => name.trim())
    .filter((name) => name !== "");
}

const INCLUDE_ENTRY = /^[a-z][a-z0-9_]*(\/[a-z][a-z0-9_]*)*(#[a-z][a-z0-9_]*)?$/;

/** The flags' values were checked against their choices by commander; defaults are `agents`, `async`. */
export function parseAuditFlags(flags: AuditFlags, fail: (message: string) => Error): AuditSettings {
  const mode = (flags.auditMode ?? "async") as AuditMode;
  if (flags.auditFailure === "deny" && mode !== "sync")
    throw fail(
      "--audit-failure deny needs --audit-mode sync: async never waits for a record (a full queue drops and counts)",
    );
  const policy = (flags.audit ?? "agents") as AuditPolicy;
  const include = list(flags.auditInclude);
  for (const entry of include) {
    if (!INCLUDE_ENTRY.test(entry))
      throw fail(
        `--audit-include takes TYPE or TYPE#PERMISSION (e.g. document or document#export), got "${entry}"`,
      );
  }
  const sample = flags.auditSample === undefined ? undefined : Number(flags.auditSample);
  if (sample !== undefined && (flags.auditSample!.trim() === "" || !(sample >= 0 && sample <= 1)))
    throw fail(
      `--audit-sample takes the share of plain decisions to record, between 0 and 1 (e.g. 0.01), got "${flags.auditSample}"`,
    );
  if (policy !== "agents" && (include.length > 0 || (sample ?? 0) > 0))
    throw fail(
      `--audit-include and --audit-sample refine --audit agents; --audit ${policy} leaves nothing to add or sample`,
    );
  const flushMs = flags.auditFlushMs === undefined ? undefined : Number(flags.auditFlushMs);
  if (flushMs !== undefined && !(Number.isInteger(flushMs) && flushMs >= 1 && flushMs <= 10_000))
    throw fail(
      `--audit-flush-ms takes whole milliseconds from 1 to 10000 (e.g. 10), got "${flags.auditFlushMs}"`,
    );
  if (flushMs !== undefined && mode !== "async")
    throw fail(
      "--audit-flush-ms is for --audit-mode async: sync appends at the end of each turn of the event loop",
    );
  return {
    policy,
    mode,
    ...(flags.auditFailure === undefined ? {} : { failure: flags.auditFailure as AuditFailure }),
    loggableParameters: list(flags.auditLoggable),
    ...(include.length === 0 ? {} : { include }),
    ...(sample === undefined || sample === 0 ? {} : { sample }),
    ...(flushMs === undefined ? {} : { flushMs }),
  };
}
