import { describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import { createSourceFile } from "../../src/schema/diagnostics.js";
import { fnv1a64 } from "../../src/schema/hash.js";
import type { PermissionExpr } from "../../src/schema/index.js";
import {
  compileSchema,
  formatCompiled,
  formatSchema,
  getDefinition,
  getMember,
  parseSchema,
  SchemaError,
} from "../../src/schema/index.js";
import { tokenize } from "../../src/schema/lexer.js";

function permission(schema: string, type: string, name: string): PermissionExpr {
  const member = getMember(compileSchema(schema), type, name);
  if (member?.kind !== "permission") throw new Error(`${type}#${name} is not a permission`);
  return member.expr;
}

function errorOf(text: string): SchemaError {
  try {
    compileSchema(text);
  } catch (error) {
    if (error instanceof SchemaError) return error;
    throw error;
  }
  throw new Error("expected a SchemaError");
}

const base =
  "definition user {}\ndefinition doc {\n relation aaa: user\n relation bbb: user\n relation ccc: user\n";

describe("lexer", () => {
  it("gives tokens offsets, lines and columns, and keeps comments aside", () => {
    const source = createSourceFile("// hi\ndefinition acme/doc {\n  relation r: user }");
    const { tokens, comments } = tokenize(source);
    const ident = tokens.find((t) => t.text === "acme/doc");
    expect(ident).toMatchObject({ kind: "ident", start: 17, end: 25, line: 2, column: 12 });
    expect(comments).toEqual([{ text: "// hi", start: 0, end: 5, ownLine: true }]);
    expect(tokens.at(-1)?.kind).toBe("eof");
  });

  it("captures a caveat body raw, braces inside strings and maps included", () => {
    const source = createSourceFile("caveat c(a string) { a != '}' && {'k': 1}['k'] == 1 }");
    const { tokens, diagnostics } = tokenize(source);
    expect(diagnostics).toEqual([]);
    const cel = tokens.find((t) => t.kind === "cel");
    expect(cel?.text).toBe(" a != '}' && {'k': 1}['k'] == 1 ");
  });

  it("refuses U+0000 and lone surrogates anywhere, comments and caveat bodies included", () => {
    for (const [text, line, column] of [
      ["definition user {}\n// a\u0000b\n", 2, 5],
      ["caveat c(a string) { a == '\ud800' }\ndefinition user {}", 1, 28],
      ["definition user {} /* \udc00 */", 1, 23],
      ["definition us\u0000er {}", 1, 14],
    ] as const) {
      const error = errorOf(text);
      // Once, not again as an unexpected character (a name cut in two adds a syntax error after it).
      expect(error.diagnostics.filter((d) => d.code === "schema/invalid-character")).toHaveLength(1);
      expect(error.diagnostics[0]).toMatchObject({ code: "schema/invalid-character", line, column });
      expect(error.message).toContain("U+0000 or a lone surrogate");
    }
    // A surrogate pair is one well-formed character: fine in a comment.
    expect(() => compileSchema("// 😀\ndefinition user {}")).not.toThrow();
  });
});

describe("parser and IR", () => {
  it("follows SpiceDB precedence: + over & over -, left-associative", () => {
    const schema = `${base} permission per_one = aaa - bbb + ccc\n permission per_two = aaa + bbb & ccc\n permission per_three = aaa - bbb - ccc\n}`;
    expect(permission(schema, "doc", "per_one")).toEqual({
      kind: "exclusion",
      base: { kind: "computed", name: "aaa" },
      subtract: {
        kind: "union",
        children: [
          { kind: "computed", name: "bbb" },
          { kind: "computed", name: "ccc" },
        ],
      },
    });
    expect(permission(schema, "doc", "per_two")).toMatchObject({
      kind: "intersection",
      children: [{ kind: "union" }, { kind: "computed", name: "ccc" }],
    });
    expect(permission(schema, "doc", "per_three")).toMatchObject({
      kind: "exclusion",
      base: { kind: "exclusion", base: { name: "aaa" }, subtract: { name: "bbb" } },
      subtract: { name: "ccc" },
    });
  });

  it("compiles arrows in all three spellings", () => {
    const schema =
      "definition user {}\ndefinition team { relation member: user }\n" +
      "definition doc { relation team: team\n permission per_one = team->member\n permission per_two = team.any(member)\n permission per_three = team.all(member) }";
    expect(permission(schema, "doc", "per_one")).toEqual({
      kind: "arrow",
      tupleset: "team",
      computed: "member",
      mode: "any",
    });
    expect(permission(schema, "doc", "per_two")).toEqual(permission(schema, "doc", "per_one"));
    expect(permission(schema, "doc", "per_three")).toMatchObject({ mode: "all" });
  });

  it("records allowed subjects with wildcard, subject relation, caveat and expiration", () => {
    const compiled = compileSchema(
      "use expiration\ncaveat cav(x int) { x > 1 }\ndefinition user {}\ndefinition grp { relation member: user }\n" +
        "definition doc { relation viewer: user:* | grp#member with cav and expiration }",
    );
    const viewer = getMember(compiled, "doc", "viewer");
    expect(viewer?.kind === "relation" ? viewer.allowed : undefined).toEqual([
      { type: "user", wildcard: true, expiration: false },
      { type: "grp", relation: "member", wildcard: false, caveat: "cav", expiration: true },
    ]);
    expect(getDefinition(compiled, "nope")).toBeUndefined();
    expect(getMember(compiled, "doc", "nope")).toBeUndefined();
    expect(compiled.caveats.get("cav")?.condition.evaluate({ x: 2 })).toEqual({ kind: "true" });
  });

  it("keeps spans in the AST and reports syntax errors as diagnostics, not exceptions", () => {
    const { ast, diagnostics } = parseSchema(
      "definition user {}\ndefinition doc {\n relation viewer user\n}",
    );
    expect(diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([["schema/syntax", 3, 18]]);
    const first = ast.statements[0];
    expect(first?.kind === "definition" ? first.name.span : undefined).toEqual({ start: 11, end: 15 });
  });

  it("reports several independent errors in one go", () => {
    const error = errorOf(
      `${base} permission per_one = nope\n permission per_two = zzz->yyy\n relation ddd: ghost\n}`,
    );
    expect(error.code).toBe("schema/invalid");
    expect(error.kind).toBe("invalid-argument");
    expect(isLatchError(error)).toBe(true);
    expect(error.diagnostics.map((d) => d.code)).toEqual([
      "schema/unknown-relation",
      "schema/unknown-relation",
      "schema/unknown-type",
    ]);
  });

  it("maps a CEL error offset to the schema line and column", () => {
    const error = errorOf("caveat cav(limit int, name string) {\n  limit > 1 &&\n    name > 2\n}");
    const [d] = error.diagnostics;
    expect(d?.code).toBe("schema/caveat-type");
    expect(d?.line).toBeGreaterThanOrEqual(2);
    expect(d?.excerpt.split("\n")[1]).toMatch(/\^/);
  });
});

describe("formatter and hash", () => {
  it("hashes equal for schemas that differ only in layout, comments or statement order", () => {
    const a = compileSchema(
      "definition user {}\ndefinition doc { relation viewer: user; permission view = viewer }",
    );
    const b = compileSchema(
      "// docs\ndefinition doc {\n  relation viewer: user\n\n  permission view = (viewer)\n}\n\ndefinition user {}\n",
    );
    const c = compileSchema(
      "definition user {}\ndefinition doc { relation viewer: user; permission view = viewer + nil }",
    );
    expect(a.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(b.hash).toBe(a.hash);
    expect(c.hash).not.toBe(a.hash);
  });

  it("prints the IR back to text that compiles to the same schema", () => {
    const text =
      "use expiration\ndefinition user {}\n/** d */\ndefinition doc { relation viewer: user with expiration }";
    const compiled = compileSchema(text);
    const printed = formatCompiled(compiled);
    expect(printed).toContain("/** d */");
    expect(compileSchema(printed).hash).toBe(compiled.hash);
    expect(formatSchema(printed)).toBe(printed);
  });

  it("computes FNV-1a 64 reference values", () => {
    expect(fnv1a64("")).toBe("cbf29ce484222325");
    expect(fnv1a64("a")).toBe("af63dc4c8601ec8c");
  });

  it("refuses to format an invalid schema", () => {
    expect(() => formatSchema("definition {")).toThrow(SchemaError);
  });
});
