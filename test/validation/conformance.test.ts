/** Every SpiceDB validation file in the conformance folder passes through our runner. */
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { formatReport, runValidationFile } from "../../src/validation/index.js";

const root = resolve(import.meta.dirname, "../..");
const dir = resolve(root, process.env.LATCH_CONFORMANCE_DIR ?? "../shared/conformance/spicedb");
const present = existsSync(dir);
const required = process.env.LATCH_REQUIRE_CONFORMANCE === "1";

if (!present && required) {
  describe("SpiceDB conformance files", () => {
    it("are present (LATCH_REQUIRE_CONFORMANCE=1)", () => {
      expect.fail(`conformance folder ${dir} is missing`);
    });
  });
}

describe.skipIf(!present)(`SpiceDB conformance files (skipped: ${dir} not found)`, () => {
  const files = present
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .sort()
    : [];
  it("has files to run", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    it(file, async () => {
      const report = await runValidationFile(join(dir, file));
      const failed = report.error !== undefined || report.failures.length > 0;
      expect(failed, formatReport(report)).toBe(false);
      expect(report.assertions).toBeGreaterThanOrEqual(0);
    });
  }
});
