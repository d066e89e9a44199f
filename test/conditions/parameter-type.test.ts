import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatParameterType, type ParameterType, parseParameterType } from "../../src/conditions/index.js";

const SCALARS = [
  "any",
  "bool",
  "string",
  "int",
  "uint",
  "double",
  "bytes",
  "duration",
  "timestamp",
  "ipaddress",
];

const parameterType: fc.Arbitrary<ParameterType> = fc.letrec((tie) => ({
  type: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...SCALARS).map((kind) => ({ kind }) as ParameterType),
    tie("type").map((element) => ({ kind: "list", element }) as ParameterType),
    tie("type").map((value) => ({ kind: "map", value }) as ParameterType),
  ),
})).type;

describe("parameter types", () => {
  it("reads every scalar and nested generics", () => {
    for (const name of SCALARS) expect(parseParameterType(name)).toEqual({ kind: name });
    expect(parseParameterType("list<string>")).toEqual({ kind: "list", element: { kind: "string" } });
    expect(parseParameterType(" map < list<int> > ")).toEqual({
      kind: "map",
      value: { kind: "list", element: { kind: "int" } },
    });
  });

  it.each([
    "",
    "integer",
    "list",
    "list<>",
    "list<int",
    "list<int>>",
    "map<string, int>",
    "map<int> x",
    "List<int>",
    "list<foo>",
  ])("refuses %j", (text) => {
    expect(parseParameterType(text)).toBeUndefined();
  });

  it("round-trips generated types", () => {
    fc.assert(
      fc.property(parameterType, (type) => {
        const text = formatParameterType(type);
        expect(parseParameterType(text)).toEqual(type);
        expect(formatParameterType(parseParameterType(text)!)).toBe(text);
      }),
    );
  });
});
