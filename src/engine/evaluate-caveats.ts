/**
 * Evaluates a membership once, at the end of a check, with the request context. Three-valued:
 * true, false, or missing (with the parameter names that would decide it). A caveat that errors
 * never allows: the whole check fails with `check/caveat-error`, as SpiceDB returns an error, or
 * with `check/caveat-cost-exceeded` when the evaluation ran out of its cost budget.
 */
import { type CheckState, clip, LatchError } from "../core/index.js";
import type { CompiledSchema } from "../schema/index.js";
import { type CaveatExpr, type CaveatLeaf, type Member, TOO_DEEP, UNSTRATIFIED } from "./membership.js";
import type { CaveatTrace } from "./types.js";
import { cycleThroughExclusion, maxDepthExceeded } from "./walk-stack.js";

export interface Verdict {
  readonly state: CheckState;
  readonly missing: readonly string[];
}

type Tri =
  | { readonly v: "true" }
  | { readonly v: "false" }
  | { readonly v: "missing"; readonly missing: Set<string> };

const TRUE: Tri = { v: "true" };
const FALSE: Tri = { v: "false" };

export interface CaveatEvaluator {
  /** The verdict for a membership; throws `check/caveat-error` when a caveat fails to evaluate. */
  verdict(member: Member | undefined): Verdict;
  /** Evaluations of the caveat leaves, for explanations. */
  readonly traces: CaveatTrace[];
}

export function mergeContext(
  request: Readonly<Record<string, unknown>> | undefined,
  stored: Readonly<Record<string, unknown>> | undefined,
): Readonly<Record<string, unknown>> {
  if (stored === undefined) return request ?? {};
  if (request === undefined) return stored;
  // Stored relationship context wins over request context.
  return { ...request, ...stored };
}

export function createCaveatEvaluator(
  schema: CompiledSchema,
  requestContext: Readonly<Record<string, unknown>> | undefined,
  trace = false,
  maxCost?: number,
): CaveatEvaluator {
  const options = maxCost === undefined ? undefined : { maxCost };
  const traces: CaveatTrace[] = [];
  const leafCache = new Map<CaveatExpr, Tri>();
  // The first subproblem past the depth limit the answer depends on, for the error message.
  let deep: CaveatLeaf | undefined;
  // Likewise the first cycle through an exclusion it depends on.
  let cycle: CaveatLeaf | undefined;

  const leaf = (expr: CaveatLeaf): Tri => {
    const hit = leafCache.get(expr);
    if (hit !== undefined) return hit;
    if (expr.name === TOO_DEEP) {
      deep ??= expr;
      return { v: "missing", missing: new Set([TOO_DEEP]) };
    }
    if (expr.name === UNSTRATIFIED) {
      cycle ??= expr;
      return { v: "missing", missing: new Set([UNSTRATIFIED]) };
    }
    const def = schema.caveats.get(expr.name);
    const context = mergeContext(requestContext, expr.context);
    if (def === undefined) {
      throw new LatchError("check/caveat-error", "failed-precondition", `unknown caveat ${clip(expr.name)}`, {
        caveat: clip(expr.name),
      });
    }
    const result = def.condition.evaluate(context, options);
    if (trace) {
      traces.push({
        name: expr.name,
        context,
        result: result.kind,
        ...(result.kind === "missing" ? { missing: result.missing } : {}),
        ...(result.kind === "error" ? { error: result.message } : {}),
      });
    }
    let out: Tri;
    switch (result.kind) {
      case "true":
        out = TRUE;
        break;
      case "false":
        out = FALSE;
        break;
      case "missing":
        out = { v: "missing", missing: new Set(result.missing) };
        break;
      default:
        if (result.reason === "cost-exceeded") {
          throw new LatchError(
            "check/caveat-cost-exceeded",
            "resource-exhausted",
            `caveat ${expr.name}: ${result.message}; it does too much work for this context (long loops, large lists or strings, costly regular expressions): simplify the caveat, send a smaller context, or raise the budget (latch serve --max-caveat-cost)`,
            { caveat: expr.name },
          );
        }
        throw new LatchError(
          "check/caveat-error",
          "invalid-argument",
          `caveat ${clip(expr.name)} failed to evaluate: ${clip(result.message, 512)}`,
          // The context keys, not the values: a caller's context can be megabytes.
          {
            caveat: clip(expr.name),
            // Which parameter's value has the wrong type, when that is the failure.
            ...(result.reason === "parameter-type" && result.parameter !== undefined
              ? { parameter: clip(result.parameter) }
              : {}),
            contextKeys: Object.keys(context)
              .slice(0, 20)
              .map((k) => clip(k)),
          },
        );
    }
    leafCache.set(expr, out);
    return out;
  };

  const evaluate = (expr: CaveatExpr): Tri => {
    switch (expr.op) {
      case "caveat":
        return leaf(expr);
      case "not": {
        const r = evaluate(expr.child);
        return r.v === "true" ? FALSE : r.v === "false" ? TRUE : r;
      }
      case "and": {
        let missing: Set<string> | undefined;
        for (const child of expr.children) {
          const r = evaluate(child);
          if (r.v === "false") return FALSE;
          if (r.v === "missing") {
            missing ??= new Set();
            for (const m of r.missing) missing.add(m);
          }
        }
        return missing === undefined ? TRUE : { v: "missing", missing };
      }
      case "or": {
        let missing: Set<string> | undefined;
        for (const child of expr.children) {
          const r = evaluate(child);
          if (r.v === "true") return TRUE;
          if (r.v === "missing") {
            missing ??= new Set();
            for (const m of r.missing) missing.add(m);
          }
        }
        return missing === undefined ? FALSE : { v: "missing", missing };
      }
    }
  };

  return {
    traces,
    verdict(member) {
      if (member === undefined) return { state: "DENIED", missing: [] };
      if (member === true) return { state: "ALLOWED", missing: [] };
      const r = evaluate(member);
      if (r.v === "true") return { state: "ALLOWED", missing: [] };
      if (r.v === "false") return { state: "DENIED", missing: [] };
      // Both: the cycle first, as no depth limit would give it an answer.
      if (r.missing.has(UNSTRATIFIED)) {
        // The answer depends on recursion through an exclusion (see membership.ts).
        throw cycleThroughExclusion(String(cycle?.context?.label ?? ""), String(cycle?.context?.at ?? ""));
      }
      if (r.missing.has(TOO_DEEP)) {
        // The answer depends on a subproblem past the limit (see walk-stack.ts).
        const at = String(deep?.context?.at ?? "");
        throw maxDepthExceeded("check", Number(deep?.context?.maxDepth ?? 0), at);
      }
      return { state: "CONDITIONAL", missing: [...r.missing].sort() };
    },
  };
}
