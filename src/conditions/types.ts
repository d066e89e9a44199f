/** The contract of the conditions module: typed caveat parameters and compiled CEL programs. */

export type ScalarTypeName =
  | "any"
  | "bool"
  | "string"
  | "int"
  | "uint"
  | "double"
  | "bytes"
  | "duration"
  | "timestamp"
  | "ipaddress";

/** A caveat parameter type as declared in a schema: `int`, `list<string>`, `map<timestamp>`. */
export type ParameterType =
  | { readonly kind: ScalarTypeName }
  | { readonly kind: "list"; readonly element: ParameterType }
  | { readonly kind: "map"; readonly value: ParameterType };

export type ParameterTypes = ReadonlyMap<string, ParameterType>;

/**
 * The outcome of evaluating a condition. `missing` means the parameters supplied do not decide
 * the expression; it lists the parameters that are absent. An `error` never allows.
 */
export type ConditionResult =
  | { readonly kind: "true" }
  | { readonly kind: "false" }
  | { readonly kind: "missing"; readonly missing: readonly string[] }
  | {
      readonly kind: "error";
      readonly message: string;
      /**
       * `cost-exceeded`: the evaluation ran out of its cost budget (not a fault of the expression's
       * logic); `parameter-type`: a context value does not fit its parameter's type (`parameter`).
       */
      readonly reason?: "cost-exceeded" | "parameter-type";
      readonly parameter?: string;
    };

export interface EvaluateOptions {
  /** The cost budget of this evaluation (default: the condition's `maxEvaluationCost`). */
  readonly maxCost?: number;
}

export interface CompiledCondition {
  readonly expression: string;
  readonly parameters: ParameterTypes;
  /**
   * Evaluates with a JSON-like context (as stored with a relationship or sent with a request).
   * Values are converted to the declared parameter types first; a value of the wrong type is an
   * `error` result. Parameters absent from the context are unknown: when the known ones decide the
   * expression (`a || b` with `a` true) the result is decided, otherwise `missing`.
   */
  evaluate(context: Readonly<Record<string, unknown>>, options?: EvaluateOptions): ConditionResult;
}

export interface ConditionLimits {
  /** Maximum length of a CEL expression in characters. */
  readonly maxExpressionLength: number;
  /** Maximum number of nodes in the parsed expression. */
  readonly maxAstNodes?: number;
  /** Maximum nesting depth of calls, selections, indexes and literals. */
  readonly maxNestingDepth?: number;
  /**
   * Maximum nesting of comprehensions (`all`, `exists`, `map`, `filter`...). Evaluation cost grows
   * as the list sizes raised to this power, and the CEL library has no runtime cost limit.
   */
  readonly maxComprehensionDepth?: number;
  /**
   * Cost budget of one evaluation, counted while it runs (see cost.ts): roughly the number of
   * expression nodes evaluated, with strings, lists and regular expressions charged by size. An
   * evaluation over it is an error (`reason: "cost-exceeded"`) and never allows.
   */
  readonly maxEvaluationCost?: number;
}
