/** Human-readable output of `latch validate`. */
import type { ExplainNode } from "../engine/index.js";
import type { ValidationReport } from "./run.js";

export function formatExplain(node: ExplainNode, indent = "    "): string {
  const lines: string[] = [];
  const walk = (n: ExplainNode, depth: number) => {
    let line = `${indent}${"  ".repeat(depth)}${n.state === "ALLOWED" ? "✓" : n.state === "DENIED" ? "✗" : "?"} ${n.label} ${n.state}`;
    if (n.cached) line += " (cached)";
    lines.push(line);
    for (const c of n.caveats ?? []) {
      const detail =
        c.result === "missing"
          ? ` (needs ${c.missing?.join(", ")})`
          : c.result === "error"
            ? ` ${c.error}`
            : "";
      lines.push(
        `${indent}${"  ".repeat(depth + 1)}caveat ${c.name}(${JSON.stringify(c.context)}) = ${c.result}${detail}`,
      );
    }
    for (const child of n.children ?? []) walk(child, depth + 1);
  };
  walk(node, 0);
  return lines.join("\n");
}

export function formatReport(report: ValidationReport): string {
  const out: string[] = [];
  const where = report.file === undefined ? "" : `${report.file}: `;
  if (report.error !== undefined) out.push(`${where}could not load: ${report.error}`);
  for (const f of report.failures) {
    out.push(`${where}FAIL ${f.kind} ${f.assertion}`);
    out.push(
      `  expected ${f.expected}, got ${f.actual}${f.missing ? ` (missing ${f.missing.join(", ")})` : ""}`,
    );
    if (f.explain !== undefined) out.push(formatExplain(f.explain));
  }
  out.push(
    `${where}${report.relationships} relationships loaded, ${report.assertions} assertions run, ${report.failures.length + (report.error === undefined ? 0 : 1)} failed`,
  );
  return out.join("\n");
}

export function reportFailed(report: ValidationReport): boolean {
  return report.error !== undefined || report.failures.length > 0;
}
