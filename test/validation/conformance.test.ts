import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatReport, runValidationFile } from "../../src/validation/index.js";
import { conformanceDir, conformanceFileNames, skipConformance } from "../core/conformance-files.js";

// Throws (failing the file) when LATCH_REQUIRE_CONFORMANCE=1 and the folder is missing.
const skip = skipConformance();

describe.skipIf(skip)("SpiceDB conformance files", () => {
  const files = conformanceFileNames();
  it("has files to run", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    it(file, async () => {
      const report = await runValidationFile(join(conformanceDir, file));
      const failed = report.error !== undefined || report.failures.length > 0;
      expect(failed, formatReport(report)).toBe(false);
      expect(report.assertions).toBeGreaterThanOrEqual(0);
    });
  }
});
