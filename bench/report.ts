/** Benchmark results: the machine they ran on, JSON and an SVG plot (percentiles live in src/cli/load). */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { type CaseResult, markdownTable, summarize } from "../src/cli/load/percentiles.js";

export { type CaseResult, markdownTable, summarize };

/** The middle value (the upper one of an even count), for medians of a few rounds. */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  readonly commit: string;
}

export function machine(): Machine {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    // Not a checkout (a tarball): the commit stays unknown rather than failing the run.
  }
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    commit,
  };
}

/** Horizontal bars of p50, p95 and p99 per case on a log scale: the shape of the tail at a glance. */
export function latencySvg(title: string, results: readonly CaseResult[]): string {
  const rowHeight = 26;
  const left = 230;
  const width = 900;
  const plotWidth = width - left - 30;
  const top = 50;
  const height = top + results.length * rowHeight + 50;
  const max = Math.max(10, ...results.map((r) => r.p99Us));
  const decades = Math.ceil(Math.log10(max));
  const x = (us: number) => left + (Math.log10(Math.max(1, us)) / decades) * plotWidth;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let d = 0; d <= decades; d++) {
    const gx = x(10 ** d);
    const label = d < 3 ? `${10 ** d} µs` : d < 6 ? `${10 ** (d - 3)} ms` : `${10 ** (d - 6)} s`;
    parts.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${height - 40}" stroke="#ddd"/>`);
    parts.push(`<text x="${gx}" y="${height - 24}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  results.forEach((r, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${left - 8}" y="${y + 14}" text-anchor="end">${esc(r.name)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${x(r.p99Us) - left}" height="16" fill="#f4b183"/>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${x(r.p95Us) - left}" height="16" fill="#9dc3e6"/>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${x(r.p50Us) - left}" height="16" fill="#2e75b6"/>`);
  });
  const legendY = height - 8;
  parts.push(
    `<rect x="${left}" y="${legendY - 10}" width="10" height="10" fill="#2e75b6"/><text x="${left + 14}" y="${legendY}">p50</text>`,
  );
  parts.push(
    `<rect x="${left + 60}" y="${legendY - 10}" width="10" height="10" fill="#9dc3e6"/><text x="${left + 74}" y="${legendY}">p95</text>`,
  );
  parts.push(
    `<rect x="${left + 120}" y="${legendY - 10}" width="10" height="10" fill="#f4b183"/><text x="${left + 134}" y="${legendY}">p99</text>`,
  );
  parts.push("</svg>");
  return parts.join("\n");
}

export function writeResults(
  dir: string,
  label: string,
  payload: { results: readonly CaseResult[]; [key: string]: unknown },
) {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const json = join(dir, `${label}-${stamp}.json`);
  writeFileSync(json, `${JSON.stringify(payload, null, 2)}\n`);
  const svg = join(dir, `${label}-latest.svg`);
  writeFileSync(svg, latencySvg(`Latch ${label}`, payload.results));
  return { json, svg };
}
