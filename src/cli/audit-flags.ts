/**
 * `--audit`, `--audit-mode`, `--audit-failure`, `--audit-loggable`, `--audit-include`,
 * `--audit-sample`, shared by `latch serve` and the in-process decision commands: the same
 * settings, the same defaults, the same refusals.
 */
import type { AuditFailure, AuditMode, AuditPolicy } from "../audit/index.js";

export interface AuditFlags {
  readonly audit?: string | undefined;
  readonly auditMode?: string | undefined;
  readonly auditFailure?: string | undefined;
  readonly auditLoggable?: string | undefined;
  /** Repeated flags, or one comma-separated value (the environment variable). */
  readonly auditInclude?: readonly string[] | string | undefined;
  readonly auditSample?: string | undefined;
}

export interface AuditSettings {
  readonly policy: AuditPolicy;
  readonly mode: AuditMode;
  readonly failure?: AuditFailure;
  readonly loggableParameters: readonly string[];
  readonly include?: readonly string[];
  readonly sample?: number;
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
  return {
    policy,
    mode,
    ...(flags.auditFailure === undefined ? {} : { failure: flags.auditFailure as AuditFailure }),
    loggableParameters: list(flags.auditLoggable),
    ...(include.length === 0 ? {} : { include }),
    ...(sample === undefined || sample === 0 ? {} : { sample }),
  };
}
