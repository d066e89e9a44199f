import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  compileSchema,
  formatSchema,
  parseSchema,
  renderDiagnostics,
  SchemaError,
} from "../../src/schema/index.js";
import { dumpSchema, expectGolden, goldenRoot, listFiles } from "./helpers.js";

const validDir = join(goldenRoot, "valid");
const invalidDir = join(goldenRoot, "invalid");

describe("valid schemas: AST, IR and canonical text", () => {
  const files = listFiles(validDir, ".zed").filter((f) => !f.endsWith(".formatted.zed"));
  it("has cases", () => expect(files.length).toBeGreaterThanOrEqual(8));
  for (const file of files) {
    it(file, () => {
      const text = readFileSync(join(validDir, file), "utf8");
      const base = join(validDir, file.replace(/\.zed$/, ""));
      const parsed = parseSchema(text, { file });
      expect(parsed.diagnostics).toEqual([]);
      expectGolden(`${base}.ast.json`, `${JSON.stringify(parsed.ast, null, 2)}\n`);
      expectGolden(`${base}.ir.json`, dumpSchema(compileSchema(text, { file })));
      const formatted = formatSchema(text);
      expectGolden(`${base}.formatted.zed`, formatted);
      expect(formatSchema(formatted)).toBe(formatted);
    });
  }
});

describe("invalid schemas: rendered diagnostics", () => {
  const files = listFiles(invalidDir, ".zed");
  it("has at least 30 cases", () => expect(files.length).toBeGreaterThanOrEqual(30));
  for (const file of files) {
    it(file, () => {
      const text = readFileSync(join(invalidDir, file), "utf8");
      let error: unknown;
      try {
        compileSchema(text, { file });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SchemaError);
      const diagnostics = (error as SchemaError).diagnostics;
      expect(diagnostics.length).toBeGreaterThan(0);
      for (const d of diagnostics) {
        expect(d.code).toMatch(/^schema\/[a-z-]+$/);
        expect(d.file).toBe(file);
      }
      expectGolden(join(invalidDir, file.replace(/\.zed$/, ".txt")), `${renderDiagnostics(diagnostics)}\n`);
    });
  }
});
