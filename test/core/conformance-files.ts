import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The SpiceDB validation files folder, resolved from the repo root. */
export const conformanceDir = resolve(
  repoRoot,
  process.env.LATCH_CONFORMANCE_DIR ?? "../shared/conformance/spicedb",
);

export const conformanceAvailable = existsSync(conformanceDir);

/** True when the folder is absent and nobody requires it: the suite skips with one line. */
export function skipConformance(): boolean {
  if (conformanceAvailable) return false;
  if (process.env.LATCH_REQUIRE_CONFORMANCE === "1") {
    throw new Error(`LATCH_REQUIRE_CONFORMANCE=1 but the conformance folder is missing: ${conformanceDir}`);
  }
  console.log(`conformance folder ${conformanceDir} not found: skipping the SpiceDB file tests`);
  return true;
}

/** The validation files' names, sorted; empty when the folder is absent. */
export function conformanceFileNames(): string[] {
  return conformanceAvailable
    ? readdirSync(conformanceDir)
        .filter((name) => name.endsWith(".yaml"))
        .sort()
    : [];
}

export function conformanceFiles(): { name: string; text: string }[] {
  return conformanceFileNames().map((name) => ({
    name,
    text: readFileSync(resolve(conformanceDir, name), "utf8"),
  }));
}
