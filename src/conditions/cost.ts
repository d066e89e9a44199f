import type { ASTNode } from "@marcbachmann/cel-js";
import { isNode } from "./ast.js";
import { re2Library } from "./libraries.js";
import { compileRe2, re2Matches } from "./regex.js";

/**
 * A run-time cost budget for one caveat evaluation. The CEL library has none, and an expression of
 * a few characters can loop for seconds over a large list (`xs.all(x, xs.exists(y, y == x))`). After
 * type-checking, `instrument` rewires the parsed program in place so that it charges as it runs:
 *
 * - every comprehension step (one iteration of `all`, `exists`, `map`, `filter`...) costs the number
 *   of AST nodes in the step, so nested loops pay for every inner iteration;
 * - operands of functions and operators that are strings, bytes, lists or maps cost their size
 *   (lists and maps deeply, strings by 8 characters), since those operations are linear in it;
 * - `matches` runs RE2 and costs its input length times its pattern length (RE2 is linear in the
 *   input, but its per-character work grows with the pattern), plus the pattern length squared to
 *   compile a pattern that is not a literal.
 *
 * One unit is roughly one node evaluation (10-30 ns here). The meter is module state set around a
 * synchronous evaluation and restored after, so evaluations cannot see each other's meter, even
 * nested ones: nothing in CEL evaluation here is asynchronous.
 */

export const COST_EXCEEDED_MESSAGE = "the caveat evaluation exceeded its cost budget";

interface Meter {
  left: number;
  exceeded: boolean;
}

let active: Meter | undefined;

/**
 * One error object, thrown again at every charge after the budget is spent: quantifiers catch
 * errors and go on to their next element, and building an Error (its stack) per element costs more
 * than the element.
 */
const COST_EXCEEDED: Error = (() => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new Error(COST_EXCEEDED_MESSAGE);
  } finally {
    Error.stackTraceLimit = limit;
  }
})();

/** Spends `units` from the current evaluation's budget; throws once it is spent. */
export function charge(units: number): void {
  const meter = active;
  if (meter === undefined) return;
  meter.left -= units;
  if (meter.left < 0) {
    meter.exceeded = true;
    throw COST_EXCEEDED;
  }
}

/**
 * Runs `fn` with a fresh budget. `exceeded` is true when any charge went over, whatever `fn`
 * returned: quantifiers and `||`/`&&` catch errors from their operands and may still produce a value.
 */
export function metered<T>(budget: number, fn: () => T): { readonly value: T; readonly exceeded: boolean } {
  const meter: Meter = { left: budget, exceeded: false };
  const outer = active;
  active = meter;
  try {
    const value = fn();
    return { value, exceeded: meter.exceeded };
  } finally {
    active = outer;
  }
}

type Evaluate = (ev: unknown, ast: ASTNode, ctx: unknown) => unknown;
interface Run {
  run(ast: ASTNode, ctx: unknown): unknown;
}

interface NodeInternals {
  readonly meta: {
    readonly alternate?: ASTNode;
    readonly macro?: Record<string, unknown>;
    readonly evaluate?: Evaluate;
  };
  readonly checkedType?: { readonly kind?: string; readonly name?: string };
  evaluate: Evaluate;
}

const internals = (node: ASTNode) => node as unknown as NodeInternals;

/** Operators whose cost is linear in their operands' size. */
const LINEAR_OPERATORS = new Set(["+", "==", "!=", "in", "<", "<=", ">", ">="]);
/** Calls that are O(1) whatever the size of their operand. */
const CONSTANT_CALLS = new Set(["size"]);

/** Whether values of this checked type can be large (strings, bytes, lists, maps, dyn). */
function mayBeLarge(node: ASTNode): boolean {
  const t = internals(node).checkedType;
  if (t === undefined) return true;
  if (t.name === "string" || t.name === "bytes") return true;
  return t.kind === "list" || t.kind === "map" || t.kind === "dyn" || t.kind === "param";
}

/** The size of a value in cost units, counted no further than `cap`. */
export function sizeUnits(value: unknown, cap: number): number {
  if (typeof value === "string") return 1 + (value.length >> 3);
  if (typeof value !== "object" || value === null) return 1;
  if (value instanceof Uint8Array) return 1 + (value.length >> 3);
  let n = 1;
  if (Array.isArray(value)) {
    for (const item of value) {
      n += sizeUnits(item, cap - n);
      if (n > cap) return n;
    }
  } else if (value instanceof Map) {
    for (const [k, item] of value) {
      n += sizeUnits(k, cap - n) + sizeUnits(item, cap - n);
      if (n > cap) return n;
    }
  } else if (Object.getPrototypeOf(value) === null || Object.getPrototypeOf(value) === Object.prototype) {
    for (const key in value) {
      n += 1 + (key.length >> 3) + sizeUnits((value as Record<string, unknown>)[key], cap - n);
      if (n > cap) return n;
    }
  }
  return n;
}

/**
 * The function that evaluates `node` now: one set here before, or the one the library would pick
 * (it resolves macro expansions on first call). Call it with `this` bound to the node.
 */
function resolvedEvaluate(node: ASTNode): Evaluate {
  if (Object.hasOwn(node, "evaluate")) return internals(node).evaluate;
  const meta = internals(node).meta;
  const alternate = meta.alternate;
  if (alternate !== undefined) return (ev, _ast, ctx) => internals(alternate).evaluate(ev, alternate, ctx);
  const macro = meta.macro;
  if (macro !== undefined) {
    const evaluate = macro.evaluate as Evaluate;
    return (ev, _ast, ctx) => evaluate(ev, macro as unknown as ASTNode, ctx);
  }
  return meta.evaluate as Evaluate;
}

function countNodes(node: ASTNode, seen: Set<ASTNode>): number {
  let n = 0;
  forEachChild(node, (child) => {
    if (seen.has(child)) return;
    seen.add(child);
    n += 1 + countNodes(child, seen);
  });
  return n;
}

/** Calls `visit` on every AST node below `node`: arguments, macro expansions, comprehension parts. */
function forEachChild(node: ASTNode, visit: (child: ASTNode) => void): void {
  const meta = internals(node).meta;
  if (meta.alternate !== undefined) visit(meta.alternate);
  if (meta.macro !== undefined) for (const value of Object.values(meta.macro)) visitAny(value, visit);
  visitAny(node.args, visit);
}

function visitAny(value: unknown, visit: (child: ASTNode) => void): void {
  if (isNode(value)) visit(value);
  else if (Array.isArray(value)) for (const item of value) visitAny(item, visit);
  else if (typeof value === "object" && value !== null && "step" in value && "iterable" in value) {
    // A comprehension's arguments object.
    for (const key of ["iterable", "init", "step"] as const)
      visitAny((value as Record<string, unknown>)[key], visit);
  }
}

/**
 * `stop`: for `all`/`exists`, which absorb errors from their steps and go on to the next element, the
 * step value that ends the loop (false for `all`, true for `exists`). Once the budget is spent the
 * step answers it instead of throwing again for every remaining element; the evaluation's answer is
 * the cost error anyway.
 */
function chargeStep(step: ASTNode, stop: boolean | undefined): void {
  const units = 1 + countNodes(step, new Set([step]));
  const inner = resolvedEvaluate(step);
  internals(step).evaluate = (ev, ast, ctx) => {
    if (stop !== undefined && active?.exceeded === true) return stop;
    charge(units);
    return inner.call(step, ev, ast, ctx);
  };
}

function chargeSize(operand: ASTNode): void {
  const inner = resolvedEvaluate(operand);
  internals(operand).evaluate = (ev, ast, ctx) => {
    const value = inner.call(operand, ev, ast, ctx);
    if (active !== undefined) charge(sizeUnits(value, active.left + 1));
    return value;
  };
}

/** `text.matches(pattern)` with RE2, charged by size; a literal pattern is compiled once. */
function replaceMatches(node: ASTNode, receiver: ASTNode, patternNode: ASTNode): void {
  // Loaded at compile time, so that the first check with a request-supplied pattern does not wait.
  re2Library();
  const literal =
    patternNode.op === "value" && typeof patternNode.args === "string" ? patternNode.args : undefined;
  internals(node).evaluate = (ev, _ast, ctx) => {
    const text = (ev as Run).run(receiver, ctx);
    const pattern = literal ?? (ev as Run).run(patternNode, ctx);
    if (typeof text !== "string" || typeof pattern !== "string") {
      throw new Error("matches() needs a string and a string pattern");
    }
    charge(
      (text.length + 1) * (pattern.length + 1) * 2 +
        (literal === undefined ? pattern.length * pattern.length : 0),
    );
    return re2Matches(text, pattern);
  };
  if (literal !== undefined) {
    // Validate early only as a cache warm-up; an invalid literal still fails at evaluation.
    try {
      compileRe2(literal);
    } catch {
      // reported when evaluated
    }
  }
}

/**
 * Rewires a type-checked program so that it runs `matches` with RE2 and charges the current
 * evaluation's budget (see above). Call once, after `check()`, before the first evaluation.
 */
export function instrument(root: ASTNode): void {
  const seen = new Set<ASTNode>();
  const sized = new Set<ASTNode>();
  const walk = (node: ASTNode): void => {
    if (seen.has(node)) return;
    seen.add(node);
    forEachChild(node, walk);
    const args = node.args as unknown;
    if ((node.op as string) === "comprehension") {
      const { step, init, kind, errorsAreFatal } = args as Record<string, unknown>;
      const initial = isNode(init) && init.op === "value" ? init.args : undefined;
      const absorbs = kind === "quantifier" && errorsAreFatal !== true && typeof initial === "boolean";
      if (isNode(step)) chargeStep(step, absorbs ? !initial : undefined);
      return;
    }
    const operands: ASTNode[] = [];
    if (
      node.op === "rcall" &&
      internals(node).meta.alternate === undefined &&
      internals(node).meta.macro === undefined
    ) {
      const [name, receiver, list] = args as [string, ASTNode, ASTNode[]];
      if (name === "matches" && list.length === 1) {
        replaceMatches(node, receiver, list[0]!);
        return;
      }
      if (!CONSTANT_CALLS.has(name)) operands.push(receiver, ...list);
    } else if (
      node.op === "call" &&
      internals(node).meta.macro === undefined &&
      internals(node).meta.alternate === undefined
    ) {
      const [name, list] = args as [string, ASTNode[]];
      if (!CONSTANT_CALLS.has(name)) operands.push(...list);
    } else if (LINEAR_OPERATORS.has(node.op)) {
      const [left, right] = args as [ASTNode, ASTNode];
      operands.push(left);
      // Membership in a map is a lookup, not a scan.
      if (!(node.op === "in" && internals(right).checkedType?.kind === "map")) operands.push(right);
    }
    for (const operand of operands) {
      if (sized.has(operand) || !isNode(operand) || !mayBeLarge(operand)) continue;
      sized.add(operand);
      chargeSize(operand);
    }
  };
  walk(root);
}
