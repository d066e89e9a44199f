/**
 * The canonical text of a schema: one layout for any input, so `format(parse(format(x)))` equals
 * `format(x)`. Comments are kept (normalised); the hash uses the same printer without them.
 */
import type { AllowedSubjectNode, CaveatNode, DefinitionNode, MemberNode, SchemaAst } from "./ast.js";
import { typeText } from "./ast.js";
import { formatExpr, toPermissionExpr } from "./expr.js";
import type { AllowedSubject, CompiledSchema, MemberDef } from "./ir.js";

const INDENT = "  ";

/** Re-indents a comment; block comments get their continuation lines aligned under the `/*`. */
function formatComment(comment: string, indent: string): string[] {
  if (comment.startsWith("//")) return [`${indent}${comment.trimEnd()}`];
  const lines = comment.split(/\r?\n|\r/).map((line) => line.trim());
  return lines.map((line, i) => {
    if (i === 0) return `${indent}${line}`;
    if (line.startsWith("*")) return `${indent} ${line}`;
    return line === "" ? "" : `${indent}${INDENT}${line}`;
  });
}

function commentLines(comments: readonly string[] | string | undefined, indent: string): string[] {
  if (comments === undefined) return [];
  const list = typeof comments === "string" ? splitComments(comments) : comments;
  return list.flatMap((c) => formatComment(c, indent));
}

/** Splits the joined comment text kept in the IR back into its separate comments. */
function splitComments(text: string): string[] {
  const out: string[] = [];
  let block: string[] | undefined;
  for (const line of text.split("\n")) {
    if (block) {
      block.push(line);
      if (line.includes("*/")) {
        out.push(block.join("\n"));
        block = undefined;
      }
    } else if (line.trimStart().startsWith("/*") && !line.includes("*/")) {
      block = [line];
    } else if (line.trim() !== "") {
      out.push(line.trim());
    }
  }
  if (block) out.push(block.join("\n"));
  return out;
}

/**
 * Normalises a CEL body: blank lines around it dropped, lines dedented by their common
 * indentation (a first line written on the `{` line does not count). Multi-line string literals
 * are left alone, since re-indenting would change their value.
 */
export function normalizeCel(expression: string): string[] {
  const trimmed = expression.trim();
  if (trimmed.includes("'''") || trimmed.includes('"""')) return trimmed.split(/\r?\n|\r/);
  const all = expression.split(/\r?\n|\r/).map((line) => line.trimEnd());
  const onBraceLine = (all[0] ?? "").trim() !== "";
  let first = 0;
  while (first < all.length && all[first] === "") first++;
  let last = all.length - 1;
  while (last > first && all[last] === "") last--;
  const lines = all.slice(first, last + 1);
  const measured = lines.filter((line, i) => line !== "" && !(i === 0 && onBraceLine));
  const common =
    measured.length === 0 ? 0 : Math.min(...measured.map((l) => l.length - l.trimStart().length));
  return lines.map((line, i) => (i === 0 && onBraceLine ? line.trim() : line.slice(common)));
}

function formatCaveatBlock(header: string, expression: string): string[] {
  const body = normalizeCel(expression);
  const multiline = expression.includes("'''") || expression.includes('"""');
  return [
    `${header} {`,
    ...body.map((line, i) => (multiline && i > 0 ? line : line === "" ? "" : `${INDENT}${line}`)),
    "}",
  ];
}

function allowedNodeText(node: AllowedSubjectNode): string {
  let text = node.type.text;
  if (node.wildcard) text += ":*";
  else if (node.relation) text += `#${node.relation.text}`;
  if (node.caveat && node.expiration) text += ` with ${node.caveat.text} and expiration`;
  else if (node.caveat) text += ` with ${node.caveat.text}`;
  else if (node.expiration) text += " with expiration";
  return text;
}

export function allowedSubjectText(subject: AllowedSubject): string {
  let text = subject.type;
  if (subject.wildcard) text += ":*";
  else if (subject.relation !== undefined) text += `#${subject.relation}`;
  if (subject.caveat !== undefined && subject.expiration) text += ` with ${subject.caveat} and expiration`;
  else if (subject.caveat !== undefined) text += ` with ${subject.caveat}`;
  else if (subject.expiration) text += " with expiration";
  return text;
}

function memberNodeLines(member: MemberNode): MemberLines {
  const body =
    member.kind === "relation"
      ? `relation ${member.name.text}: ${member.allowed.map(allowedNodeText).join(" | ")}`
      : `permission ${member.name.text} = ${formatExpr(toPermissionExpr(member.expr))}`;
  const trailing = member.trailingComment === undefined ? "" : ` ${member.trailingComment.trim()}`;
  return {
    kind: member.kind,
    lines: [...commentLines(member.comments, INDENT), `${INDENT}${body}${trailing}`],
  };
}

interface MemberLines {
  readonly kind: "relation" | "permission";
  readonly lines: readonly string[];
}

function definitionBlock(
  name: string,
  members: readonly MemberLines[],
  inner: readonly string[],
  comments: string[],
): string[] {
  if (members.length === 0 && inner.length === 0) return [...comments, `definition ${name} {}`];
  const lines = [...comments, `definition ${name} {`];
  members.forEach((member, i) => {
    // Blank lines separate relations from permissions, and set off commented members.
    const commented = (member.lines[0] ?? "").trimStart().startsWith("/");
    if (i > 0 && (commented || members[i - 1]?.kind !== member.kind)) lines.push("");
    lines.push(...member.lines);
  });
  if (inner.length > 0) {
    if (members.length > 0) lines.push("");
    lines.push(...inner);
  }
  lines.push("}");
  return lines;
}

function definitionNodeLines(node: DefinitionNode): string[] {
  return definitionBlock(
    node.name.text,
    node.members.map(memberNodeLines),
    commentLines(node.innerComments, INDENT),
    commentLines(node.comments, ""),
  );
}

function caveatNodeLines(node: CaveatNode): string[] {
  const params = node.parameters.map((p) => `${p.name.text} ${typeText(p.type)}`).join(", ");
  return [
    ...commentLines(node.comments, ""),
    ...formatCaveatBlock(`caveat ${node.name.text}(${params})`, node.expression),
  ];
}

/** Canonical text of a parsed schema, comments included. */
export function formatAst(ast: SchemaAst): string {
  const blocks: string[][] = [];
  for (const statement of ast.statements) {
    if (statement.kind === "definition") blocks.push(definitionNodeLines(statement));
    else if (statement.kind === "caveat") blocks.push(caveatNodeLines(statement));
    else blocks.push([...commentLines(statement.comments, ""), `use ${statement.flag.text}`]);
  }
  if (ast.trailingComments.length > 0) blocks.push(commentLines(ast.trailingComments, ""));
  return `${blocks.map((b) => b.join("\n")).join("\n\n")}\n`;
}

function memberDefLines(member: MemberDef, withComments: boolean): MemberLines {
  const body =
    member.kind === "relation"
      ? `relation ${member.name}: ${member.allowed.map(allowedSubjectText).join(" | ")}`
      : `permission ${member.name} = ${formatExpr(member.expr)}`;
  const comments = withComments ? commentLines(member.comment, INDENT) : [];
  return { kind: member.kind, lines: [...comments, `${INDENT}${body}`] };
}

export interface FormatCompiledOptions {
  /** Print doc comments (default true). */
  readonly comments?: boolean;
  /** Sort definitions and caveats by name, as the hash does (default false: source order). */
  readonly sorted?: boolean;
}

/** Canonical text of a compiled schema. */
export function formatCompiled(schema: CompiledSchema, options: FormatCompiledOptions = {}): string {
  const withComments = options.comments ?? true;
  const order = <T>(entries: Iterable<[string, T]>): T[] => {
    const list = [...entries];
    if (options.sorted) list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return list.map(([, value]) => value);
  };
  const blocks: string[][] = [];
  if (schema.useExpiration) blocks.push(["use expiration"]);
  for (const caveat of order(schema.caveats)) {
    const params = [...caveat.parameters]
      .map(([name, type]) => `${name} ${parameterTypeText(type)}`)
      .join(", ");
    const comments = withComments ? commentLines(caveat.comment, "") : [];
    blocks.push([...comments, ...formatCaveatBlock(`caveat ${caveat.name}(${params})`, caveat.expression)]);
  }
  for (const definition of order(schema.definitions)) {
    const members = [...definition.members.values()].map((m) => memberDefLines(m, withComments));
    const comments = withComments ? commentLines(definition.comment, "") : [];
    blocks.push(definitionBlock(definition.name, members, [], comments));
  }
  return `${blocks.map((b) => b.join("\n")).join("\n\n")}\n`;
}

type TypeLike = { readonly kind: string; readonly element?: TypeLike; readonly value?: TypeLike };

/** Local printer so the hash does not depend on another module's formatting choices. */
function parameterTypeText(type: TypeLike): string {
  if (type.kind === "list" && type.element) return `list<${parameterTypeText(type.element)}>`;
  if (type.kind === "map" && type.value) return `map<${parameterTypeText(type.value)}>`;
  return type.kind;
}
