/**
 * Diagnostics as you type, from the real compiler (src/schema, pure TypeScript bundled into the
 * page): the same lines, columns, codes and messages `WriteSchema` would answer.
 */
import { compileSchema, type Diagnostic, parseSchema, SchemaError } from "../../src/schema/index.js";

export interface SchemaProblem {
  readonly line: number;
  readonly column: number;
  readonly code: string;
  readonly message: string;
  /** Characters the compiler underlines, when it says. */
  readonly length?: number;
}

function problem(d: Diagnostic): SchemaProblem {
  const p = { line: d.line, column: d.column, code: d.code, message: d.message };
  return d.length === undefined ? p : { ...p, length: d.length };
}

/** Every problem of the text, syntax first; an empty list when it compiles. */
export function checkSchemaText(text: string): SchemaProblem[] {
  const parsed = parseSchema(text);
  if (parsed.diagnostics.length > 0) return parsed.diagnostics.map(problem);
  try {
    compileSchema(text);
    return [];
  } catch (error) {
    if (error instanceof SchemaError) return error.diagnostics.map(problem);
    return [{ line: 1, column: 1, code: "schema/internal", message: String(error) }];
  }
}

/** The gutter: one number a line, the lines with a problem marked. */
export function gutterLines(text: string, problems: readonly SchemaProblem[]): { n: number; bad: boolean }[] {
  const bad = new Set(problems.map((p) => p.line));
  const count = text.split("\n").length;
  return Array.from({ length: count }, (_, i) => ({ n: i + 1, bad: bad.has(i + 1) }));
}
