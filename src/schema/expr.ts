/** Permission expressions: from the binary syntax tree to the flat IR form, and back to text. */
import type { ExprNode } from "./ast.js";
import type { PermissionExpr } from "./ir.js";

/** Flattens `a + b + c` into one union of three (likewise intersections); exclusions stay binary. */
export function toPermissionExpr(node: ExprNode): PermissionExpr {
  switch (node.kind) {
    case "union":
    case "intersection": {
      const children: PermissionExpr[] = [];
      const collect = (child: ExprNode): void => {
        if (child.kind === node.kind) {
          collect(child.left);
          collect(child.right);
        } else {
          children.push(toPermissionExpr(child));
        }
      };
      collect(node);
      return Object.freeze({ kind: node.kind, children: Object.freeze(children) });
    }
    case "exclusion":
      return Object.freeze({
        kind: "exclusion",
        base: toPermissionExpr(node.left),
        subtract: toPermissionExpr(node.right),
      });
    case "identifier":
      return Object.freeze({ kind: "computed", name: node.name.text });
    case "nil":
      return Object.freeze({ kind: "nil" });
    case "arrow":
      return Object.freeze({
        kind: "arrow",
        tupleset: node.tupleset.text,
        computed: node.computed.text,
        mode: node.mode,
      });
  }
}

/**
 * Prints an expression. Mixed operators are always parenthesised even where SpiceDB's precedence
 * (`+` over `&` over `-`) would not need it, because readers expect the opposite order.
 */
export function formatExpr(expr: PermissionExpr): string {
  switch (expr.kind) {
    case "union":
      return expr.children.map((c) => wrapUnlessSimple(c)).join(" + ");
    case "intersection":
      return expr.children.map((c) => wrapUnlessSimple(c)).join(" & ");
    case "exclusion": {
      const base = expr.base.kind === "exclusion" ? formatExpr(expr.base) : wrapUnlessSimple(expr.base);
      return `${base} - ${wrapUnlessSimple(expr.subtract)}`;
    }
    case "computed":
      return expr.name;
    case "nil":
      return "nil";
    case "arrow":
      return expr.mode === "all"
        ? `${expr.tupleset}.all(${expr.computed})`
        : `${expr.tupleset}->${expr.computed}`;
  }
}

function wrapUnlessSimple(expr: PermissionExpr): string {
  const text = formatExpr(expr);
  return expr.kind === "union" || expr.kind === "intersection" || expr.kind === "exclusion"
    ? `(${text})`
    : text;
}
