/**
 * Recursive-descent parser for the SpiceDB schema language. On a syntax error it records a
 * diagnostic and skips to the next statement (member line, or top-level `definition` / `caveat`
 * / `use`), so one run reports every independent mistake in a file.
 *
 * Operator precedence follows SpiceDB: `+` binds tightest, then `&`, then `-`; all three are
 * left-associative, so `a - b + c` is `a - (b + c)` and `a + b & c` is `(a + b) & c`.
 */
import { clip } from "../core/index.js";
import type {
  AllowedSubjectNode,
  CaveatNode,
  DefinitionNode,
  ExprNode,
  MemberNode,
  NameNode,
  ParameterNode,
  PermissionNode,
  RelationNode,
  SchemaAst,
  StatementNode,
  TypeNode,
  UseNode,
} from "./ast.js";
import { ABORT, TokenCursor } from "./cursor.js";
import type { Diagnostic, SourceFile, Span } from "./diagnostics.js";
import { type Token, tokenize } from "./lexer.js";
import { MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_TERMS, MAX_TYPE_DEPTH } from "./limits.js";

const STATEMENT_KEYWORDS = new Set(["definition", "caveat", "use"]);
const MEMBER_KEYWORDS = new Set(["relation", "permission", "definition", "caveat", "use"]);

export interface ParseResult {
  readonly ast: SchemaAst;
  readonly diagnostics: readonly Diagnostic[];
}

export function parse(source: SourceFile): ParseResult {
  const lexed = tokenize(source);
  const parser = new Parser(source, lexed.tokens, lexed.comments);
  const ast = parser.parseSchema();
  const diagnostics = [...lexed.diagnostics, ...parser.diagnostics].sort((a, b) => {
    return a.line - b.line || a.column - b.column;
  });
  return { ast, diagnostics };
}

class Parser extends TokenCursor {
  private parenDepth = 0;
  // Per permission expression, for the limits in limits.ts: the compiled depth of each operator
  // node built (leaves are 0), the terms seen, and whether a limit was hit. Past a limit the rest
  // of the expression is still parsed (so the next member parses too) but no longer built, which
  // keeps the tree small for everything that walks it later.
  private depths = new WeakMap<ExprNode, number>();
  private terms = 0;
  private overLimit = false;

  // ---- statements ----------------------------------------------------------------------------

  parseSchema(): SchemaAst {
    const statements: StatementNode[] = [];
    for (;;) {
      this.skipSeparators();
      const token = this.peek();
      if (token.kind === "eof") break;
      try {
        if (this.isKeyword(token, "definition")) statements.push(this.parseDefinition());
        else if (this.isKeyword(token, "caveat")) statements.push(this.parseCaveat());
        else if (this.isKeyword(token, "use")) statements.push(this.parseUse());
        else this.fail(token, "`definition`, `caveat` or `use`");
      } catch (error) {
        if (error !== ABORT) throw error;
        this.recoverTopLevel();
      }
    }
    const trailingComments = this.takeComments(Number.POSITIVE_INFINITY);
    return { kind: "schema", statements, trailingComments };
  }

  /** Skips to the next `definition`, `caveat` or `use` that starts a statement outside braces. */
  private recoverTopLevel(): void {
    let depth = 0;
    let first = true;
    for (;;) {
      const token = this.peek();
      if (token.kind === "eof") return;
      const previous = this.tokens[this.pos - 1];
      const startsStatement =
        !previous ||
        previous.kind === "newline" ||
        this.isPunct(previous, "}") ||
        this.isPunct(previous, ";");
      if (
        !first &&
        depth === 0 &&
        token.kind === "ident" &&
        STATEMENT_KEYWORDS.has(token.text) &&
        startsStatement
      ) {
        return;
      }
      first = false;
      if (this.isPunct(token, "{")) depth++;
      else if (this.isPunct(token, "}")) depth = Math.max(0, depth - 1);
      this.next();
    }
  }

  private parseDefinition(): DefinitionNode {
    const keyword = this.next();
    const comments = this.takeComments(keyword.start);
    const name = this.expectName("a definition name such as `user` or `acme/document`");
    this.expectPunct("{", "`{` to open the definition body");
    const members: MemberNode[] = [];
    let innerComments: string[] = [];
    let end = name.span.end;
    for (;;) {
      this.skipSeparators();
      const token = this.peek();
      if (this.isPunct(token, "}")) {
        innerComments = this.takeComments(token.start);
        end = this.next().end;
        break;
      }
      const startsStatement = token.kind === "ident" && STATEMENT_KEYWORDS.has(token.text);
      if (token.kind === "eof" || startsStatement) {
        this.error(
          "schema/syntax",
          name.span,
          `definition \`${clip(name.text)}\` is missing its closing \`}\`; add \`}\` after its last member`,
        );
        break;
      }
      try {
        if (this.isKeyword(token, "relation") || this.isKeyword(token, "permission")) {
          members.push(this.parseMember());
        } else {
          this.fail(token, "`relation`, `permission` or `}`");
        }
      } catch (error) {
        if (error !== ABORT) throw error;
        this.recoverMember();
      }
    }
    return {
      kind: "definition",
      name,
      members,
      comments,
      innerComments,
      span: { start: keyword.start, end },
    };
  }

  /** Skips the rest of a broken member: to the end of its line, a `;`, or the definition's `}`. */
  private recoverMember(): void {
    this.parenDepth = 0;
    let depth = 0;
    for (;;) {
      const token = this.peek();
      if (token.kind === "eof" || this.isPunct(token, "}")) return;
      if (depth === 0 && (token.kind === "newline" || this.isPunct(token, ";"))) return;
      if (this.isPunct(token, "(")) depth++;
      else if (this.isPunct(token, ")")) depth = Math.max(0, depth - 1);
      this.next();
    }
  }

  private parseMember(): MemberNode {
    const keyword = this.peek();
    const member = this.isKeyword(keyword, "relation") ? this.parseRelation() : this.parsePermission();
    const after = this.peek();
    if (
      !(
        after.kind === "newline" ||
        after.kind === "eof" ||
        this.isPunct(after, ";") ||
        this.isPunct(after, "}")
      )
    ) {
      this.fail(after, `a new line or \`;\` after ${member.kind} \`${clip(member.name.text)}\``);
    }
    const trailingComment = this.takeTrailingComment();
    return trailingComment === undefined ? member : { ...member, trailingComment };
  }

  private parseRelation(): RelationNode {
    const keyword = this.next();
    const comments = this.takeComments(keyword.start);
    const name = this.expectName("a relation name");
    this.expectPunct(":", "`:` and the allowed subject types, as in `relation viewer: user`");
    const allowed: AllowedSubjectNode[] = [this.parseAllowedSubject()];
    while (this.isPunct(this.peekPastNewlines(), "|")) {
      this.skipNewlines();
      this.next();
      this.skipNewlines();
      allowed.push(this.parseAllowedSubject());
    }
    const last = allowed[allowed.length - 1]!;
    return { kind: "relation", name, allowed, comments, span: { start: keyword.start, end: last.span.end } };
  }

  private parseAllowedSubject(): AllowedSubjectNode {
    const type = this.expectName("a subject type such as `user`, `group#member` or `user:*`");
    let end = type.span.end;
    let relation: NameNode | undefined;
    let wildcard: Span | undefined;
    if (this.isPunct(this.peek(), ":")) {
      this.next();
      const star = this.expectPunct("*", "`*` after `:` (a wildcard is written `user:*`)");
      wildcard = { start: star.start, end: star.end };
      end = star.end;
    } else if (this.isPunct(this.peek(), "#")) {
      this.next();
      relation = this.expectName("a relation name after `#`");
      end = relation.span.end;
    }
    let caveat: NameNode | undefined;
    let expiration: Span | undefined;
    if (this.isKeyword(this.peek(), "with")) {
      this.next();
      const first = this.expectName("a caveat name or `expiration` after `with`");
      end = first.span.end;
      if (first.text === "expiration" && this.isKeyword(this.peek(), "and")) {
        this.error(
          "schema/syntax",
          first.span,
          "the caveat comes first: write `with caveat_name and expiration`",
        );
        throw ABORT;
      }
      if (first.text === "expiration") {
        expiration = first.span;
      } else {
        caveat = first;
        if (this.isKeyword(this.peek(), "and")) {
          this.next();
          const trait = this.expectName("`expiration` after `and`");
          if (trait.text !== "expiration") {
            this.error(
              "schema/syntax",
              trait.span,
              `only \`expiration\` may follow \`and\`, found \`${clip(trait.text)}\`; a relation allows one caveat per subject type`,
            );
            throw ABORT;
          }
          expiration = trait.span;
          end = trait.span.end;
        }
      }
    }
    const span = { start: type.span.start, end };
    return {
      type,
      span,
      ...(relation ? { relation } : {}),
      ...(wildcard ? { wildcard } : {}),
      ...(caveat ? { caveat } : {}),
      ...(expiration ? { expiration } : {}),
    };
  }

  private parsePermission(): PermissionNode {
    const keyword = this.next();
    const comments = this.takeComments(keyword.start);
    const name = this.expectName("a permission name");
    this.expectPunct("=", "`=` and an expression, as in `permission view = viewer + editor`");
    this.parenDepth = 0;
    this.terms = 0;
    this.overLimit = false;
    const expr = this.parseBinary(0);
    return { kind: "permission", name, expr, comments, span: { start: keyword.start, end: expr.span.end } };
  }

  // ---- permission expressions ----------------------------------------------------------------

  private static readonly LEVELS = [
    { op: "-", kind: "exclusion" },
    { op: "&", kind: "intersection" },
    { op: "+", kind: "union" },
  ] as const;

  /** Consumes `op` if it is next, also across newlines inside parentheses or on a continuation line. */
  private matchOperator(op: string): Token | undefined {
    const ahead = this.peekPastNewlines();
    if (!this.isPunct(ahead, op)) return undefined;
    this.skipNewlines();
    const operator = this.next();
    const resume = this.pos;
    this.skipNewlines();
    const operand = this.peek();
    const endsStatement =
      operand.kind === "eof" ||
      this.isPunct(operand, "}") ||
      (operand.kind === "ident" && MEMBER_KEYWORDS.has(operand.text));
    if (endsStatement && this.parenDepth === 0) {
      this.error(
        "schema/syntax",
        operator,
        `\`${op}\` needs an expression on its right; add one or remove the operator`,
      );
      // Resume at the end of the operator's line so the next statement still parses.
      this.pos = resume;
      throw ABORT;
    }
    return operator;
  }

  /**
   * The operator loop is iterative, but a left-associative chain still builds a deep tree (`a - b
   * - c ...`), so the depth is measured on the tree as the compiler will flatten it.
   */
  private parseBinary(level: number): ExprNode {
    const spec = Parser.LEVELS[level];
    if (!spec) return this.parseAtom();
    let left = this.parseBinary(level + 1);
    for (let operator = this.matchOperator(spec.op); operator; operator = this.matchOperator(spec.op)) {
      const right = this.parseBinary(level + 1);
      if (this.overLimit) continue;
      const depth = this.compiledDepth(spec.kind, left, right);
      if (depth > MAX_EXPRESSION_DEPTH) {
        this.tooDeep(operator, `\`${spec.op}\` nests this expression ${depth} levels deep`);
        continue;
      }
      left = { kind: spec.kind, left, right, span: { start: left.span.start, end: right.span.end } };
      this.depths.set(left, depth);
    }
    return left;
  }

  /** Levels of `left op right` once `+` and `&` runs are flattened (see expr.ts). */
  private compiledDepth(kind: ExprNode["kind"], left: ExprNode, right: ExprNode): number {
    const inner = (node: ExprNode): number => {
      const depth = this.depths.get(node) ?? 0;
      return node.kind === kind && kind !== "exclusion" ? depth - 1 : depth;
    };
    return 1 + Math.max(inner(left), inner(right));
  }

  private tooDeep(span: Span, what: string): void {
    this.overLimit = true;
    this.error(
      "schema/too-deep",
      span,
      `${what}; at most ${MAX_EXPRESSION_DEPTH} levels are allowed: split it into permissions that refer to one another`,
    );
  }

  /** Counts a term of the current expression against MAX_EXPRESSION_TERMS. */
  private countTerm(span: Span): void {
    this.terms++;
    if (this.terms <= MAX_EXPRESSION_TERMS || this.overLimit) return;
    this.overLimit = true;
    this.error(
      "schema/too-large",
      span,
      `this expression has more than ${MAX_EXPRESSION_TERMS} terms; split it into permissions that refer to one another, or group the subjects with a relation`,
    );
  }

  /** Skips a parenthesised group without recursing into it (it is too deep to parse). */
  private skipGroup(): void {
    let depth = 0;
    for (;;) {
      const token = this.peek();
      if (token.kind === "eof" || this.isPunct(token, "}")) return;
      this.next();
      if (this.isPunct(token, "(")) depth++;
      else if (this.isPunct(token, ")") && --depth === 0) return;
    }
  }

  private parseAtom(): ExprNode {
    if (this.parenDepth > 0) this.skipNewlines();
    const token = this.peek();
    if (this.isPunct(token, "(")) {
      if (this.parenDepth >= MAX_EXPRESSION_DEPTH) {
        if (!this.overLimit)
          this.tooDeep(token, `parentheses nest more than ${MAX_EXPRESSION_DEPTH} deep here`);
        this.skipGroup();
        return { kind: "nil", span: { start: token.start, end: token.end } };
      }
      this.next();
      this.parenDepth++;
      this.skipNewlines();
      const inner = this.parseBinary(0);
      this.skipNewlines();
      this.expectPunct(")", "`)` to close the parenthesis");
      this.parenDepth--;
      return inner;
    }
    if (token.kind !== "ident") this.fail(token, "a relation, a permission, `nil` or `(`");
    this.next();
    const name: NameNode = { text: token.text, span: { start: token.start, end: token.end } };
    this.countTerm(name.span);
    if (token.text === "nil") return { kind: "nil", span: name.span };
    let node: ExprNode;
    if (this.isPunct(this.peek(), "->")) {
      this.next();
      const computed = this.expectName("a relation or permission name after `->`");
      node = {
        kind: "arrow",
        tupleset: name,
        computed,
        mode: "any",
        span: { start: token.start, end: computed.span.end },
      };
    } else if (this.isPunct(this.peek(), ".")) {
      this.next();
      const fn = this.expectName("`any` or `all` after `.`");
      this.expectPunct("(", `\`(\` after \`.${clip(fn.text)}\``);
      if (this.isPunct(this.peek(), ")")) {
        this.error(
          "schema/invalid-arrow-function",
          this.peek(),
          `\`.${clip(fn.text)}()\` needs the relation or permission to walk to, as in \`${clip(name.text)}.${clip(fn.text)}(view)\``,
        );
        throw ABORT;
      }
      const computed = this.expectName(`a relation or permission name inside \`.${clip(fn.text)}()\``);
      const close = this.expectPunct(")", `\`)\` to close \`.${clip(fn.text)}(\``);
      node = {
        kind: "arrow",
        tupleset: name,
        computed,
        mode: fn.text === "all" ? "all" : "any",
        function: fn,
        span: { start: token.start, end: close.end },
      };
    } else {
      return { kind: "identifier", name, span: name.span };
    }
    const after = this.peek();
    if (this.isPunct(after, "->") || this.isPunct(after, ".")) {
      this.error(
        "schema/nested-arrow",
        after,
        "arrows cannot be chained; define a permission on the intermediate type and walk to it with one arrow",
      );
      throw ABORT;
    }
    return node;
  }

  // ---- caveats and flags ---------------------------------------------------------------------

  private parseCaveat(): CaveatNode {
    const keyword = this.next();
    const comments = this.takeComments(keyword.start);
    const name = this.expectName("a caveat name");
    this.expectPunct("(", "`(` and the caveat parameters, as in `caveat c(limit int) { ... }`");
    const parameters: ParameterNode[] = [];
    for (;;) {
      this.skipNewlines();
      if (this.isPunct(this.peek(), ")")) break;
      const pname = this.expectName("a parameter name");
      const type = this.parseType();
      parameters.push({ name: pname, type, span: { start: pname.span.start, end: type.span.end } });
      this.skipNewlines();
      if (this.isPunct(this.peek(), ",")) {
        this.next();
        continue;
      }
      if (!this.isPunct(this.peek(), ")")) this.fail(this.peek(), "`,` or `)` after a caveat parameter");
    }
    this.next();
    this.expectPunct("{", "`{` and the CEL expression of the caveat");
    const body = this.peek();
    if (body.kind !== "cel") this.fail(body, "a CEL expression");
    this.next();
    let end = body.end;
    if (this.isPunct(this.peek(), "}")) end = this.next().end;
    return {
      kind: "caveat",
      name,
      parameters,
      expression: body.text,
      expressionSpan: { start: body.start, end: body.end },
      comments,
      span: { start: keyword.start, end },
    };
  }

  private parseType(depth = 0): TypeNode {
    const name = this.expectName("a parameter type such as `int`, `string` or `list<string>`");
    const args: TypeNode[] = [];
    let end = name.span.end;
    if (this.isPunct(this.peek(), "<")) {
      if (depth >= MAX_TYPE_DEPTH) {
        this.error(
          "schema/too-deep",
          this.peek(),
          `type arguments nest more than ${MAX_TYPE_DEPTH} deep; flatten the parameter type`,
        );
        throw ABORT;
      }
      this.next();
      for (;;) {
        args.push(this.parseType(depth + 1));
        if (this.isPunct(this.peek(), ",")) {
          this.next();
          continue;
        }
        end = this.expectPunct(">", "`>` to close the type arguments").end;
        break;
      }
    }
    return { name, args, span: { start: name.span.start, end } };
  }

  private parseUse(): UseNode {
    const keyword = this.next();
    const comments = this.takeComments(keyword.start);
    const flag = this.expectName("a feature name after `use`, as in `use expiration`");
    const after = this.peek();
    if (!(after.kind === "newline" || after.kind === "eof" || this.isPunct(after, ";"))) {
      this.fail(after, "a new line or `;` after the `use` statement");
    }
    return { kind: "use", flag, comments, span: { start: keyword.start, end: flag.span.end } };
  }
}
