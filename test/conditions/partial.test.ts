import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ConditionResult, compileCondition } from "../../src/conditions/index.js";
import { params } from "./helpers.js";

const declared = params({ a: "int", b: "int", c: "int", p: "bool", q: "bool" });

describe("partial evaluation (absent parameters are unknown)", () => {
  const cases: [string, Record<string, unknown>, ConditionResult][] = [
    ["a == 1 || b == 2", { a: 1 }, { kind: "true" }],
    ["b == 2 || a == 1", { a: 1 }, { kind: "true" }],
    ["a == 1 && b == 2", { a: 2 }, { kind: "false" }],
    ["b == 2 && a == 1", { a: 2 }, { kind: "false" }],
    ["a == 1 || b == 2", { a: 2 }, { kind: "missing", missing: ["b"] }],
    ["a == 1 && b == 2", { a: 1 }, { kind: "missing", missing: ["b"] }],
    ["a == 1 && b == 2", {}, { kind: "missing", missing: ["a", "b"] }],
    ["(a == 1 && b == 2) || c == 3", { a: 2 }, { kind: "missing", missing: ["c"] }],
    ["(a == 1 && b == 2) || c == 3", { c: 3 }, { kind: "true" }],
    ["!(a == 1) || p", { a: 2 }, { kind: "true" }],
    ["!p", {}, { kind: "missing", missing: ["p"] }],
    ["a == 1 ? b == 2 : true", { a: 2 }, { kind: "true" }],
    ["a == 1 ? b == 2 : true", { a: 1 }, { kind: "missing", missing: ["b"] }],
    ["a == 1 ? b == 2 : c == 3", {}, { kind: "missing", missing: ["a", "b", "c"] }],
    ["a == b || p", { a: 1, p: false }, { kind: "missing", missing: ["b"] }],
    ["a == b || p", { p: true }, { kind: "true" }],
    // Parameters bound by a comprehension or cel.bind are not the declared ones.
    ["[1, 2].all(a, a > 0) || p", {}, { kind: "true" }],
    ["[1, 2].exists(x, x == a) && p", { p: false }, { kind: "false" }],
    ["[1, 2].exists(x, x == a) && p", { p: true }, { kind: "missing", missing: ["a"] }],
    ["cel.bind(b, 3, b == 3) || p", {}, { kind: "true" }],
    // A genuine error on a known branch does not hide what is missing.
    ["[1][2] == 1 || p", {}, { kind: "missing", missing: ["p"] }],
    ["[1][2] == 1 && p", { p: true }, { kind: "error", message: expect.any(String) as unknown as string }],
    // A parameter the expression does not read is never missing.
    ["a == 1", { a: 1 }, { kind: "true" }],
    ["a == 1", { b: 1 }, { kind: "missing", missing: ["a"] }],
  ];

  it.each(cases)("%s with %j", (expression, context, expected) => {
    expect(compileCondition(expression, declared).evaluate(context)).toEqual(expected);
  });

  it("a bad value of a present parameter is an error even when others are absent", () => {
    expect(compileCondition("a == 1 || b == 2", declared).evaluate({ a: "x" }).kind).toBe("error");
  });
});

/** A small boolean language whose three-valued meaning the test computes itself. */
type Expr =
  | { op: "eq"; left: "a" | "b" | "c"; right: "a" | "b" | "c" | number }
  | { op: "var"; name: "p" | "q" }
  | { op: "const"; value: boolean }
  | { op: "exists"; name: "a" | "b" | "c" }
  | { op: "not"; e: Expr }
  | { op: "and" | "or"; l: Expr; r: Expr }
  | { op: "cond"; t: Expr; a: Expr; b: Expr };

const intParam = fc.constantFrom("a" as const, "b" as const, "c" as const);
const expr: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({
      op: fc.constant("eq" as const),
      left: intParam,
      right: fc.oneof(intParam, fc.integer({ min: 0, max: 2 })),
    }),
    fc.record({ op: fc.constant("var" as const), name: fc.constantFrom("p" as const, "q" as const) }),
    fc.record({ op: fc.constant("const" as const), value: fc.boolean() }),
    fc.record({ op: fc.constant("exists" as const), name: intParam }),
    fc.record({ op: fc.constant("not" as const), e: tie("e") }),
    fc.record({ op: fc.constantFrom("and" as const, "or" as const), l: tie("e"), r: tie("e") }),
    fc.record({ op: fc.constant("cond" as const), t: tie("e"), a: tie("e"), b: tie("e") }),
  ),
})).e;

function text(e: Expr): string {
  switch (e.op) {
    case "eq":
      return `${e.left} == ${e.right}`;
    case "var":
      return e.name;
    case "const":
      return String(e.value);
    case "exists":
      return `[0, 1, 2].exists(x, x == ${e.name})`;
    case "not":
      return `!(${text(e.e)})`;
    case "and":
      return `(${text(e.l)}) && (${text(e.r)})`;
    case "or":
      return `(${text(e.l)}) || (${text(e.r)})`;
    case "cond":
      return `(${text(e.t)}) ? (${text(e.a)}) : (${text(e.b)})`;
  }
}

type Three = boolean | Set<string>;

function reference(e: Expr, ctx: Record<string, number | boolean>): Three {
  const known = (name: string) => name in ctx;
  switch (e.op) {
    case "eq": {
      const names = [e.left, ...(typeof e.right === "string" ? [e.right] : [])].filter((n) => !known(n));
      if (names.length > 0) return new Set(names);
      return ctx[e.left] === (typeof e.right === "string" ? ctx[e.right] : e.right);
    }
    case "var":
      return known(e.name) ? (ctx[e.name] as boolean) : new Set([e.name]);
    case "const":
      return e.value;
    case "exists":
      return known(e.name) ? [0, 1, 2].includes(ctx[e.name] as number) : new Set([e.name]);
    case "not": {
      const v = reference(e.e, ctx);
      return typeof v === "boolean" ? !v : v;
    }
    case "and":
    case "or": {
      const decisive = e.op === "or";
      const l = reference(e.l, ctx);
      const r = reference(e.r, ctx);
      if (l === decisive || r === decisive) return decisive;
      if (typeof l === "boolean" && typeof r === "boolean") return !decisive;
      return new Set([...(typeof l === "boolean" ? [] : l), ...(typeof r === "boolean" ? [] : r)]);
    }
    case "cond": {
      const t = reference(e.t, ctx);
      if (t === true) return reference(e.a, ctx);
      if (t === false) return reference(e.b, ctx);
      const a = reference(e.a, ctx);
      const b = reference(e.b, ctx);
      return new Set([...t, ...(typeof a === "boolean" ? [] : a), ...(typeof b === "boolean" ? [] : b)]);
    }
  }
}

const context = fc.record(
  {
    a: fc.integer({ min: 0, max: 3 }),
    b: fc.integer({ min: 0, max: 3 }),
    c: fc.integer({ min: 0, max: 3 }),
    p: fc.boolean(),
    q: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe("partial evaluation against a reference three-valued evaluator", () => {
  it("agrees on random expressions and partial contexts", () => {
    fc.assert(
      fc.property(expr, context, (e, ctx) => {
        const expected = reference(e, ctx);
        const actual = compileCondition(text(e), declared).evaluate(ctx);
        if (typeof expected === "boolean") expect(actual).toEqual({ kind: expected ? "true" : "false" });
        else expect(actual).toEqual({ kind: "missing", missing: [...expected].sort() });
      }),
      { numRuns: 400 },
    );
  });
});
