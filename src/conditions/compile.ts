import type { ParseResult } from "@marcbachmann/cel-js";
import { clip } from "../core/index.js";
import { analyse } from "./ast.js";
import { type Converter, createConverter, failConversion } from "./convert.js";
import { COST_EXCEEDED_MESSAGE, instrument, metered } from "./cost.js";
import { baseEnvironment } from "./environment.js";
import { conditionError } from "./errors.js";
import { celTypeName } from "./parameter-type.js";
import { buildSkeleton, evaluateSkeleton } from "./partial.js";
import type {
  CompiledCondition,
  ConditionLimits,
  ConditionResult,
  EvaluateOptions,
  ParameterTypes,
} from "./types.js";

export const DEFAULT_CONDITION_LIMITS: Required<ConditionLimits> = Object.freeze({
  maxExpressionLength: 4096,
  maxAstNodes: 2048,
  maxNestingDepth: 64,
  maxComprehensionDepth: 2,
  maxEvaluationCost: 200_000,
});

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** CEL's reserved words and literals: a parameter cannot be named after one. */
const RESERVED = new Set([
  "true",
  "false",
  "null",
  "in",
  "as",
  "break",
  "const",
  "continue",
  "else",
  "for",
  "function",
  "if",
  "import",
  "let",
  "loop",
  "package",
  "namespace",
  "return",
  "var",
  "void",
  "while",
]);

const TRUE: ConditionResult = Object.freeze({ kind: "true" });
const FALSE: ConditionResult = Object.freeze({ kind: "false" });

interface Parameter {
  readonly name: string;
  readonly convert: Converter;
  /** Whether the expression reads it: only those can make the result `missing`. */
  readonly referenced: boolean;
}

interface CelErrorLike {
  readonly code?: string;
  readonly summary?: string;
  readonly message?: string;
  readonly range?: { readonly start: number };
}

function describeError(error: unknown): string {
  const e = error as CelErrorLike | undefined;
  // CEL messages can quote context values; a caller's megabyte string must not come back whole.
  return clip(e?.summary ?? e?.message?.split("\n")[0] ?? String(error), 512);
}

function offsetDetails(error: unknown): { offset?: number } {
  const start = (error as CelErrorLike | undefined)?.range?.start;
  return typeof start === "number" ? { offset: start } : {};
}

/**
 * Parses and type-checks a caveat expression against its declared parameters, once. Throws a
 * ConditionError (`condition/syntax`, `condition/type`, `condition/too-large`,
 * `condition/bad-parameter`); the result evaluates many times without parsing again.
 */
export function compileCondition(
  expression: string,
  parameters: ParameterTypes,
  limits: Partial<ConditionLimits> = {},
): CompiledCondition {
  const max = { ...DEFAULT_CONDITION_LIMITS, ...limits };
  if (expression.length > max.maxExpressionLength) {
    throw conditionError(
      "condition/too-large",
      `caveat expression is ${expression.length} characters long, more than the limit of ${max.maxExpressionLength}`,
      { length: expression.length, limit: max.maxExpressionLength },
    );
  }
  const env = baseEnvironment().clone({
    limits: { maxAstNodes: max.maxAstNodes, maxDepth: max.maxNestingDepth },
  });
  for (const [name, type] of parameters) {
    if (!IDENTIFIER.test(name) || RESERVED.has(name)) {
      throw conditionError("condition/bad-parameter", `'${clip(name)}' cannot be a caveat parameter name`, {
        parameter: name,
      });
    }
    env.registerVariable(name, celTypeName(type));
  }

  let program: ParseResult;
  try {
    program = env.parse(expression);
  } catch (error) {
    const tooLarge = (error as CelErrorLike).code === "limit_exceeded";
    throw conditionError(
      tooLarge ? "condition/too-large" : "condition/syntax",
      `caveat expression ${tooLarge ? "is too large" : "does not parse"}: ${describeError(error)}`,
      offsetDetails(error),
    );
  }
  const checked = program.check();
  if (!checked.valid) {
    throw conditionError(
      "condition/type",
      `caveat expression does not type-check: ${describeError(checked.error)}`,
      offsetDetails(checked.error),
    );
  }
  if (checked.type !== "bool") {
    throw conditionError(
      "condition/type",
      `caveat expression must be a bool, but it is ${checked.type ?? "of unknown type"}`,
      { offset: 0, type: checked.type },
    );
  }
  // `matches` runs RE2 and every evaluation is charged against a budget (cost.ts).
  instrument(program.ast);
  const facts = analyse(program.ast);
  if (facts.comprehensionDepth > max.maxComprehensionDepth) {
    throw conditionError(
      "condition/too-large",
      `caveat expression nests ${facts.comprehensionDepth} comprehensions; at most ${max.maxComprehensionDepth} are allowed`,
      { comprehensionDepth: facts.comprehensionDepth, limit: max.maxComprehensionDepth },
    );
  }

  const declared = [...parameters].map(
    ([name, type]): Parameter => ({
      name,
      convert: createConverter(type),
      referenced: facts.identifiers.has(name),
    }),
  );
  const parameterNames = new Set(parameters.keys());
  let skeleton: ReturnType<typeof buildSkeleton> | undefined;

  const evaluateUnguarded = (context: Readonly<Record<string, unknown>>): ConditionResult => {
    const values: Record<string, unknown> = Object.create(null);
    let absent: string[] | undefined;
    for (const p of declared) {
      const raw = Object.hasOwn(context, p.name) ? context[p.name] : undefined;
      if (raw === undefined) {
        if (p.referenced) {
          absent ??= [];
          absent.push(p.name);
        }
        continue;
      }
      try {
        values[p.name] = p.convert(raw, p.name, failConversion);
      } catch (error) {
        return { kind: "error", reason: "parameter-type", parameter: p.name, message: describeError(error) };
      }
    }
    if (absent === undefined) {
      let out: unknown;
      try {
        out = program(values);
      } catch (error) {
        return { kind: "error", message: describeError(error) };
      }
      if (out === true) return TRUE;
      if (out === false) return FALSE;
      return { kind: "error", message: "condition is not a boolean" };
    }
    // Some parameters are absent: evaluate the boolean skeleton with them as unknowns. (Evaluating
    // the whole program with them unbound would also decide `true || missing`, as the library absorbs
    // errors commutatively, but every absent variable costs a thrown error, and it cannot say which
    // absent parameters still matter.)
    skeleton ??= buildSkeleton(program.ast, env, parameterNames);
    const outcome = evaluateSkeleton(skeleton, values, new Set(absent));
    if (outcome === true) return TRUE;
    if (outcome === false) return FALSE;
    if ("unknown" in outcome) return { kind: "missing", missing: [...outcome.unknown].sort() };
    return { kind: "error", message: describeError(outcome.error) };
  };

  // The contract is "never throws": whatever escapes (a hostile context object, a library bug) is
  // an error result, and an error never allows. A spent budget wins over whatever the expression
  // answered: quantifiers and `||` absorb errors and may still produce true.
  const evaluate = (
    context: Readonly<Record<string, unknown>>,
    options?: EvaluateOptions,
  ): ConditionResult => {
    const budget = options?.maxCost ?? max.maxEvaluationCost;
    const run = metered(budget, () => {
      try {
        return evaluateUnguarded(typeof context === "object" && context !== null ? context : {});
      } catch (error) {
        return { kind: "error", message: describeError(error) } as const;
      }
    });
    if (run.exceeded) {
      return { kind: "error", reason: "cost-exceeded", message: `${COST_EXCEEDED_MESSAGE} of ${budget}` };
    }
    return run.value;
  };

  return Object.freeze({ expression, parameters, evaluate });
}
