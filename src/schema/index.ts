/**
 * The schema module: SpiceDB schema language text -> checked, immutable `CompiledSchema`.
 * lexer -> parser (AST with spans) -> compiler (resolved IR); plus a canonical formatter.
 */
import type { SchemaAst } from "./ast.js";
import { compileAst } from "./compiler.js";
import type { Diagnostic } from "./diagnostics.js";
import { createSourceFile, SchemaError, sortDiagnostics } from "./diagnostics.js";
import { formatAst } from "./format.js";
import type { CompiledSchema } from "./ir.js";
import { type LexResult, tokenize } from "./lexer.js";
import { parse } from "./parser.js";

export type * from "./ast.js";
export {
  computablePermissions,
  type DependencyProblem,
  type DependencyResult,
  dependentRelations,
  type MemberReference,
} from "./dependencies.js";
export type { Diagnostic, Span } from "./diagnostics.js";
export { MAX_DIAGNOSTICS, renderDiagnostics, SchemaError } from "./diagnostics.js";
export { diffSchemas, type SchemaChange } from "./diff.js";
export { formatCompiled } from "./format.js";
export type * from "./ir.js";
export type { Comment, LexResult, Token, TokenKind } from "./lexer.js";
export type { SchemaStats } from "./lookup.js";
export { getDefinition, getMember, schemaStats } from "./lookup.js";
export {
  type ReflectedCaveat,
  type ReflectedCaveatParameter,
  type ReflectedDefinition,
  type ReflectedPermission,
  type ReflectedRelation,
  type ReflectedSubjectType,
  type ReflectionFilter,
  reflectionFilterProblem,
  reflectSchema,
  type SchemaReflection,
} from "./reflect.js";

export interface SchemaOptions {
  /** File name shown in diagnostics (default `schema.zed`). */
  readonly file?: string;
}

/** Parses without semantic checks. Syntax errors come back as diagnostics, never thrown. */
export function parseSchema(
  text: string,
  options: SchemaOptions = {},
): { ast: SchemaAst; diagnostics: readonly Diagnostic[] } {
  return parse(createSourceFile(text, options.file));
}

/** Parses and checks a schema. Throws `SchemaError` carrying every diagnostic found. */
export function compileSchema(text: string, options: SchemaOptions = {}): CompiledSchema {
  const source = createSourceFile(text, options.file);
  const parsed = parse(source);
  if (parsed.diagnostics.length > 0) throw new SchemaError(parsed.diagnostics, source.diagnosticCount);
  const result = compileAst(parsed.ast, source);
  if (!result.schema) throw new SchemaError(sortDiagnostics(result.diagnostics), source.diagnosticCount);
  return result.schema;
}

/** Canonical text of a schema; comments are kept. Throws `SchemaError` on invalid input. */
export function formatSchema(text: string, options: SchemaOptions = {}): string {
  const source = createSourceFile(text, options.file);
  const parsed = parse(source);
  if (parsed.diagnostics.length > 0) throw new SchemaError(parsed.diagnostics, source.diagnosticCount);
  const result = compileAst(parsed.ast, source);
  if (!result.schema) throw new SchemaError(sortDiagnostics(result.diagnostics), source.diagnosticCount);
  return formatAst(parsed.ast);
}

/**
 * The lexer's tokens and comments of a text, for an editor's highlighting: the same words the
 * parser sees, so highlighting never disagrees with the compiler. Never throws.
 */
export function tokenizeSchema(text: string): LexResult {
  return tokenize(createSourceFile(text));
}
