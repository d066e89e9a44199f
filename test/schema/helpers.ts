/** Shared helpers for the schema tests: golden files, IR dumps and the conformance corpus. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { parse as parseYaml } from "yaml";
import { formatParameterType } from "../../src/conditions/index.js";
import type { CompiledSchema } from "../../src/schema/index.js";
import { conformanceDir, conformanceFileNames } from "../core/conformance-files.js";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const goldenRoot = join(repoRoot, "test/golden/schema");
export const updateGolden = process.env.UPDATE_GOLDEN === "1";

/** Compares with the expectation file, or rewrites it when UPDATE_GOLDEN=1. A missing file fails. */
export function expectGolden(path: string, actual: string): void {
  if (updateGolden) {
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) {
    throw new Error(`missing golden file ${path}; run with UPDATE_GOLDEN=1 to create it, then review it`);
  }
  expect(actual).toBe(readFileSync(path, "utf8"));
}

export function listFiles(dir: string, suffix: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(suffix))
        .sort()
    : [];
}

/** A JSON view of the IR (Maps as objects, compiled CEL programs left out). */
export function dumpSchema(schema: CompiledSchema): string {
  const value = {
    hash: schema.hash,
    useExpiration: schema.useExpiration,
    caveats: Object.fromEntries(
      [...schema.caveats].map(([name, c]) => [
        name,
        {
          parameters: Object.fromEntries([...c.parameters].map(([p, t]) => [p, formatParameterType(t)])),
          expression: c.expression,
          ...(c.comment === undefined ? {} : { comment: c.comment }),
        },
      ]),
    ),
    definitions: Object.fromEntries(
      [...schema.definitions].map(([name, d]) => [
        name,
        {
          ...(d.comment === undefined ? {} : { comment: d.comment }),
          members: Object.fromEntries([...d.members].map(([m, def]) => [m, def])),
        },
      ]),
    ),
  };
  return `${JSON.stringify(value, null, 2)}\n`;
}

export { conformanceAvailable as conformancePresent, conformanceDir } from "../core/conformance-files.js";
export const requireConformance = process.env.LATCH_REQUIRE_CONFORMANCE === "1";

/** The `schema:` of every SpiceDB validation file, by file name. */
export function conformanceSchemas(): { file: string; schema: string }[] {
  return conformanceFileNames().map((file) => {
    const doc = parseYaml(readFileSync(join(conformanceDir, file), "utf8")) as { schema?: unknown };
    return { file, schema: typeof doc.schema === "string" ? doc.schema : "" };
  });
}

export function exampleSchemas(): { file: string; schema: string }[] {
  const dir = join(repoRoot, "schemas");
  return listFiles(dir, ".zed").map((file) => ({ file, schema: readFileSync(join(dir, file), "utf8") }));
}
