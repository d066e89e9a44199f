/**
 * What the Posture page draws from a report (`latch.posture.v1`, docs/posture.md): the findings
 * grouped by severity, the bars of its charts, and the drift rows. Only the report's types come
 * from src/posture: the page gets the report from PostureService, never computes one.
 */
import type {
  Finding,
  FindingKind,
  IdentityEntry,
  PostureReport,
  ReachEntry,
  Severity,
} from "../../src/posture/index.js";

export type { Finding, IdentityEntry, PostureReport, Severity };

/** Most severe first, as the report orders them. */
export const SEVERITY_ORDER: readonly Severity[] = ["high", "medium", "low"];

/** The report from PostureService's `reportJson`, refused with a clear message when it is not one. */
export function readReport(json: string): PostureReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error("the server's posture report is not JSON");
  }
  const format = (parsed as { format?: unknown } | null)?.format;
  if (format !== "latch.posture.v1")
    throw new Error(
      `the server's posture report has format ${JSON.stringify(format)}; this console reads "latch.posture.v1": update the console`,
    );
  return parsed as PostureReport;
}

export function findingsBySeverity(
  report: PostureReport,
): { severity: Severity; findings: readonly Finding[] }[] {
  return SEVERITY_ORDER.map((severity) => ({
    severity,
    findings: report.findings.filter((f) => f.severity === severity),
  }));
}

/** One bar of a chart: its value and its length as a share of the longest (0 to 1). */
export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly share: number;
}

function bars(entries: readonly [string, number][]): Bar[] {
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return entries.map(([label, value]) => ({ label, value, share: value / max }));
}

/** Findings per kind, every kind the report counts (zeros too: a reader sees what was checked). */
export function kindBars(report: PostureReport): Bar[] {
  return bars(Object.entries(report.summary.byKind) as [FindingKind, number][]);
}

export function severityBars(report: PostureReport): Bar[] {
  return bars(SEVERITY_ORDER.map((s) => [s, report.summary.bySeverity[s] ?? 0]));
}

/** One identity's reach, as a share of each type's objects; `sensitiveShare` the sensitive part. */
export interface ReachBar {
  readonly permission: string;
  readonly text: string;
  readonly share: number;
  readonly sensitiveShare: number;
}

export function reachBars(identity: IdentityEntry): ReachBar[] {
  return identity.reach.map((r: ReachEntry) => ({
    permission: r.permission,
    text: `${r.reached} / ${r.total}${r.conditional > 0 ? `, ${r.conditional} conditional` : ""}${r.sensitive > 0 ? `, ${r.sensitive} sensitive` : ""}`,
    share: r.total === 0 ? 0 : Math.min(1, r.reached / r.total),
    sensitiveShare: r.total === 0 ? 0 : Math.min(1, r.sensitive / r.total),
  }));
}

export interface DriftRow {
  readonly identity: string;
  readonly permission: string;
  readonly before: number;
  readonly after: number;
  /** `+2`, `-1`, `0`. */
  readonly change: string;
  readonly grew: boolean;
}

/** The drift since the previous kept report; undefined when none was kept. */
export function driftRows(report: PostureReport): DriftRow[] | undefined {
  if (report.drift === null) return undefined;
  return report.drift.changes.map((c) => {
    const delta = c.after - c.before;
    return { ...c, change: delta > 0 ? `+${delta}` : String(delta), grew: delta > 0 };
  });
}
