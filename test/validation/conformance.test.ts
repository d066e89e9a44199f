import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createMirroredStore } from "../../src/store/mirror/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { formatReport, runValidationFile } from "../../src/validation/index.js";
import { conformanceDir, conformanceFileNames, skipConformance } from "../core/conformance-files.js";

// Throws (failing the file) when LATCH_REQUIRE_CONFORMANCE=1 and the folder is missing.
const skip = skipConformance();

describe.skipIf(skip)("SpiceDB conformance files", () => {
  const files = conformanceFileNames();
  it("has files to run", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  // Once reading SQLite, once through the in-memory copy that serves the hot reads by default.
  const mirrored = async () => {
    const store = createMirroredStore(await createSqliteStore({ path: ":memory:" }));
    expect(await store.ready()).toBe(true);
    return store;
  };
  for (const [mode, options] of [
    ["sqlite", {}],
    ["in-memory copy", { createStore: mirrored }],
  ] as const) {
    for (const file of files) {
      it(`${file} (${mode})`, async () => {
        const report = await runValidationFile(join(conformanceDir, file), options);
        const failed = report.error !== undefined || report.failures.length > 0;
        expect(failed, formatReport(report)).toBe(false);
        expect(report.assertions).toBeGreaterThanOrEqual(0);
      });
    }
  }
});
