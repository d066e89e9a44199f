/** The report as a text table for a terminal: the summary, then one line per finding. */
import type { PostureReport } from "./types.js";

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

export function renderText(report: PostureReport): string {
  const s = report.summary;
  const lines = [
    `posture at revision ${report.revision} (${report.generatedAt}): ${s.identities} identities, ${s.findings} findings (high ${s.bySeverity.high}, medium ${s.bySeverity.medium}, low ${s.bySeverity.low})`,
  ];
  if (report.drift !== null)
    lines.push(
      `compared with the report at revision ${report.drift.previousRevision}: ${report.drift.changes.length} reach changes`,
    );
  else lines.push("no previous report kept: drift is measured from the next one (--save)");
  if (report.findings.length === 0) return `${lines.join("\n")}\n`;
  const rows = report.findings.map((f) => [f.severity, f.kind, f.identity, f.message]);
  const widths = [8, 0, 0].map((min, i) => Math.max(min, ...rows.map((r) => r[i]!.length)));
  lines.push("");
  lines.push(
    `${pad("SEVERITY", widths[0]!)}  ${pad("KIND", widths[1]!)}  ${pad("IDENTITY", widths[2]!)}  FINDING`,
  );
  for (const r of rows)
    lines.push(`${pad(r[0]!, widths[0]!)}  ${pad(r[1]!, widths[1]!)}  ${pad(r[2]!, widths[2]!)}  ${r[3]}`);
  return `${lines.join("\n")}\n`;
}
