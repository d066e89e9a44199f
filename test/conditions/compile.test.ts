import { describe, expect, it } from "vitest";
import { ConditionError, compileCondition } from "../../src/conditions/index.js";
import { isLatchError } from "../../src/core/index.js";
import { params } from "./helpers.js";

function compileError(expression: string, declared: Record<string, string>, limits = {}): ConditionError {
  try {
    compileCondition(expression, params(declared), limits);
  } catch (error) {
    expect(error).toBeInstanceOf(ConditionError);
    expect(isLatchError(error)).toBe(true);
    expect((error as ConditionError).kind).toBe("invalid-argument");
    return error as ConditionError;
  }
  throw new Error(`expected ${expression} to be refused`);
}

describe("compileCondition", () => {
  it("keeps the expression and parameters it was given", () => {
    const parameters = params({ a: "int" });
    const c = compileCondition("a == 1", parameters);
    expect(c.expression).toBe("a == 1");
    expect(c.parameters).toBe(parameters);
  });

  it("reports syntax errors with the offset", () => {
    const e = compileError("a == ", { a: "int" });
    expect(e.code).toBe("condition/syntax");
    expect(e.details.offset).toBe(5);
    const e2 = compileError("a == 1 )", { a: "int" });
    expect(e2.code).toBe("condition/syntax");
    expect(e2.details.offset).toBe(7);
  });

  it("reports type errors against the declared parameters", () => {
    const e = compileError("a == 'x'", { a: "int" });
    expect(e.code).toBe("condition/type");
    expect(typeof e.details.offset).toBe("number");
    expect(compileError("b == 1", { a: "int" }).code).toBe("condition/type");
    expect(compileError("t < 5", { t: "timestamp" }).code).toBe("condition/type");
    expect(compileError("ip.in_cidr(1)", { ip: "ipaddress" }).code).toBe("condition/type");
  });

  it("refuses a result that is not a bool", () => {
    for (const [expression, declared] of [
      ["a + 1", { a: "int" }],
      ["s", { s: "string" }],
      ["m.x", { m: "map<any>" }],
    ] as const) {
      const e = compileError(expression, declared);
      expect(e.code).toBe("condition/type");
      expect(e.message).toContain("must be a bool");
    }
  });

  it("enforces the size limits", () => {
    const long = `a == 1${" || a == 1".repeat(500)}`;
    expect(long.length).toBeGreaterThan(4096);
    expect(compileError(long, { a: "int" }).code).toBe("condition/too-large");
    expect(compileError("a == 1 || a == 2", { a: "int" }, { maxExpressionLength: 10 }).code).toBe(
      "condition/too-large",
    );
    expect(compileError("a == 1 || a == 2 || a == 3", { a: "int" }, { maxAstNodes: 5 }).code).toBe(
      "condition/too-large",
    );
    const nested = "l.all(x, l.all(y, l.all(z, x == y && y == z)))";
    expect(compileError(nested, { l: "list<int>" }).code).toBe("condition/too-large");
    expect(() =>
      compileCondition(nested, params({ l: "list<int>" }), { maxComprehensionDepth: 3 }),
    ).not.toThrow();
  });

  it("refuses parameter names CEL cannot use", () => {
    expect(compileError("true", { in: "int" }).code).toBe("condition/bad-parameter");
    expect(compileError("true", { "a-b": "int" }).code).toBe("condition/bad-parameter");
  });

  it("compiles the expressions SpiceDB caveats use", () => {
    const cases: [string, Record<string, string>][] = [
      ["somecondition == 42", { somecondition: "int" }],
      ["anothercondition == 'hello world'", { anothercondition: "string" }],
      ["thirdcondition", { thirdcondition: "bool" }],
      ["current_time < expiration", { current_time: "timestamp", expiration: "timestamp" }],
      ["me in admin_teams", { admin_teams: "list<string>", me: "string" }],
      ["user_ip.in_cidr(cidr)", { user_ip: "ipaddress", cidr: "string" }],
      ["!user_ip.in_cidr(cidr)", { user_ip: "ipaddress", cidr: "string" }],
      ["somelist.all(i, i >= 42)", { somelist: "list<int>" }],
      ["somemap.foo == 42 && somemap.bar < 56", { somemap: "map<any>" }],
      ["count < limit", { limit: "uint", count: "uint" }],
      ["now - start < duration('1h')", { now: "timestamp", start: "timestamp" }],
      ["now < start + window", { now: "timestamp", start: "timestamp", window: "duration" }],
      ["b.size() > 0 && d > 1.5", { b: "bytes", d: "double" }],
      ["ipaddress('10.0.0.1') == ip", { ip: "ipaddress" }],
      ["cel.bind(x, a + 1, x > 2)", { a: "int" }],
    ];
    for (const [expression, declared] of cases) {
      expect(() => compileCondition(expression, params(declared)), expression).not.toThrow();
    }
  });
});
