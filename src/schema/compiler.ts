/**
 * AST -> CompiledSchema. Every name is resolved and checked here, and every problem becomes a
 * diagnostic; the IR is only built when there are none, so the engine never sees a dangling name.
 */
import { clip, type DiagnosticCode } from "../core/index.js";
import type { AllowedSubjectNode, CaveatNode, DefinitionNode, MemberNode, SchemaAst } from "./ast.js";
import { compileCaveat } from "./caveats.js";
import { checkPermissions } from "./check-permissions.js";
import type { Diagnostic, SourceFile } from "./diagnostics.js";
import { toPermissionExpr } from "./expr.js";
import { formatCompiled } from "./format.js";
import { fnv1a64 } from "./hash.js";
import type { AllowedSubject, CaveatDef, CompiledSchema, DefinitionDef, MemberDef } from "./ir.js";
import { MAX_DEFINITION_MEMBERS } from "./limits.js";
import { memberNameProblem, suggest, typeNameProblem } from "./names.js";

export interface CompileResult {
  readonly schema?: CompiledSchema;
  readonly diagnostics: readonly Diagnostic[];
}

/** The definitions of a schema by name, with their members by name, as the checks see them. */
export type Scope = ReadonlyMap<
  string,
  { readonly node: DefinitionNode; readonly members: Map<string, MemberNode> }
>;

function joinComments(comments: readonly string[], trailing?: string): string | undefined {
  const all = trailing === undefined ? comments : [...comments, trailing];
  return all.length === 0 ? undefined : all.join("\n");
}

export function compileAst(ast: SchemaAst, source: SourceFile): CompileResult {
  const diagnostics: Diagnostic[] = [];
  const report = (code: DiagnosticCode, span: { start: number; end: number }, message: string): void => {
    source.record(diagnostics, code, span, message);
  };
  const lineOf = (offset: number): number => source.position(offset).line;

  let useExpiration = false;
  const definitions = new Map<string, { node: DefinitionNode; members: Map<string, MemberNode> }>();
  const caveats = new Map<string, CaveatNode>();
  const oversized = new Set<DefinitionNode>();

  for (const statement of ast.statements) {
    if (statement.kind === "use") {
      if (statement.flag.text === "expiration") useExpiration = true;
      else
        report(
          "schema/unknown-flag",
          statement.flag.span,
          `unknown feature \`${clip(statement.flag.text)}\`; the only feature is \`use expiration\``,
        );
    } else if (statement.kind === "definition") {
      const name = statement.name;
      const problem = typeNameProblem(name.text);
      if (problem) report("schema/invalid-name", name.span, problem);
      const existing = definitions.get(name.text);
      if (existing) {
        report(
          "schema/duplicate-definition",
          name.span,
          `definition \`${clip(name.text)}\` is already defined on line ${lineOf(existing.node.name.span.start)}; merge the two or rename one`,
        );
        continue;
      }
      definitions.set(name.text, { node: statement, members: collectMembers(statement) });
    } else {
      const name = statement.name;
      const problem = typeNameProblem(name.text);
      if (problem) report("schema/invalid-name", name.span, problem);
      const existing = caveats.get(name.text);
      if (existing) {
        report(
          "schema/duplicate-caveat",
          name.span,
          `caveat \`${clip(name.text)}\` is already defined on line ${lineOf(existing.name.span.start)}; rename one of them`,
        );
        continue;
      }
      caveats.set(name.text, statement);
    }
  }

  function collectMembers(node: DefinitionNode): Map<string, MemberNode> {
    const members = new Map<string, MemberNode>();
    for (const member of node.members) {
      if (members.size === MAX_DEFINITION_MEMBERS && !oversized.has(node)) {
        // The permission checks recurse along references between members: they skip this one.
        oversized.add(node);
        report(
          "schema/too-large",
          member.name.span,
          `definition \`${node.name.text}\` has more than ${MAX_DEFINITION_MEMBERS} relations and permissions; split it into several definitions`,
        );
      }
      const problem = memberNameProblem(member.name.text);
      if (problem) report("schema/invalid-name", member.name.span, problem);
      const existing = members.get(member.name.text);
      if (!existing) {
        members.set(member.name.text, member);
        continue;
      }
      const where = `line ${lineOf(existing.name.span.start)}`;
      if (existing.kind !== member.kind) {
        report(
          "schema/duplicate-member",
          member.name.span,
          `\`${clip(member.name.text)}\` is already a ${existing.kind} of \`${clip(node.name.text)}\` (${where}); a relation and a permission cannot share a name, rename one`,
        );
      } else {
        report(
          `schema/duplicate-${member.kind}`,
          member.name.span,
          `${member.kind} \`${clip(member.name.text)}\` is defined twice in \`${clip(node.name.text)}\` (first on ${where}); remove or rename one`,
        );
      }
    }
    return members;
  }

  for (const { node } of definitions.values()) {
    for (const member of node.members) {
      if (member.kind === "relation") checkRelation(node, member.name.text, member.allowed);
    }
  }

  function checkRelation(
    def: DefinitionNode,
    relation: string,
    allowed: readonly AllowedSubjectNode[],
  ): void {
    const seen = new Set<string>();
    for (const subject of allowed) {
      const where = `relation \`${clip(relation)}\` of \`${clip(def.name.text)}\``;
      const target = definitions.get(subject.type.text);
      if (!target) {
        const hint = suggest(subject.type.text, definitions.keys());
        if (subject.wildcard) {
          const what = caveats.has(subject.type.text) ? "a caveat" : "not defined";
          report(
            "schema/invalid-wildcard",
            subject.type.span,
            `wildcard \`${clip(subject.type.text)}:*\` in ${where} must name a definition, but \`${clip(subject.type.text)}\` is ${what}${hint}`,
          );
        } else {
          const extra = caveats.has(subject.type.text)
            ? `; \`${clip(subject.type.text)}\` is a caveat, attach it with \`with ${clip(subject.type.text)}\``
            : `; add \`definition ${clip(subject.type.text)} {}\` or fix the name`;
          report(
            "schema/unknown-type",
            subject.type.span,
            `unknown type \`${clip(subject.type.text)}\` in ${where}${hint}${extra}`,
          );
        }
      } else if (subject.relation && !target.members.has(subject.relation.text)) {
        report(
          "schema/unknown-relation",
          subject.relation.span,
          `\`${clip(subject.type.text)}\` has no relation or permission \`${clip(subject.relation.text)}\`, used as subject set in ${where}${suggest(subject.relation.text, target.members.keys())}; add it to \`${clip(subject.type.text)}\` or fix the name`,
        );
      }
      if (subject.caveat && !caveats.has(subject.caveat.text)) {
        report(
          "schema/unknown-caveat",
          subject.caveat.span,
          `unknown caveat \`${clip(subject.caveat.text)}\` in ${where}${suggest(subject.caveat.text, caveats.keys())}; declare it with \`caveat ${clip(subject.caveat.text)}(...) { ... }\``,
        );
      }
      if (subject.expiration && !useExpiration) {
        report(
          "schema/expiration-not-enabled",
          subject.expiration,
          `\`with expiration\` in ${where} needs the expiration feature; add \`use expiration\` at the top of the schema`,
        );
      }
      const key = allowedKey(subject);
      if (seen.has(key)) {
        report(
          "schema/duplicate-subject-type",
          subject.span,
          `\`${clip(key, 256)}\` is listed twice in ${where}; remove the repeat`,
        );
      }
      seen.add(key);
    }
  }

  checkPermissions(definitions, report, oversized);

  const compiledCaveats = new Map<string, CaveatDef>();
  for (const node of caveats.values()) {
    const caveat = compileCaveat(node, report);
    if (caveat) compiledCaveats.set(caveat.name, caveat);
  }

  if (diagnostics.length > 0) return { diagnostics };

  const compiledDefinitions = new Map<string, DefinitionDef>();
  for (const { node } of definitions.values()) {
    const members = new Map<string, MemberDef>();
    for (const member of node.members) members.set(member.name.text, buildMember(node.name.text, member));
    const comment = joinComments(node.comments);
    compiledDefinitions.set(
      node.name.text,
      Object.freeze({ name: node.name.text, members, ...(comment === undefined ? {} : { comment }) }),
    );
  }
  const base = { definitions: compiledDefinitions, caveats: compiledCaveats, useExpiration, hash: "" };
  const hash = fnv1a64(formatCompiled(base, { comments: false, sorted: true }));
  return { schema: Object.freeze({ ...base, hash }), diagnostics };
}

function allowedKey(subject: AllowedSubjectNode): string {
  let key = subject.type.text;
  if (subject.wildcard) key += ":*";
  if (subject.relation) key += `#${subject.relation.text}`;
  if (subject.caveat) key += ` with ${subject.caveat.text}`;
  if (subject.expiration) key += subject.caveat ? " and expiration" : " with expiration";
  return key;
}

function buildAllowed(subject: AllowedSubjectNode): AllowedSubject {
  return Object.freeze({
    type: subject.type.text,
    ...(subject.relation ? { relation: subject.relation.text } : {}),
    wildcard: subject.wildcard !== undefined,
    ...(subject.caveat ? { caveat: subject.caveat.text } : {}),
    expiration: subject.expiration !== undefined,
  });
}

function buildMember(definition: string, member: MemberNode): MemberDef {
  const comment = joinComments(member.comments, member.trailingComment);
  const commentPart = comment === undefined ? {} : { comment };
  if (member.kind === "relation") {
    return Object.freeze({
      kind: "relation",
      name: member.name.text,
      definition,
      allowed: Object.freeze(member.allowed.map(buildAllowed)),
      ...commentPart,
    });
  }
  return Object.freeze({
    kind: "permission",
    name: member.name.text,
    definition,
    expr: toPermissionExpr(member.expr),
    ...commentPart,
  });
}
