import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCodes, renderTable, SOURCE_PATH, TABLE_PATH } from "../../scripts/error-codes-table.js";
import {
  CliErrorCodes,
  DiagnosticCodes,
  ErrorCodes,
  isLatchError,
  LatchError,
} from "../../src/core/index.js";

const source = readFileSync(SOURCE_PATH, "utf8");
const LISTS = { ErrorCodes, DiagnosticCodes, CliErrorCodes } as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "gen" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") && path !== SOURCE_PATH ? [path] : [];
  });
}

/** Codes no literal names, because a template builds them; each with the start of that template. */
const BUILT_BY_TEMPLATE: Readonly<Record<string, string>> = {
  "relationship/context-too-large": "`relationship/context-too-",
  "relationship/context-too-deep": "`relationship/context-too-",
  "schema/duplicate-relation": "`schema/duplicate-",
  "schema/duplicate-permission": "`schema/duplicate-",
};

describe("error codes", () => {
  it("docs/error-codes.md is what scripts/error-codes-table.ts makes (run it after changing a code)", () => {
    expect(readFileSync(TABLE_PATH, "utf8")).toBe(renderTable(source));
  });

  it("every entry of every list has its one-line comment, so it is in the table", () => {
    for (const [name, list] of Object.entries(LISTS)) {
      const parsed = parseCodes(source, name, name === "ErrorCodes");
      expect(parsed.map((e) => [e.key, e.code])).toEqual(Object.entries(list));
      for (const e of parsed) expect(e.meaning.length, e.key).toBeGreaterThan(10);
    }
  });

  it("no code is listed twice, within a list or across lists", () => {
    const all = Object.values(LISTS).flatMap((list) => Object.values(list) as string[]);
    expect(new Set(all).size).toBe(all.length);
  });

  it("every listed code is raised somewhere in src (no stale entries)", () => {
    const text = sourceFiles(join(SOURCE_PATH, "../.."))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const missing = Object.values(LISTS)
      .flatMap((list) => Object.values(list) as string[])
      .filter(
        (code) => !text.includes(`"${code}"`) && !text.includes(BUILT_BY_TEMPLATE[code] ?? `"${code}"`),
      );
    expect(missing).toEqual([]);
  });
});

describe("isLatchError", () => {
  it("recognises LatchErrors and their subclasses, and nothing else", () => {
    class Sub extends LatchError {}
    expect(isLatchError(new LatchError("check/no-schema", "failed-precondition", "no schema"))).toBe(true);
    expect(isLatchError(new Sub("check/no-schema", "failed-precondition", "no schema"))).toBe(true);
    for (const value of [
      new Error("x"),
      { code: "check/no-schema", kind: "internal" },
      null,
      undefined,
      "e",
      1,
    ]) {
      expect(isLatchError(value)).toBe(false);
    }
  });

  it("goes by the Symbol.for brand, not the class: an error of another copy of Latch counts", () => {
    const foreign = Object.create({ [Symbol.for("latch.LatchError")]: true }) as object;
    expect(isLatchError(foreign)).toBe(true);
  });

  it("recognises errors of a second instance of the module, both ways", async () => {
    // A query string makes the module runner load src/core/errors.ts again: a second LatchError
    // class, as when two copies of the package are installed.
    const specifier = "../../src/core/errors.ts?second-copy";
    const copy = (await import(/* @vite-ignore */ specifier)) as typeof import("../../src/core/errors.js");
    expect(copy.LatchError).not.toBe(LatchError);
    const theirs = new copy.LatchError("check/no-schema", "failed-precondition", "no schema");
    const ours = new LatchError("check/no-schema", "failed-precondition", "no schema");
    expect(theirs instanceof LatchError).toBe(false);
    expect(isLatchError(theirs)).toBe(true);
    expect(copy.isLatchError(ours)).toBe(true);
  });

  it("keeps the brand off the instance: own keys and JSON are as before", () => {
    const error = new LatchError("check/no-schema", "failed-precondition", "no schema", { a: 1 });
    expect(Object.getOwnPropertySymbols(error)).toEqual([]);
    expect(Object.keys(error).sort()).toEqual(["code", "details", "kind", "name"]);
  });
});
