import { describe, expect, it } from "vitest";
import { compileSchema, formatSchema, renderDiagnostics, SchemaError } from "../../src/schema/index.js";
import { conformanceDir, conformancePresent, conformanceSchemas, requireConformance } from "./helpers.js";

function compileOrExplain(schema: string, file: string) {
  try {
    return compileSchema(schema, { file });
  } catch (error) {
    if (error instanceof SchemaError) throw new Error(renderDiagnostics(error.diagnostics));
    throw error;
  }
}

if (!conformancePresent && !requireConformance) {
  console.warn(`schema conformance tests skipped: ${conformanceDir} not found (set LATCH_CONFORMANCE_DIR)`);
}

it.runIf(requireConformance)("the conformance folder is present (LATCH_REQUIRE_CONFORMANCE=1)", () => {
  expect(conformancePresent, `missing ${conformanceDir}`).toBe(true);
});

describe.skipIf(!conformancePresent)(`SpiceDB conformance schemas (${conformanceDir})`, () => {
  const cases = conformancePresent ? conformanceSchemas() : [];

  it("finds all 73 validation files", () => {
    expect(cases.length).toBe(73);
  });

  for (const { file, schema } of cases) {
    it(`${file} compiles and its canonical text round-trips`, () => {
      expect(schema.trim()).not.toBe("");
      const compiled = compileOrExplain(schema, file);
      expect(compiled.definitions.size).toBeGreaterThan(0);
      const formatted = formatSchema(schema);
      expect(formatSchema(formatted)).toBe(formatted);
      // Formatting changes no meaning: same IR hash before and after.
      expect(compileSchema(formatted).hash).toBe(compiled.hash);
    });
  }
});
