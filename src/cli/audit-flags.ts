/**
 * `--audit`, `--audit-mode`, `--audit-failure`, `--audit-loggable`, shared by `latch serve` and the
 * in-process decision commands: the same settings, the same defaults, the same refusals.
 */
import type { AuditFailure, AuditMode, AuditPolicy } from "../audit/index.js";

export interface AuditFlags {
  readonly audit?: string | undefined;
  readonly auditMode?: string | undefined;
  readonly auditFailure?: string | undefined;
  readonly auditLoggable?: string | undefined;
}

export interface AuditSettings {
  readonly policy: AuditPolicy;
  readonly mode: AuditMode;
  readonly failure?: AuditFailure;
  readonly loggableParameters: readonly string[];
}

/** The flags' values were checked against their choices by commander; defaults are `agents`, `async`. */
export function parseAuditFlags(flags: AuditFlags, fail: (message: string) => Error): AuditSettings {
  const mode = (flags.auditMode ?? "async") as AuditMode;
  if (flags.auditFailure === "deny" && mode !== "sync")
    throw fail(
      "--audit-failure deny needs --audit-mode sync: async never waits for a record (a full queue drops and counts)",
    );
  return {
    policy: (flags.audit ?? "agents") as AuditPolicy,
    mode,
    ...(flags.auditFailure === undefined ? {} : { failure: flags.auditFailure as AuditFailure }),
    loggableParameters: (flags.auditLoggable ?? "")
      .split(",")
      .map((name) => name.trim())
      .filter((name) => name !== ""),
  };
}
