import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import type { ParameterType } from "../../src/conditions/index.js";
import { compileCondition, parseParameterType } from "../../src/conditions/index.js";
import { conformanceFiles, skipConformance } from "../core/conformance-files.js";

/** `caveat name(p type, ...) { expression }` blocks, read loosely: the schema parser is elsewhere. */
const CAVEAT = /caveat\s+([a-z][a-z0-9_/]*)\s*\(([^)]*)\)\s*\{([^}]*)\}/g;

describe.skipIf(skipConformance())("caveats of the SpiceDB validation files", () => {
  it("every caveat compiles against its declared parameters", () => {
    let compiled = 0;
    for (const { name, text } of conformanceFiles()) {
      const schema = (parseYaml(text) as { schema?: unknown }).schema;
      if (typeof schema !== "string") continue;
      for (const m of schema.matchAll(CAVEAT)) {
        const parameters = new Map<string, ParameterType>();
        for (const declaration of (m[2] ?? "").split(",")) {
          const [param, ...typeWords] = declaration.trim().split(/\s+/);
          const type = parseParameterType(typeWords.join(" "));
          expect(type, `${name}: ${declaration}`).toBeDefined();
          parameters.set(param!, type!);
        }
        expect(
          () => compileCondition((m[3] ?? "").trim(), parameters),
          `${name}: caveat ${m[1]}`,
        ).not.toThrow();
        compiled++;
      }
    }
    expect(compiled).toBeGreaterThan(20);
  });
});
