/**
 * Accessibility cross-check on every SpiceDB validation file: for every object type × permission ×
 * subject in the file's data, LookupResources and LookupSubjects agree with Check, with no context
 * and with each context the file's assertions use.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createEngine } from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { parseRelationshipsBlock, type ValidationDocument } from "../../src/validation/index.js";
import { conformanceDir, conformanceFileNames, skipConformance } from "../core/conformance-files.js";
import { crossCheck, engineOracle } from "../engine/lookup-crosscheck.js";

// Throws (failing the file) when LATCH_REQUIRE_CONFORMANCE=1 and the folder is missing.
const skip = skipConformance();

/** Distinct assertion contexts, a few at most, so caveats are exercised with and without them. */
function contextsOf(doc: ValidationDocument): (Record<string, unknown> | undefined)[] {
  const seen = new Map<string, Record<string, unknown>>();
  for (const list of Object.values(doc.assertions ?? {})) {
    for (const text of list ?? []) {
      const at = text.search(/\swith\s*\{/);
      if (at < 0) continue;
      const json = text.slice(text.indexOf("{", at));
      seen.set(json, JSON.parse(json) as Record<string, unknown>);
    }
  }
  return [undefined, ...[...seen.values()].slice(0, 3)];
}

describe.skipIf(skip)("lookup cross-check on the SpiceDB conformance files", () => {
  const files = conformanceFileNames();
  it("has files to run", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    it(file, async () => {
      const path = join(conformanceDir, file);
      const doc = (parseYaml(readFileSync(path, "utf8")) ?? {}) as ValidationDocument;
      const schemaText = doc.schema ?? readFileSync(resolve(dirname(path), doc.schemaFile ?? ""), "utf8");
      const relationships = parseRelationshipsBlock(doc.relationships);
      const store = await createSqliteStore({ path: ":memory:" });
      try {
        await store.writeSchema(schemaText);
        if (relationships.length > 0) await store.importRelationships(relationships);
        const engine = createEngine({ store, quantizationMs: 0 });
        const { problems, stats } = await crossCheck(
          engine,
          compileSchema(schemaText),
          relationships,
          engineOracle(engine),
          contextsOf(doc),
        );
        if (process.env.LATCH_LOOKUP_STATS === "1") console.log(file, JSON.stringify(stats));
        expect(problems, `${file}:\n  ${problems.join("\n  ")}`).toEqual([]);
        expect(stats.lookupResources + stats.lookupSubjects).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
    });
  }
});
