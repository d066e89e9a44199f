import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileSchema, formatSchema, SchemaError } from "../../src/schema/index.js";
import { conformancePresent, conformanceSchemas, exampleSchemas, goldenRoot, listFiles } from "./helpers.js";

const corpus: string[] = [
  ...exampleSchemas().map((e) => e.schema),
  ...(conformancePresent ? conformanceSchemas().map((c) => c.schema) : []),
  ...listFiles(join(goldenRoot, "valid"), ".zed").map((f) =>
    readFileSync(join(goldenRoot, "valid", f), "utf8"),
  ),
];

const FRAGMENTS = [
  "{",
  "}",
  "(",
  ")",
  "->",
  ".all(",
  ".any(",
  "|",
  "#",
  ":*",
  ":",
  "*",
  "with",
  "and expiration",
  "expiration",
  "\n",
  ";",
  "definition",
  "relation",
  "permission",
  "caveat",
  "use expiration",
  "nil",
  "+",
  "-",
  "&",
  "=",
  "/*",
  "*/",
  "//",
  "/**",
  "'",
  '"',
  "'''",
  "list<",
  ">",
  "<",
  "x(a int) {",
  "user",
  "a/b/c",
  "\t",
  "\r\n",
  "é",
  "€",
  "\u0000",
  "   ",
  ",",
  "..",
  "--",
  "==",
];

/** Either compiles (and then formats stably) or fails with diagnostics that point inside the text. */
function checkOutcome(text: string): void {
  let schema: ReturnType<typeof compileSchema> | undefined;
  try {
    schema = compileSchema(text, { file: "fuzz.zed" });
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    expect(error.diagnostics.length).toBeGreaterThan(0);
    const lines = text.split(/\r\n|\r|\n/);
    for (const d of error.diagnostics) {
      expect(d.line).toBeGreaterThanOrEqual(1);
      expect(d.line).toBeLessThanOrEqual(lines.length);
      expect(d.column).toBeGreaterThanOrEqual(1);
      expect(d.column).toBeLessThanOrEqual((lines[d.line - 1] ?? "").length + 1);
      expect(d.code).toMatch(/^schema\//);
    }
    return;
  }
  const formatted = formatSchema(text);
  expect(formatSchema(formatted)).toBe(formatted);
  expect(compileSchema(formatted).hash).toBe(schema.hash);
}

type Mutation =
  | { kind: "delete"; at: number; length: number }
  | { kind: "insert"; at: number; fragment: string }
  | { kind: "swap"; a: number; b: number }
  | { kind: "duplicate"; at: number; length: number };

function applyMutation(text: string, m: Mutation): string {
  const pos = (x: number) => Math.floor(x * (text.length + 1));
  switch (m.kind) {
    case "delete": {
      const at = pos(m.at);
      return text.slice(0, at) + text.slice(at + m.length);
    }
    case "insert": {
      const at = pos(m.at);
      return text.slice(0, at) + m.fragment + text.slice(at);
    }
    case "duplicate": {
      const at = pos(m.at);
      return text.slice(0, at) + text.slice(at, at + m.length) + text.slice(at);
    }
    case "swap": {
      // Swap two whitespace-separated tokens.
      const parts = text.split(/(\s+)/);
      const i = Math.floor(m.a * parts.length);
      const j = Math.floor(m.b * parts.length);
      const a = parts[i];
      const b = parts[j];
      if (a === undefined || b === undefined) return text;
      parts[i] = b;
      parts[j] = a;
      return parts.join("");
    }
  }
}

const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("delete" as const), at: unit, length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: unit, fragment: fc.constantFrom(...FRAGMENTS) }),
  fc.record({ kind: fc.constant("swap" as const), a: unit, b: unit }),
  fc.record({ kind: fc.constant("duplicate" as const), at: unit, length: fc.integer({ min: 1, max: 40 }) }),
);

describe("the compiler never crashes", () => {
  it("on mutated real schemas: IR or SchemaError with positions inside the text", () => {
    expect(corpus.length).toBeGreaterThan(3);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: corpus.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (index, mutations) => {
          const text = mutations.reduce(applyMutation, corpus[index] ?? "");
          checkOutcome(text);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("on random text built from schema fragments and arbitrary characters", () => {
    const piece = fc.oneof(
      fc.constantFrom(...FRAGMENTS),
      fc.string({ maxLength: 4 }),
      fc.constantFrom(" ", "\n"),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => checkOutcome(pieces.join(""))),
      { numRuns: 400 },
    );
  });
});
