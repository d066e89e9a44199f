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
 * the limits, not by the context. Returns undefined when it is within them. A class, not closures
 * made per call: every Check with a context (each link of a delegation chain has one) measures it.
 */
export function measureContext(
  context: unknown,
  limits: ContextLimits = DEFAULT_CONTEXT_LIMITS,
): ContextProblem | undefined {
  return new ContextWalk(limits).walk(context, 1, "");
}

class ContextWalk {
  private values = 0;

  constructor(private readonly limits: ContextLimits) {}

  walk(value: unknown, depth: number, path: string): ContextProblem | undefined {
    if (typeof value === "string") return this.text(value, path);
    if (!isContainer(value)) return undefined;
    const limits = this.limits;
    if (depth > limits.maxDepth) {
      return {
        problem: "too-deep",
        message: `it nests deeper than ${limits.maxDepth} levels (at ${path})`,
        details: { path, limit: limits.maxDepth },
      };
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const p = this.count() ?? this.walk(value[i], depth + 1, `${path}[${i}]`);
        if (p !== undefined) return p;
      }
    } else if (value instanceof Map) {
      for (const [k, v] of value) {
        const key = String(k);
        const p =
          this.count() ??
          this.text(key, path) ??
          this.walk(v, depth + 1, path === "" ? key : `${path}.${key}`);
        if (p !== undefined) return p;
      }
    } else {
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const p =
          this.count() ??
          this.text(key, path) ??
          this.walk((value as Record<string, unknown>)[key], depth + 1, path === "" ? key : `${path}.${key}`);
        if (p !== undefined) return p;
      }
    }
    return undefined;
  }

  private text(s: string, path: string): ContextProblem | undefined {
    const max = this.limits.maxStringLength;
    return s.length > max
      ? tooLarge(
          `the string at ${path || "the top"} is ${s.length} characters long, over the limit of ${max}`,
          { path, length: s.length, limit: max },
        )
      : undefined;
  }

  private count(): ContextProblem | undefined {
    const max = this.limits.maxValues;
    return ++this.values > max
      ? tooLarge(`it holds more than ${max} values (object keys and list elements)`, { limit: max })
      : undefined;
  }
}

function tooLarge(message: string, details: Record<string, unknown>): ContextProblem {
  return { problem: "too-large", message, details };
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
