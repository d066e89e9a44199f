/**
 * Diagnostics: every problem found in a schema, with a stable code, a position and a caret
 * excerpt. The compiler collects them all before throwing, so an author fixes a file in one pass.
 */
import { type DiagnosticCode, LatchError, truncateText } from "../core/index.js";

/**
 * Diagnostics kept per source: a megabyte of schema can hold tens of thousands of mistakes, and
 * nobody reads past the first screens. Past this many, they are only counted.
 */
export const MAX_DIAGNOSTICS = 100;
/** Characters of one diagnostic's message; names in it are clipped already, this bounds the rest. */
const MAX_MESSAGE = 1024;
/** Characters of a source line shown in an excerpt, around the spot. */
const EXCERPT_WIDTH = 160;
const EXCERPT_BEFORE = 60;

export interface Diagnostic {
  /** Stable code, part of the contract: `schema/unknown-type`, `schema/syntax` ... */
  readonly code: DiagnosticCode;
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
  diagnostic(code: DiagnosticCode, span: Span, message: string): Diagnostic;
  /**
   * Counts a diagnostic and adds it to `list` while fewer than MAX_DIAGNOSTICS were recorded
   * for this source (by lexer, parser and compiler together).
   */
  record(list: Diagnostic[], code: DiagnosticCode, span: Span, message: string): void;
  /** Every diagnostic recorded, kept or not. */
  readonly diagnosticCount: number;
}

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

  function diagnostic(code: DiagnosticCode, span: Span, message: string): Diagnostic {
    const { line, column } = position(span.start);
    const full = lineText(line - 1);
    const available = Math.max(1, full.length - (column - 1));
    const length = Math.max(1, Math.min(span.end - span.start, available));
    // A long line (a minified schema, a megabyte name) is shown as a window around the spot.
    let source = full;
    let at = column - 1;
    if (full.length > EXCERPT_WIDTH) {
      const start = Math.max(0, Math.min(at - EXCERPT_BEFORE, full.length - EXCERPT_WIDTH));
      const end = start + EXCERPT_WIDTH;
      const lead = start > 0 ? "…" : "";
      source = `${lead}${full.slice(start, end)}${end < full.length ? "…" : ""}`;
      at = at - start + lead.length;
    }
    const shown = Math.max(1, Math.min(length, source.length - at));
    // Keep tabs in the caret prefix so the caret lines up however the reader's terminal shows tabs.
    const prefix = source.slice(0, at).replace(/[^\t]/g, " ");
    const excerpt = `${source}\n${prefix}${"^".repeat(shown)}`;
    return { code, message: truncateText(message, MAX_MESSAGE), file, line, column, length, excerpt };
  }

  let diagnosticCount = 0;
  function record(list: Diagnostic[], code: DiagnosticCode, span: Span, message: string): void {
    diagnosticCount++;
    if (diagnosticCount <= MAX_DIAGNOSTICS) list.push(diagnostic(code, span, message));
  }

  return {
    text,
    file,
    position,
    diagnostic,
    record,
    get diagnosticCount() {
      return diagnosticCount;
    },
  };
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

/**
 * Thrown by `compileSchema` and `formatSchema`; carries the diagnostics found (at most
 * MAX_DIAGNOSTICS) and `diagnosticCount`, the number of all of them.
 */
export class SchemaError extends LatchError {
  override readonly name = "SchemaError";
  readonly diagnostics: readonly Diagnostic[];
  readonly diagnosticCount: number;

  constructor(diagnostics: readonly Diagnostic[], diagnosticCount = diagnostics.length) {
    const first = diagnostics[0];
    const count = Math.max(diagnosticCount, diagnostics.length);
    const summary = first
      ? `${first.file}:${first.line}:${first.column}: ${first.message}` +
        (count > 1 ? ` (and ${count - 1} more)` : "")
      : "invalid schema";
    super("schema/invalid", "invalid-argument", summary, { diagnostics, diagnosticCount: count });
    this.diagnostics = diagnostics;
    this.diagnosticCount = count;
  }
}

/** Orders diagnostics by position so output is stable whatever order the checks ran in. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) => a.line - b.line || a.column - b.column || a.code.localeCompare(b.code),
  );
}
