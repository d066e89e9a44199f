/**
 * Token cursor shared by the parser: lookahead, expectations that record a diagnostic and abort
 * the current statement, and hand-out of the comments that precede a declaration.
 */
import { clip, type DiagnosticCode } from "../core/index.js";

import type { NameNode } from "./ast.js";
import type { Diagnostic, SourceFile, Span } from "./diagnostics.js";
import type { Comment, Token } from "./lexer.js";

/** Thrown to abandon the current statement; the parser catches it and resynchronises. */
export const ABORT = Symbol("parse-abort");

export function describe(token: Token): string {
  switch (token.kind) {
    case "eof":
      return "end of file";
    case "newline":
      return "end of line";
    case "cel":
      return "caveat body";
    default:
      return `\`${clip(token.text)}\``;
  }
}

export class TokenCursor {
  readonly diagnostics: Diagnostic[] = [];
  protected pos = 0;
  protected commentIndex = 0;

  constructor(
    protected readonly source: SourceFile,
    protected readonly tokens: readonly Token[],
    protected readonly comments: readonly Comment[],
  ) {}

  protected peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }

  protected next(): Token {
    const token = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    return token;
  }

  protected isPunct(token: Token, text: string): boolean {
    return token.kind === "punct" && token.text === text;
  }

  protected isKeyword(token: Token, text: string): boolean {
    return token.kind === "ident" && token.text === text;
  }

  protected skipNewlines(): void {
    while (this.peek().kind === "newline") this.next();
  }

  protected skipSeparators(): void {
    while (this.peek().kind === "newline" || this.isPunct(this.peek(), ";")) this.next();
  }

  /** The first token after any newlines, without consuming anything. */
  protected peekPastNewlines(): Token {
    let i = 0;
    while (this.peek(i).kind === "newline") i++;
    return this.peek(i);
  }

  protected error(code: DiagnosticCode, span: Span, message: string): void {
    this.source.record(this.diagnostics, code, span, message);
  }

  protected fail(token: Token, expected: string): never {
    this.error("schema/syntax", token, `expected ${expected}, found ${describe(token)}`);
    throw ABORT;
  }

  protected expectPunct(text: string, expected = `\`${text}\``): Token {
    const token = this.peek();
    if (!this.isPunct(token, text)) this.fail(token, expected);
    return this.next();
  }

  protected expectName(what: string): NameNode {
    const token = this.peek();
    if (token.kind !== "ident") this.fail(token, what);
    this.next();
    return { text: token.text, span: { start: token.start, end: token.end } };
  }

  // ---- comments ------------------------------------------------------------------------------

  protected takeComments(before: number): string[] {
    const taken: string[] = [];
    while (this.commentIndex < this.comments.length) {
      const comment = this.comments[this.commentIndex]!;
      if (comment.start >= before) break;
      taken.push(comment.text);
      this.commentIndex++;
    }
    return taken;
  }

  /** A comment written after a member on its own line (`relation x: user // why`). */
  protected takeTrailingComment(): string | undefined {
    const boundary = this.peek().start;
    const comment = this.comments[this.commentIndex];
    if (!comment || comment.ownLine || comment.start >= boundary) return undefined;
    const texts = this.takeComments(boundary);
    return texts.join(" ");
  }
}
