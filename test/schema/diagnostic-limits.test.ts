/** Bounds on what a schema with many or huge mistakes reports (issue 23, finding 2). */
import { describe, expect, it } from "vitest";
import { compileSchema, MAX_DIAGNOSTICS, SchemaError } from "../../src/schema/index.js";
import { suggest } from "../../src/schema/names.js";

function schemaError(text: string): SchemaError {
  try {
    compileSchema(text);
  } catch (error) {
    if (error instanceof SchemaError) return error;
    throw error;
  }
  throw new Error("expected a SchemaError");
}

describe("schema diagnostics stay bounded", () => {
  it("keeps the first MAX_DIAGNOSTICS and counts them all", () => {
    const lines = ["definition user {}", "definition doc {"];
    for (let i = 0; i < 1000; i++) lines.push(`  relation rel_${i}: missing_type_${i}`);
    const error = schemaError(`${lines.join("\n")}\n}`);
    expect(error.diagnostics).toHaveLength(MAX_DIAGNOSTICS);
    expect(error.diagnosticCount).toBe(1000);
    expect(error.details.diagnosticCount).toBe(1000);
    expect(error.message).toContain("(and 999 more)");
  });

  it("counts syntax errors past the limit too", () => {
    const error = schemaError(`definition user {}\n${"§\n".repeat(300)}`);
    expect(error.diagnostics.length).toBeLessThanOrEqual(MAX_DIAGNOSTICS);
    expect(error.diagnosticCount).toBe(300);
  });

  it("shows a window of a long line, with the caret under the spot", () => {
    const long = "b".repeat(900_000);
    const error = schemaError(`definition user {}\ndefinition doc { relation viewer: user | ${long} }`);
    const d = error.diagnostics.find((x) => x.code === "schema/unknown-type");
    expect(d).toBeDefined();
    const [source = "", caret = ""] = d!.excerpt.split("\n");
    expect(source.length).toBeLessThan(200);
    expect(caret.length).toBeLessThan(200);
    // The caret points at the first `b`, shown in the window.
    expect(source[caret.indexOf("^")]).toBe("b");
    expect(source[caret.indexOf("^") - 2]).toBe("|");
    expect(d!.message.length).toBeLessThan(1100);
    expect(d!.message).toContain("(900000 characters)");
  });

  it("keeps the excerpt of a normal line whole", () => {
    const error = schemaError("definition doc {\n  relation viewer: usr\n}");
    expect(error.diagnostics[0]?.excerpt).toBe("  relation viewer: usr\n                   ^^^");
  });

  it("suggests nothing for a name far longer than any valid one", () => {
    expect(suggest("x".repeat(100_000), ["x".repeat(99_999)])).toBe("");
    expect(suggest("documnet", ["document", "user"])).toBe(" (did you mean `document`?)");
  });
});
