/**
 * Diagnostics: every problem found in a schema, with a stable code, a position and a caret
 * excerpt. The compiler collects them all before throwing, so an author fixes a file in one pass.
 */
import { LatchError } from "../core/index.js";

export interface Diagnostic {
  /** Stable code, part of the contract: `schema/unknown-type`, `schema/syntax` ... */
  readonly code: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units of the line. */
  readonly column: number;
  /** Number of characters the caret underlines (on the first line of the span). */
  readonly length?: number;
  /** The source line followed by a caret line under the spot. */
  readonly excerpt: string;
}

/** A half-open character range `[start, end)` in the schema text. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** Maps offsets to lines and columns, and builds diagnostics for one source text. */
export interface SourceFile {
  readonly text: string;
  readonly file: string;
  position(offset: number): { line: number; column: number };
  diagnostic(code: string, span: Span, message: string): Diagnostic;
}

/** Longest source line an excerpt shows whole, and how much of a longer one precedes the spot. */
const MAX_EXCERPT = 160;
const EXCERPT_BEFORE = 60;

export function createSourceFile(text: string, file = "schema.zed"): SourceFile {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10) lineStarts.push(i + 1);
    else if (ch === 13 && text.charCodeAt(i + 1) !== 10) lineStarts.push(i + 1);
  }

  function lineOf(offset: number): number {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  function lineText(index: number): string {
    const start = lineStarts[index] ?? 0;
    const next = lineStarts[index + 1];
    const raw = text.slice(start, next ?? text.length);
    return raw.replace(/\r?\n$|\r$/, "");
  }

  function position(offset: number): { line: number; column: number } {
    const clamped = Math.max(0, Math.min(offset, text.length));
    const index = lineOf(clamped);
    const column = Math.min(clamped - (lineStarts[index] ?? 0), lineText(index).length) + 1;
    return { line: index + 1, column };
  }

  function diagnostic(code: string, span: Span, message: string): Diagnostic {
    const { line, column } = position(span.start);
    const full = lineText(line - 1);
    const available = Math.max(1, full.length - (column - 1));
    const length = Math.max(1, Math.min(span.end - span.start, available));
    // A very long line is shown as a window around the spot: the excerpt travels in error
    // details (gRPC trailers have a size limit) and a terminal cannot show 100 KB lines anyway.
    const from = full.length <= MAX_EXCERPT ? 0 : Math.max(0, column - 1 - EXCERPT_BEFORE);
    const to = full.length <= MAX_EXCERPT ? full.length : Math.min(full.length, from + MAX_EXCERPT);
    const lead = from > 0 ? "…" : "";
    const source = `${lead}${full.slice(from, to)}${to < full.length ? "…" : ""}`;
    // Keep tabs in the caret prefix so the caret lines up however the reader's terminal shows tabs.
    const prefix = `${lead}${full.slice(from, column - 1)}`.replace(/[^\t]/g, " ");
    const caret = "^".repeat(Math.max(1, Math.min(length, to - (column - 1))));
    const excerpt = `${source}\n${prefix}${caret}`;
    return { code, message, file, line, column, length, excerpt };
  }

  return { text, file, position, diagnostic };
}

/** Renders diagnostics as `file:line:col: error[code]: message` plus a gutter excerpt. */
export function renderDiagnostics(diagnostics: readonly Diagnostic[]): string {
  const blocks: string[] = [];
  for (const d of diagnostics) {
    const number = String(d.line);
    const pad = " ".repeat(number.length);
    const [source = "", caret = ""] = d.excerpt.split("\n");
    blocks.push(
      `${d.file}:${d.line}:${d.column}: error[${d.code}]: ${d.message}\n` +
        `${number} | ${source}\n${pad} | ${caret}`,
    );
  }
  return blocks.join("\n\n");
}

/** Thrown by `compileSchema` and `formatSchema`; carries every diagnostic found. */
export class SchemaError extends LatchError {
  override readonly name = "SchemaError";
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    const first = diagnostics[0];
    const summary = first
      ? `${first.file}:${first.line}:${first.column}: ${first.message}` +
        (diagnostics.length > 1 ? ` (and ${diagnostics.length - 1} more)` : "")
      : "invalid schema";
    super("schema/invalid", "invalid-argument", summary, { diagnostics });
    this.diagnostics = diagnostics;
  }
}

/** Orders diagnostics by position so output is stable whatever order the checks ran in. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) => a.line - b.line || a.column - b.column || a.code.localeCompare(b.code),
  );
}
