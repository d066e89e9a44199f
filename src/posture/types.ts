/**
 * The report's stable shape (`latch posture --json`, PostureService.Report, the kept reports).
 * docs/posture.md documents every field; fields are only ever added, and a change that removes or
 * renames one bumps `format`.
 */

export const REPORT_FORMAT = "latch.posture.v1";

export const FINDING_KINDS = [
  "orphan-identity",
  "owner-lost-access",
  "non-expiring-grant",
  "over-broad-reach",
  "unused-grant",
  "drift",
  "risky-delegation",
] as const;

export type FindingKind = (typeof FINDING_KINDS)[number];

/** Most severe first. */
export const SEVERITIES = ["high", "medium", "low"] as const;

export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  readonly kind: FindingKind;
  /** The identity it concerns: `agent:x`. */
  readonly identity: string;
  readonly severity: Severity;
  /** One sentence a person reads. */
  readonly message: string;
  /** The relationships (as relationship strings, without caveat context) or decisions behind it. */
  readonly evidence: readonly string[];
  /** What to do about it. */
  readonly fix: string;
}

export interface ReachEntry {
  /** `document#read`. */
  readonly permission: string;
  /** Objects reached (ALLOWED or CONDITIONAL). */
  readonly reached: number;
  /** Of which CONDITIONAL: a caveat that the request's context decides. */
  readonly conditional: number;
  /** Of which sensitive. */
  readonly sensitive: number;
  /** Objects of the permission's type with any relationship. */
  readonly total: number;
  /** reached / total (0 when total is 0), rounded to 4 decimals. */
  readonly share: number;
}

export interface IdentityEntry {
  /** `agent:x`. */
  readonly identity: string;
  /** Its owners (`user:alice`); empty when it has none. */
  readonly owners: readonly string[];
  readonly grants: number;
  readonly delegations: number;
  readonly reach: readonly ReachEntry[];
}

export interface DriftEntry {
  readonly identity: string;
  readonly permission: string;
  readonly before: number;
  readonly after: number;
}

export interface PostureReport {
  readonly format: typeof REPORT_FORMAT;
  /** The revision the report was computed at, in decimal. */
  readonly revision: string;
  /** ISO 8601 instant the report's clock read (windows and expirations are measured from it). */
  readonly generatedAt: string;
  /** The configuration in force, defaults filled in. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly summary: {
    readonly identities: number;
    readonly relationships: number;
    readonly findings: number;
    readonly bySeverity: Readonly<Record<Severity, number>>;
    readonly byKind: Readonly<Record<FindingKind, number>>;
  };
  /** Every identity, by key. */
  readonly identities: readonly IdentityEntry[];
  /** Most severe first, then by kind (in FINDING_KINDS order), then by identity. */
  readonly findings: readonly Finding[];
  /** Reach compared with the previous kept report; null when there is none. */
  readonly drift: {
    readonly previousRevision: string;
    readonly previousGeneratedAt: string;
    /** Every identity and permission whose reach changed, by identity then permission. */
    readonly changes: readonly DriftEntry[];
  } | null;
}

/** Whether any finding is at least as severe as `threshold`. */
export function hasFindingsAtLeast(report: PostureReport, threshold: Severity): boolean {
  const rank = SEVERITIES.indexOf(threshold);
  return report.findings.some((f) => SEVERITIES.indexOf(f.severity) <= rank);
}
