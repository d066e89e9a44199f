import { describe, expect, it } from "vitest";
import {
  ConditionError,
  compileCondition,
  convertContext,
  IPAddress,
  parseDuration,
  parseIPAddress,
} from "../../src/conditions/index.js";
import { params } from "./helpers.js";

const T = { kind: "true" };
const F = { kind: "false" };

function evaluate(expression: string, declared: Record<string, string>, context: Record<string, unknown>) {
  return compileCondition(expression, params(declared)).evaluate(context);
}

describe("evaluate: conversions from JSON-like context", () => {
  it("ints and uints from JSON numbers, bigints and integer strings", () => {
    expect(evaluate("a == 42", { a: "int" }, { a: 42 })).toEqual(T);
    expect(evaluate("a == 42", { a: "int" }, { a: 42n })).toEqual(T);
    expect(evaluate("a == 9223372036854775807", { a: "int" }, { a: "9223372036854775807" })).toEqual(T);
    expect(evaluate("a < 0", { a: "int" }, { a: -3 })).toEqual(T);
    expect(evaluate("count < limit", { count: "uint", limit: "uint" }, { count: 3, limit: 4 })).toEqual(T);
    expect(evaluate("count < limit", { count: "uint", limit: "uint" }, { count: 4, limit: 4 })).toEqual(F);
  });

  it("doubles, strings, bools and bytes", () => {
    expect(evaluate("d > 1.5 && d < 2.5", { d: "double" }, { d: 2 })).toEqual(T);
    expect(evaluate("s.startsWith('he')", { s: "string" }, { s: "hello" })).toEqual(T);
    expect(evaluate("b", { b: "bool" }, { b: false })).toEqual(F);
    expect(evaluate("x == b'hi'", { x: "bytes" }, { x: "aGk=" })).toEqual(T);
    expect(evaluate("x.size() == 3", { x: "bytes" }, { x: new Uint8Array([1, 2, 3]) })).toEqual(T);
  });

  it("timestamps from RFC 3339 strings and durations from Go duration strings", () => {
    const declared = { current_time: "timestamp", expiration: "timestamp" };
    expect(
      evaluate("current_time < expiration", declared, {
        current_time: "2023-01-01T00:00:00Z",
        expiration: "2024-12-01T00:00:00Z",
      }),
    ).toEqual(T);
    expect(
      evaluate("current_time < expiration", declared, {
        current_time: "2024-10-03T07:16:28.068632-07:00",
        expiration: "2024-10-03T14:16:28.000Z",
      }),
    ).toEqual(F);
    const window = { now: "timestamp", start: "timestamp", window: "duration" };
    const ctx = { start: "2026-01-01T00:00:00Z", window: "1h30m" };
    expect(evaluate("now < start + window", window, { ...ctx, now: "2026-01-01T01:29:59Z" })).toEqual(T);
    expect(evaluate("now < start + window", window, { ...ctx, now: "2026-01-01T01:30:00Z" })).toEqual(F);
    expect(evaluate("d == duration('10s')", { d: "duration" }, { d: "10s" })).toEqual(T);
    expect(evaluate("d == duration('-1.5h')", { d: "duration" }, { d: "-1h30m" })).toEqual(T);
    expect(evaluate("d < duration('1ms')", { d: "duration" }, { d: "999us" })).toEqual(T);
    expect(
      evaluate("t == timestamp('2024-01-01T00:00:00Z')", { t: "timestamp" }, { t: new Date("2024-01-01") }),
    ).toEqual(T);
  });

  it("lists, maps and any recursively", () => {
    expect(
      evaluate("me in teams", { me: "string", teams: "list<string>" }, { me: "B", teams: ["A", "B"] }),
    ).toEqual(T);
    expect(evaluate("l.all(i, i >= 42)", { l: "list<int>" }, { l: [42, 43] })).toEqual(T);
    expect(evaluate("l.all(i, i >= 42)", { l: "list<int>" }, { l: [42, 41] })).toEqual(F);
    expect(evaluate("l.all(i, i >= 42)", { l: "list<int>" }, { l: [] })).toEqual(T);
    expect(
      evaluate(
        "m.a < m.b",
        { m: "map<timestamp>" },
        { m: { a: "2020-01-01T00:00:00Z", b: "2021-01-01T00:00:00Z" } },
      ),
    ).toEqual(T);
    expect(evaluate("m['x'].exists(v, v == 2)", { m: "map<list<int>>" }, { m: { x: [1, 2] } })).toEqual(T);
    const somemap = { somemap: "map<any>" };
    const expr = "somemap.foo == 42 && somemap.bar < 56";
    expect(evaluate(expr, somemap, { somemap: { foo: 42, bar: 10 } })).toEqual(T);
    expect(evaluate(expr, somemap, { somemap: { foo: 42, bar: -2 } })).toEqual(T);
    expect(evaluate(expr, somemap, { somemap: { foo: 42, bar: 56 } })).toEqual(F);
    expect(evaluate(expr, somemap, { somemap: { foo: 41 } })).toEqual(F);
    // A map is a map, not an object: its prototype is not reachable.
    expect(evaluate("has(m.constructor)", { m: "map<any>" }, { m: {} })).toEqual(F);
    expect(evaluate("a.x.y == 'z'", { a: "any" }, { a: { x: { y: "z" } } })).toEqual(T);
  });

  it("a value that does not convert is an error naming the parameter and type", () => {
    const cases: [string, Record<string, string>, Record<string, unknown>, string][] = [
      ["a == 1", { a: "int" }, { a: "one" }, "a must be int"],
      ["a == 1", { a: "int" }, { a: 1.5 }, "a must be int"],
      ["a == 1", { a: "int" }, { a: "9223372036854775808" }, "a must be int"],
      ["a == 1u", { a: "uint" }, { a: -1 }, "a must be uint"],
      ["b", { b: "bool" }, { b: "true" }, "b must be bool"],
      ["s == ''", { s: "string" }, { s: 1 }, "s must be string"],
      ["t < t", { t: "timestamp" }, { t: "2023-02-30T00:00:00Z" }, "t must be timestamp"],
      ["d < d", { d: "duration" }, { d: "1 hour" }, "d must be duration"],
      ["ip.in_cidr('10.0.0.0/8')", { ip: "ipaddress" }, { ip: "10.1" }, "ip must be ipaddress"],
      ["l.size() == 0", { l: "list<int>" }, { l: [1, "two"] }, "l[1] must be int"],
      ["m.size() == 0", { m: "map<int>" }, { m: { k: "v" } }, "m.k must be int"],
      ["m.size() == 0", { m: "map<int>" }, { m: [1] }, "m must be map<int>"],
      ["x.size() == 0", { x: "bytes" }, { x: "not base64!" }, "x must be bytes"],
    ];
    for (const [expression, declared, context, message] of cases) {
      const result = evaluate(expression, declared, context);
      expect(result.kind, expression).toBe("error");
      expect(result.kind === "error" && result.message).toContain(message);
      // Told apart from a failed evaluation: SpiceDB's API answers it with its own reason.
      const parameter = Object.keys(declared)[0];
      expect(result, expression).toMatchObject({ reason: "parameter-type", parameter });
    }
  });

  it("a runtime error is an error result, never true", () => {
    expect(evaluate("m.missing == 1", { m: "map<int>" }, { m: {} }).kind).toBe("error");
    expect(evaluate("a / b == 1", { a: "int", b: "int" }, { a: 1, b: 0 }).kind).toBe("error");
    expect(evaluate("s.matches('[')", { s: "string" }, { s: "x" })).not.toHaveProperty("reason");
    // An error absorbed by || the CEL way (commutatively) still decides.
    expect(evaluate("a / b == 1 || c", { a: "int", b: "int", c: "bool" }, { a: 1, b: 0, c: true })).toEqual(
      T,
    );
  });

  it("never throws, even for a context that is not an object or whose getters throw", () => {
    const c = compileCondition("a == 1", params({ a: "int" }));
    expect(c.evaluate(null as unknown as Record<string, unknown>)).toEqual({
      kind: "missing",
      missing: ["a"],
    });
    const hostile = Object.defineProperty({}, "a", {
      enumerable: true,
      get() {
        throw new Error("no");
      },
    });
    expect(c.evaluate(hostile).kind).toBe("error");
  });

  it("ignores context keys that are not parameters", () => {
    expect(evaluate("a == 1", { a: "int" }, { a: 1, other: "x" })).toEqual(T);
  });
});

describe("ipaddress", () => {
  const declared = { user_ip: "ipaddress", cidr: "string" };
  const inCidr = compileCondition("user_ip.in_cidr(cidr)", params(declared));

  it.each([
    ["10.2.3.4", "10.0.0.0/8", true],
    ["10.1.3.4", "10.1.0.0/16", true],
    ["10.2.3.4", "10.1.0.0/16", false],
    ["1.2.3.4", "10.0.0.0/8", false],
    ["192.168.1.255", "192.168.1.0/24", true],
    ["0.0.0.0", "0.0.0.0/0", true],
    ["2001:db8::1", "2001:db8::/32", true],
    ["2001:db9::1", "2001:db8::/32", false],
    ["::1", "::1/128", true],
    ["::ffff:10.0.0.1", "10.0.0.0/8", false],
    ["10.0.0.1", "::/0", false],
  ])("%s in %s is %s", (ip, cidr, expected) => {
    expect(inCidr.evaluate({ user_ip: ip, cidr })).toEqual({ kind: expected ? "true" : "false" });
  });

  it("an invalid range is an error, never an allow", () => {
    expect(inCidr.evaluate({ user_ip: "10.0.0.1", cidr: "10.0.0.0/33" }).kind).toBe("error");
    expect(
      compileCondition("!user_ip.in_cidr(cidr)", params(declared)).evaluate({
        user_ip: "10.0.0.1",
        cidr: "nope",
      }).kind,
    ).toBe("error");
  });

  it("parses strictly and compares by value", () => {
    expect(parseIPAddress("10.0.0.1")).toBeInstanceOf(IPAddress);
    expect(parseIPAddress("fe80::1")).toBeInstanceOf(IPAddress);
    for (const bad of ["10.1", "010.0.0.1", "0xa.0.0.1", "10.0.0.256", "", "::g", "1.2.3.4/8"]) {
      expect(parseIPAddress(bad), bad).toBeUndefined();
    }
    expect(
      evaluate("ip == ipaddress('2001:db8:0:0::1')", { ip: "ipaddress" }, { ip: "2001:db8::1" }),
    ).toEqual(T);
    expect(evaluate("ip != ipaddress('10.0.0.2')", { ip: "ipaddress" }, { ip: "10.0.0.1" })).toEqual(T);
  });
});

describe("convertContext", () => {
  const declared = params({ a: "int", t: "timestamp", l: "list<duration>" });

  it("returns CEL values for the declared parameters present", () => {
    const out = convertContext(declared, { a: 1, t: "2024-01-01T00:00:00Z", l: ["1s"], extra: true });
    expect(out.a).toBe(1n);
    expect(out.t).toEqual(new Date("2024-01-01T00:00:00Z"));
    expect(Array.isArray(out.l)).toBe(true);
    expect(Object.keys(out).sort()).toEqual(["a", "l", "t"]);
  });

  it("throws condition/bad-context naming the parameter", () => {
    try {
      convertContext(declared, { l: ["1s", "forever"] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConditionError);
      const e = error as ConditionError;
      expect(e.code).toBe("condition/bad-context");
      expect(e.details).toMatchObject({ parameter: "l", path: "l[1]", expected: "duration" });
    }
  });

  it("says what kind of value failed, never the value (messages reach the server's log)", () => {
    const secret = "4111-1111-1111-1111";
    for (const context of [{ a: secret }, { t: secret }, { l: [secret] }]) {
      try {
        convertContext(declared, context);
        expect.unreachable();
      } catch (error) {
        expect((error as Error).message).toMatch(/got a string \(19 characters\)$/);
        expect((error as Error).message).not.toContain("4111");
      }
    }
  });
});

describe("parseDuration", () => {
  it.each([
    ["0", 0],
    ["10s", 10_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1_500],
    ["-300ms", -300],
    ["+2m", 120_000],
    ["1h1m1s1ms", 3_661_001],
    [".5s", 500],
  ])("%s is %i ms", (text, ms) => {
    expect(Number(parseDuration(text))).toBe(ms);
  });

  it.each(["", "1", "s", "1x", "1h 30m", "--1s", "1.s.", "1e3s"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
