import type { ASTNode, Environment, ParseResult } from "@marcbachmann/cel-js";
import { analyse } from "./ast.js";
import { instrument } from "./cost.js";
import { celLibrary } from "./libraries.js";

/**
 * Partial evaluation for when some parameters are absent, as SpiceDB does it: the boolean skeleton
 * of the expression (`||`, `&&`, `!`, `?:`) is evaluated in three-valued logic where a leaf that
 * reads an absent parameter is *unknown*. `true || unknown` is true, `false && unknown` is false;
 * otherwise the unknowns that remain are the parameters the caller still has to supply. Only the
 * slow path uses this: a full evaluation that decides the expression answers first.
 */
export type Outcome = boolean | { readonly unknown: ReadonlySet<string> } | { readonly error: unknown };

type Skeleton =
  | { readonly kind: "or" | "and"; readonly left: Skeleton; readonly right: Skeleton }
  | { readonly kind: "not"; readonly operand: Skeleton }
  | {
      readonly kind: "cond";
      readonly test: Skeleton;
      readonly whenTrue: Skeleton;
      readonly otherwise: Skeleton;
    }
  | { readonly kind: "leaf"; readonly parameters: readonly string[]; readonly program: () => ParseResult };

export function buildSkeleton(
  node: ASTNode,
  env: Environment,
  parameterNames: ReadonlySet<string>,
): Skeleton {
  switch (node.op) {
    case "||":
    case "&&":
      return {
        kind: node.op === "||" ? "or" : "and",
        left: buildSkeleton(node.args[0], env, parameterNames),
        right: buildSkeleton(node.args[1], env, parameterNames),
      };
    case "!_":
      return { kind: "not", operand: buildSkeleton(node.args, env, parameterNames) };
    case "?:":
      return {
        kind: "cond",
        test: buildSkeleton(node.args[0], env, parameterNames),
        whenTrue: buildSkeleton(node.args[1], env, parameterNames),
        otherwise: buildSkeleton(node.args[2], env, parameterNames),
      };
    default: {
      const parameters = [...analyse(node).identifiers].filter((name) => parameterNames.has(name));
      let program: ParseResult | undefined;
      // A leaf is compiled on first need: most conditions never take the slow path.
      return {
        kind: "leaf",
        parameters,
        program: () => {
          if (program === undefined) {
            program = env.parse(celLibrary().serialize(node));
            const checked = program.check();
            if (!checked.valid) throw checked.error;
            instrument(program.ast);
          }
          return program;
        },
      };
    }
  }
}

const unknownOf = (o: Outcome): ReadonlySet<string> | undefined =>
  typeof o === "object" && "unknown" in o ? o.unknown : undefined;

function union(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): Outcome {
  return { unknown: new Set([...(a ?? []), ...(b ?? [])]) };
}

export function evaluateSkeleton(
  node: Skeleton,
  values: Readonly<Record<string, unknown>>,
  absent: ReadonlySet<string>,
): Outcome {
  switch (node.kind) {
    case "leaf": {
      const missing = node.parameters.filter((p) => absent.has(p));
      if (missing.length > 0) return { unknown: new Set(missing) };
      try {
        const value: unknown = node.program()(values);
        return typeof value === "boolean" ? value : { error: new Error("condition is not a boolean") };
      } catch (error) {
        return { error };
      }
    }
    case "not": {
      const o = evaluateSkeleton(node.operand, values, absent);
      return typeof o === "boolean" ? !o : o;
    }
    case "or":
    case "and": {
      // The value that decides: true for ||, false for &&. Either side may decide, whatever the other is.
      const decisive = node.kind === "or";
      const left = evaluateSkeleton(node.left, values, absent);
      if (left === decisive) return decisive;
      const right = evaluateSkeleton(node.right, values, absent);
      if (right === decisive) return decisive;
      const lu = unknownOf(left);
      const ru = unknownOf(right);
      if (lu !== undefined || ru !== undefined) return union(lu, ru);
      if (typeof left === "object") return left;
      if (typeof right === "object") return right;
      return !decisive;
    }
    case "cond": {
      const test = evaluateSkeleton(node.test, values, absent);
      if (test === true) return evaluateSkeleton(node.whenTrue, values, absent);
      if (test === false) return evaluateSkeleton(node.otherwise, values, absent);
      const tu = unknownOf(test);
      if (tu === undefined) return test;
      // The branch is not known yet: whatever either branch still lacks is needed too.
      const a = unknownOf(evaluateSkeleton(node.whenTrue, values, absent));
      const b = unknownOf(evaluateSkeleton(node.otherwise, values, absent));
      return { unknown: new Set([...tu, ...(a ?? []), ...(b ?? [])]) };
    }
  }
}
