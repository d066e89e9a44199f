/**
 * Caveats: parameter types and the CEL body are checked when the schema is written, through the
 * conditions module, and a CEL error is mapped back to its line and column in the schema file.
 */
import type { ParameterType } from "../conditions/index.js";
import { compileCondition, formatParameterType, parseParameterType } from "../conditions/index.js";
import { clip, type DiagnosticCode, isLatchError } from "../core/index.js";
import type { CaveatNode } from "./ast.js";
import { typeText } from "./ast.js";
import type { Span } from "./diagnostics.js";
import type { CaveatDef } from "./ir.js";

type Report = (code: DiagnosticCode, span: Span, message: string) => void;

const TYPE_NAMES =
  "bool, string, int, uint, double, bytes, duration, timestamp, ipaddress, any, list<T>, map<T>";

const CODES: Readonly<Record<string, DiagnosticCode>> = {
  "condition/syntax": "schema/caveat-syntax",
  "condition/type": "schema/caveat-type",
  "condition/too-large": "schema/caveat-too-large",
  "condition/bad-parameter": "schema/caveat-parameter",
};

export function compileCaveat(node: CaveatNode, report: Report): CaveatDef | undefined {
  const parameters = new Map<string, ParameterType>();
  let ok = true;
  const seen = new Set<string>();
  for (const parameter of node.parameters) {
    const name = parameter.name.text;
    if (seen.has(name)) {
      report(
        "schema/duplicate-parameter",
        parameter.name.span,
        `parameter \`${clip(name)}\` is declared twice in caveat \`${clip(node.name.text)}\`; rename or remove one`,
      );
      ok = false;
      continue;
    }
    seen.add(name);
    if (name.includes("/")) {
      report(
        "schema/invalid-name",
        parameter.name.span,
        `parameter name \`${clip(name)}\` cannot contain \`/\``,
      );
      ok = false;
    }
    const text = typeText(parameter.type);
    const type = parseParameterType(text);
    if (!type) {
      report(
        "schema/unknown-parameter-type",
        parameter.type.span,
        `unknown type \`${clip(text)}\` for parameter \`${clip(name)}\` of caveat \`${clip(node.name.text)}\`; use one of ${TYPE_NAMES}`,
      );
      ok = false;
      continue;
    }
    parameters.set(name, type);
  }

  const raw = node.expression;
  const expression = raw.trim();
  const bodyStart = node.expressionSpan.start + (raw.length - raw.trimStart().length);
  if (expression === "") {
    report(
      "schema/caveat-syntax",
      { start: node.expressionSpan.start - 1, end: node.expressionSpan.start },
      `caveat \`${clip(node.name.text)}\` has an empty body; write a CEL expression that yields a bool`,
    );
    return undefined;
  }
  if (!ok) return undefined;

  try {
    const condition = compileCondition(expression, parameters);
    const comment = node.comments.length === 0 ? undefined : node.comments.join("\n");
    return Object.freeze({
      name: node.name.text,
      parameters,
      expression,
      condition,
      ...(comment === undefined ? {} : { comment }),
    });
  } catch (error) {
    const code = isLatchError(error)
      ? (CODES[error.code] ?? "schema/caveat-invalid")
      : "schema/caveat-invalid";
    const offset = isLatchError(error) && typeof error.details.offset === "number" ? error.details.offset : 0;
    const at = bodyStart + Math.max(0, Math.min(offset, expression.length - 1));
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim();
    const declared = [...parameters].map(([n, t]) => `${clip(n)} ${formatParameterType(t)}`).join(", ");
    const fix =
      code === "schema/caveat-syntax"
        ? "fix the CEL syntax"
        : code === "schema/caveat-too-large"
          ? "shorten the expression or split it into several caveats"
          : `make it type-check against the declared parameters (${declared || "none"}) and yield a bool`;
    report(code, { start: at, end: at + 1 }, `caveat \`${clip(node.name.text)}\`: ${reason}; ${fix}`);
    return undefined;
  }
}
