import type { ASTNode } from "@marcbachmann/cel-js";

/** Macros whose first argument(s) name iteration variables bound inside the other arguments. */
const COMPREHENSIONS = new Set(["all", "exists", "exists_one", "existsOne", "map", "filter"]);

export function isNode(value: unknown): value is ASTNode {
  return typeof value === "object" && value !== null && "op" in value && "args" in value;
}

function idName(node: unknown): string | undefined {
  return isNode(node) && node.op === "id" ? (node.args as string) : undefined;
}

export interface AstFacts {
  /** Free identifiers: parameter references (iteration and bind variables excluded). */
  readonly identifiers: ReadonlySet<string>;
  /** The deepest nesting of comprehensions (`l.all(x, m.exists(y, ...))` is 2). */
  readonly comprehensionDepth: number;
}

/** Walks the parsed expression once for what compile-time checks and partial evaluation need. */
export function analyse(root: ASTNode): AstFacts {
  const identifiers = new Set<string>();
  let comprehensionDepth = 0;

  const walkAny = (value: unknown, bound: ReadonlySet<string>, depth: number): void => {
    if (isNode(value)) walk(value, bound, depth);
    else if (Array.isArray(value)) for (const item of value) walkAny(item, bound, depth);
  };

  const walk = (node: ASTNode, bound: ReadonlySet<string>, depth: number): void => {
    if (node.op === "id") {
      if (!bound.has(node.args)) identifiers.add(node.args);
      return;
    }
    if (node.op === "value") return;
    if (node.op === "rcall") {
      const [name, receiver, args] = node.args;
      if (name === "bind" && idName(receiver) === "cel") {
        // cel.bind(var, init, body): var is bound in body only.
        const variable = idName(args[0]);
        walkAny(args[1], bound, depth);
        walkAny(args[2], variable === undefined ? bound : new Set([...bound, variable]), depth);
        return;
      }
      if (COMPREHENSIONS.has(name) && idName(args[0]) !== undefined) {
        walk(receiver, bound, depth);
        const inner = new Set(bound);
        inner.add(idName(args[0])!);
        // Two-variable forms, e.g. m.all(k, v, pred): the second is bound too.
        const second = args.length === 3 && name !== "map" && name !== "filter" ? idName(args[1]) : undefined;
        if (second !== undefined) inner.add(second);
        comprehensionDepth = Math.max(comprehensionDepth, depth + 1);
        for (const arg of args.slice(second === undefined ? 1 : 2)) walkAny(arg, inner, depth + 1);
        return;
      }
    }
    walkAny(node.args, bound, depth);
  };

  walk(root, new Set(), 0);
  return { identifiers, comprehensionDepth };
}
