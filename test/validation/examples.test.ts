/** The validation files beside the example schemas pass, and the runner reports real failures. */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { formatReport, runValidation, runValidationFile } from "../../src/validation/index.js";

const schemas = resolve(import.meta.dirname, "../../schemas");

describe("schemas/*.yaml", () => {
  // `*-config.yaml` files configure a command (latch posture), they are not validation files.
  const files = readdirSync(schemas).filter((f) => f.endsWith(".yaml") && !f.endsWith("-config.yaml"));
  it("exist for every example schema", () => {
    const zed = readdirSync(schemas).filter((f) => f.endsWith(".zed"));
    for (const z of zed) expect(files).toContain(z.replace(/\.zed$/, ".yaml"));
  });
  for (const file of files) {
    it(file, async () => {
      const report = await runValidationFile(join(schemas, file));
      expect(report.error, formatReport(report)).toBeUndefined();
      expect(report.failures, formatReport(report)).toEqual([]);
      expect(report.assertions).toBeGreaterThan(5);
    });
  }
});

describe("runValidation", () => {
  const schema = `caveat min_level(level int) {
  level > 2
}

definition user {}

definition document {
  relation viewer: user | user with min_level
  permission view = viewer
}`;

  it("reports a failing assertion with the actual result and an explanation", async () => {
    const report = await runValidation({
      schema,
      relationships: "document:d#viewer@user:a\ndocument:d#viewer@user:b[min_level]",
      assertions: {
        assertTrue: ["document:d#view@user:a", "document:d#view@user:b"],
        assertFalse: ['document:d#view@user:b with {"level": 1}'],
        assertCaveated: ["document:d#view@user:a"],
      },
    });
    expect(report.relationships).toBe(2);
    expect(report.assertions).toBe(4);
    expect(report.failures.map((f) => [f.assertion, f.actual])).toEqual([
      ["document:d#view@user:b", "CONDITIONAL"],
      ["document:d#view@user:a", "ALLOWED"],
    ]);
    expect(report.failures[0]?.missing).toEqual(["level"]);
    expect(report.failures[0]?.explain?.state).toBe("CONDITIONAL");
    const text = formatReport(report);
    expect(text).toContain("caveat min_level");
    expect(text).toMatch(/2 relationships loaded, 4 assertions run, 2 failed$/);
  });

  it("compares expected relations", async () => {
    const report = await runValidation({
      schema,
      relationships: "document:d#viewer@user:a",
      validation: {
        "document:d#view": ["[user:a] is <document:d#viewer>", "[user:z] is <document:d#viewer>"],
      },
    });
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({
      kind: "validation",
      expected: "user:a, user:z",
      actual: "user:a",
    });
  });

  it("reports a schema that does not compile as a load error", async () => {
    const report = await runValidation({ schema: "definition {", relationships: "" });
    expect(report.error).toBeDefined();
    expect(formatReport(report)).toMatch(/0 relationships loaded, 0 assertions run, 1 failed$/);
  });
});
