/**
 * Bounds on a caveat context (a request's, or one stored with a relationship): how many values it
 * holds, how deep it nests and how long its strings are. A context is converted and walked on every
 * evaluation, so without bounds one request could hold the event loop for seconds.
 */
import { LatchError } from "./errors.js";

export interface ContextLimits {
  /** Most values in total: object keys plus list elements, at every level (default 10,000). */
  readonly maxValues: number;
  /** Deepest nesting of objects and lists; the context object itself is depth 1 (default 16). */
  readonly maxDepth: number;
  /** Longest string, key or value, in characters (default 65,536). */
  readonly maxStringLength: number;
}

export const DEFAULT_CONTEXT_LIMITS: ContextLimits = Object.freeze({
  maxValues: 10_000,
  maxDepth: 16,
  maxStringLength: 64 * 1024,
});

export type ContextProblem =
  | { readonly problem: "too-large"; readonly message: string; readonly details: Record<string, unknown> }
  | { readonly problem: "too-deep"; readonly message: string; readonly details: Record<string, unknown> };

function isContainer(value: unknown): value is object {
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value) || value instanceof Map) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Walks a context without copying it and stops at the first limit passed: the cost is bounded by
 * the limits, not by the context. Returns undefined when it is within them.
 */
export function measureContext(
  context: unknown,
  limits: ContextLimits = DEFAULT_CONTEXT_LIMITS,
): ContextProblem | undefined {
  let values = 0;
  const tooLarge = (what: string, details: Record<string, unknown>): ContextProblem => ({
    problem: "too-large",
    message: what,
    details,
  });
  const text = (s: string, path: string): ContextProblem | undefined =>
    s.length > limits.maxStringLength
      ? tooLarge(
          `the string at ${path || "the top"} is ${s.length} characters long, over the limit of ${limits.maxStringLength}`,
          { path, length: s.length, limit: limits.maxStringLength },
        )
      : undefined;
  const count = (): ContextProblem | undefined =>
    ++values > limits.maxValues
      ? tooLarge(`it holds more than ${limits.maxValues} values (object keys and list elements)`, {
          limit: limits.maxValues,
        })
      : undefined;
  const walk = (value: unknown, depth: number, path: string): ContextProblem | undefined => {
    if (typeof value === "string") return text(value, path);
    if (!isContainer(value)) return undefined;
    if (depth > limits.maxDepth) {
      return {
        problem: "too-deep",
        message: `it nests deeper than ${limits.maxDepth} levels (at ${path})`,
        details: { path, limit: limits.maxDepth },
      };
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const p = count() ?? walk(value[i], depth + 1, `${path}[${i}]`);
        if (p !== undefined) return p;
      }
    } else if (value instanceof Map) {
      for (const [k, v] of value) {
        const key = String(k);
        const p = count() ?? text(key, path) ?? walk(v, depth + 1, path === "" ? key : `${path}.${key}`);
        if (p !== undefined) return p;
      }
    } else {
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const p =
          count() ??
          text(key, path) ??
          walk((value as Record<string, unknown>)[key], depth + 1, path === "" ? key : `${path}.${key}`);
        if (p !== undefined) return p;
      }
    }
    return undefined;
  };
  return walk(context, 1, "");
}

/**
 * Throws `<prefix>/context-too-large` or `<prefix>/context-too-deep` (invalid-argument, naming
 * `field`) when the context passes a limit.
 */
export function checkContextLimits(
  context: unknown,
  field: string,
  /** The area of the code; a template type, so the compiler checks the code is listed. */
  prefix: "request",
  limits: ContextLimits = DEFAULT_CONTEXT_LIMITS,
): void {
  const p = measureContext(context, limits);
  if (p === undefined) return;
  throw new LatchError(
    `${prefix}/context-too-${p.problem === "too-large" ? "large" : "deep"}`,
    "invalid-argument",
    `${field} is too ${p.problem === "too-large" ? "large" : "deep"}: ${p.message}; send only the values the caveats read`,
    { field, ...p.details },
  );
}
