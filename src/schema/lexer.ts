/**
 * The schema lexer. Whitespace is skipped but newlines are tokens, because a newline ends a
 * statement. Comments are kept on the side so the parser can attach them to declarations.
 * A `{` that directly follows `)` opens a caveat body: the body is CEL, not schema language, so
 * it is captured raw as one `cel` token up to the matching `}`.
 */
import { unstorableIndex } from "../core/index.js";
import type { Diagnostic, SourceFile, Span } from "./diagnostics.js";

export type TokenKind = "ident" | "punct" | "newline" | "cel" | "eof";

export interface Token {
  readonly kind: TokenKind;
  /** Identifier text (slashes included: `acme/document`), punctuation, or raw CEL text. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
  readonly line: number;
  readonly column: number;
}

export interface Comment extends Span {
  /** Raw text including the markers: `// ...`, `/* ... *\/`, `/** ... *\/`. */
  readonly text: string;
  /** True when nothing but whitespace precedes the comment on its line. */
  readonly ownLine: boolean;
}

export interface LexResult {
  readonly tokens: readonly Token[];
  readonly comments: readonly Comment[];
  readonly diagnostics: readonly Diagnostic[];
}

const PUNCT = new Set(["{", "}", "(", ")", ":", "|", "#", "*", "+", "&", "-", ".", ",", "=", ";", "<", ">"]);

function isIdentStart(ch: string): boolean {
  return (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || ch === "_";
}

function isIdentPart(ch: string): boolean {
  return isIdentStart(ch) || (ch >= "0" && ch <= "9");
}

export function tokenize(source: SourceFile): LexResult {
  const text = source.text;
  const tokens: Token[] = [];
  const comments: Comment[] = [];
  const diagnostics: Diagnostic[] = [];
  let pos = 0;
  let lineHasContent = false;

  const push = (kind: TokenKind, value: string, start: number, end: number): void => {
    const { line, column } = source.position(start);
    tokens.push({ kind, text: value, start, end, line, column });
  };

  const lastSignificant = (): Token | undefined => {
    for (let i = tokens.length - 1; i >= 0; i--) {
      const t = tokens[i];
      if (t && t.kind !== "newline") return t;
    }
    return undefined;
  };

  // Anywhere, a comment and a caveat's CEL included: a datastore could not store the schema as given.
  const unstorable = unstorableIndex(text);
  if (unstorable >= 0) {
    source.record(
      diagnostics,
      "schema/invalid-character",
      { start: unstorable, end: unstorable + 1 },
      "the schema holds U+0000 or a lone surrogate, which a datastore cannot store as given; remove it",
    );
  }

  while (pos < text.length) {
    const ch = text[pos] ?? "";
    if (ch === "\n" || ch === "\r") {
      const end = ch === "\r" && text[pos + 1] === "\n" ? pos + 2 : pos + 1;
      push("newline", "\n", pos, end);
      pos = end;
      lineHasContent = false;
      continue;
    }
    if (ch === " " || ch === "\t" || ch === "\f" || ch === "\v" || ch === "\uFEFF") {
      pos++;
      continue;
    }
    if (ch === "/" && text[pos + 1] === "/") {
      let end = pos;
      while (end < text.length && text[end] !== "\n" && text[end] !== "\r") end++;
      comments.push({ text: text.slice(pos, end).trimEnd(), start: pos, end, ownLine: !lineHasContent });
      pos = end;
      continue;
    }
    if (ch === "/" && text[pos + 1] === "*") {
      const close = text.indexOf("*/", pos + 2);
      const end = close < 0 ? text.length : close + 2;
      if (close < 0) {
        source.record(
          diagnostics,
          "schema/unterminated-comment",
          { start: pos, end: pos + 2 },
          "block comment is never closed; add `*/` where the comment ends",
        );
      }
      comments.push({ text: text.slice(pos, end), start: pos, end, ownLine: !lineHasContent });
      // A block comment spanning lines still ends the statement on its first line.
      const inner = text.slice(pos, end);
      if (/[\r\n]/.test(inner)) {
        push("newline", "\n", pos, end);
        lineHasContent = false;
      }
      pos = end;
      continue;
    }
    lineHasContent = true;
    if (isIdentStart(ch)) {
      let end = pos + 1;
      for (;;) {
        while (end < text.length && isIdentPart(text[end] ?? "")) end++;
        // A slash joins namespace segments: `acme/team/document`.
        if (text[end] === "/" && isIdentStart(text[end + 1] ?? "")) {
          end += 1;
          continue;
        }
        break;
      }
      push("ident", text.slice(pos, end), pos, end);
      pos = end;
      continue;
    }
    if (ch === "-" && text[pos + 1] === ">") {
      push("punct", "->", pos, pos + 2);
      pos += 2;
      continue;
    }
    if (ch === "{" && lastSignificant()?.text === ")") {
      push("punct", "{", pos, pos + 1);
      const bodyStart = pos + 1;
      const bodyEnd = scanCelBody(text, bodyStart);
      push("cel", text.slice(bodyStart, bodyEnd), bodyStart, bodyEnd);
      if (bodyEnd >= text.length) {
        source.record(
          diagnostics,
          "schema/unterminated-caveat",
          { start: pos, end: pos + 1 },
          "caveat body is never closed; add `}` after the CEL expression",
        );
        pos = bodyEnd;
      } else {
        push("punct", "}", bodyEnd, bodyEnd + 1);
        pos = bodyEnd + 1;
      }
      continue;
    }
    if (PUNCT.has(ch)) {
      push("punct", ch, pos, pos + 1);
      pos++;
      continue;
    }
    const cp = text.codePointAt(pos) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    if (pos !== unstorable)
      source.record(
        diagnostics,
        "schema/invalid-character",
        { start: pos, end: pos + width },
        `unexpected character ${JSON.stringify(String.fromCodePoint(cp))}; names use only ASCII letters, digits and \`_\``,
      );
    pos += width;
  }
  push("eof", "", text.length, text.length);
  return { tokens, comments, diagnostics };
}

/**
 * Finds the `}` closing a CEL body that starts at `start`, skipping string literals, comments
 * and nested braces (CEL map literals). Returns `text.length` when there is none.
 */
function scanCelBody(text: string, start: number): number {
  let depth = 0;
  let pos = start;
  while (pos < text.length) {
    const ch = text[pos];
    if (ch === "/" && text[pos + 1] === "/") {
      while (pos < text.length && text[pos] !== "\n") pos++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      pos = skipString(text, pos);
      continue;
    }
    if (ch === "{") depth++;
    else if (ch === "}") {
      if (depth === 0) return pos;
      depth--;
    }
    pos++;
  }
  return text.length;
}

function skipString(text: string, pos: number): number {
  const quote = text[pos] ?? "";
  const triple = text.startsWith(quote.repeat(3), pos);
  const raw = /[rR]/.test(text[pos - 1] ?? "") && !isIdentPart(text[pos - 2] ?? "");
  if (triple) {
    const close = text.indexOf(quote.repeat(3), pos + 3);
    return close < 0 ? text.length : close + 3;
  }
  let i = pos + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && !raw) {
      i += 2;
      continue;
    }
    // A single-quoted CEL string cannot span lines; stop so a stray quote cannot eat the file.
    if (c === quote || c === "\n") return i + 1;
    i++;
  }
  return text.length;
}
