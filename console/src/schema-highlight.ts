/**
 * Syntax highlighting of the schema editor. The words come from the real lexer (src/schema), so
 * the colours never disagree with the compiler; this file only decides, from a word's place in
 * its statement, what it is (a keyword, a type, a relation ...). The page draws the result in a
 * layer behind a transparent textarea: no editor library, nothing that needs inline styles, which
 * the console's CSP forbids.
 */
import { type Token, tokenizeSchema } from "../../src/schema/index.js";

/** What a stretch of text is; each becomes the CSS class `hl-<kind>`. */
export type HighlightKind =
  | "keyword"
  | "def"
  | "member"
  | "type"
  | "ref"
  | "caveat"
  | "param"
  | "op"
  | "punct"
  | "comment"
  | "cel"
  | "string"
  | "number";

export interface HighlightRange {
  readonly start: number;
  readonly end: number;
  readonly kind: HighlightKind;
}

/** A piece of the text as drawn: its kind (none for plain text) and whether a problem underlines it. */
export interface Segment {
  readonly text: string;
  readonly kind?: HighlightKind;
  readonly error?: boolean;
}

/** A span to underline, as the compiler reports it: 1-based line and column, a length. */
export interface ProblemSpot {
  readonly line: number;
  readonly column: number;
  readonly length?: number;
}

const STATEMENTS = new Set(["definition", "caveat", "relation", "permission", "use", "import", "partial"]);
const OPERATORS = new Set(["+", "&", "-", "->", "*"]);
const CEL_WORDS = new Set(["true", "false", "null", "in"]);

/** The kind of an identifier, from the statement it is in and the token before it. */
function identKind(
  t: Token,
  statement: string | undefined,
  prev: Token | undefined,
): HighlightKind | undefined {
  const before = prev?.text;
  if (before === "definition" || before === "caveat") return "def";
  if (before === "relation" || before === "permission") return "member";
  switch (statement) {
    case "use":
      return "keyword";
    case "relation":
      if (t.text === "with" || t.text === "and") return "keyword";
      if (t.text === "expiration" && (before === "with" || before === "and")) return "keyword";
      if (before === "with" || before === "and") return "caveat";
      return before === "#" ? "member" : "type";
    case "permission":
      if (t.text === "nil") return "keyword";
      return before === "." ? "keyword" : "ref";
    case "caveat":
      return before === "(" || before === "," ? "param" : "type";
    default:
      return undefined;
  }
}

/** A CEL body's strings, numbers and literal words; the rest is CEL text. */
function celRanges(body: string, offset: number): HighlightRange[] {
  const out: HighlightRange[] = [];
  const word = /("(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)|(\b\d+(?:\.\d+)?u?\b)|([A-Za-z_]\w*)/g;
  let last = 0;
  for (let m = word.exec(body); m !== null; m = word.exec(body)) {
    const kind: HighlightKind | undefined =
      m[1] !== undefined
        ? "string"
        : m[2] !== undefined
          ? "number"
          : CEL_WORDS.has(m[0])
            ? "keyword"
            : undefined;
    if (kind === undefined) continue;
    if (m.index > last) out.push({ start: offset + last, end: offset + m.index, kind: "cel" });
    out.push({ start: offset + m.index, end: offset + m.index + m[0].length, kind });
    last = m.index + m[0].length;
  }
  if (last < body.length) out.push({ start: offset + last, end: offset + body.length, kind: "cel" });
  return out;
}

/** Every highlighted stretch of the text, in order and without overlaps. */
export function highlightRanges(text: string): HighlightRange[] {
  const { tokens, comments } = tokenizeSchema(text);
  const out: HighlightRange[] = comments.map((c) => ({ start: c.start, end: c.end, kind: "comment" }));
  let statement: string | undefined;
  let prev: Token | undefined;
  for (const t of tokens) {
    if (t.kind === "newline" || t.kind === "eof" || t.text === "{" || t.text === "}") {
      if (t.kind === "punct") out.push({ start: t.start, end: t.end, kind: "punct" });
      statement = undefined;
      prev = undefined;
      continue;
    }
    if (t.kind === "cel") out.push(...celRanges(t.text, t.start));
    else if (t.kind === "punct")
      out.push({ start: t.start, end: t.end, kind: OPERATORS.has(t.text) ? "op" : "punct" });
    else if (statement === undefined && STATEMENTS.has(t.text)) {
      statement = t.text;
      out.push({ start: t.start, end: t.end, kind: "keyword" });
    } else {
      const kind = identKind(t, statement, prev);
      if (kind !== undefined) out.push({ start: t.start, end: t.end, kind });
    }
    statement ??= t.kind === "ident" ? t.text : "?";
    prev = t;
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Offsets `[start, end)` of each problem's underline; a problem at the end of a line marks one character. */
export function problemOffsets(text: string, problems: readonly ProblemSpot[]): [number, number][] {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10 || (ch === 13 && text.charCodeAt(i + 1) !== 10)) lineStarts.push(i + 1);
  }
  return problems.flatMap((p) => {
    const lineStart = lineStarts[p.line - 1];
    if (lineStart === undefined) return [];
    const start = Math.min(lineStart + p.column - 1, text.length);
    return [[start, Math.min(start + Math.max(p.length ?? 1, 1), text.length + 1)] as [number, number]];
  });
}

/**
 * The text cut into segments to draw: each highlighted stretch with its kind, problems
 * underlined. The segments' texts joined give the text back, always.
 */
export function paintSchema(text: string, problems: readonly ProblemSpot[] = []): Segment[] {
  const ranges = highlightRanges(text);
  const errors = problemOffsets(text, problems);
  const cuts = new Set<number>([0, text.length]);
  for (const r of ranges) cuts.add(r.start).add(r.end);
  for (const [s, e] of errors) cuts.add(s).add(Math.min(e, text.length));
  const points = [...cuts].filter((n) => n >= 0 && n <= text.length).sort((a, b) => a - b);
  const out: Segment[] = [];
  let r = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const start = points[i]!;
    const end = points[i + 1]!;
    while (r < ranges.length && ranges[r]!.end <= start) r++;
    const range = ranges[r];
    const kind = range !== undefined && range.start <= start && end <= range.end ? range.kind : undefined;
    const error = errors.some(([s, e]) => s < end && start < e);
    out.push({ text: text.slice(start, end), ...(kind ? { kind } : {}), ...(error ? { error } : {}) });
  }
  // A problem past the last character (a missing `}` at the end): a blank cell to underline.
  if (errors.some(([s]) => s >= text.length)) out.push({ text: " ", error: true });
  return out;
}
