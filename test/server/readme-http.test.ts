/**
 * The README's `curl` examples of the HTTP API, run as they are written against a real server:
 * each example's `# {...}` lines are the answers it must give (`…` matches any text, and the
 * answer may hold more fields than the line shows).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engine/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const run = promisify(execFile);
const README = new URL("../../README.md", import.meta.url);
const README_ADDRESS = "127.0.0.1:8443";

interface Example {
  readonly command: string;
  readonly expected: unknown[];
}

/** The examples between the README's http-examples markers, in order. */
function readmeExamples(text: string): { token: string; examples: Example[] } {
  const start = text.indexOf("<!-- http-examples:start -->");
  const end = text.indexOf("<!-- http-examples:end -->");
  if (start < 0 || end < start) throw new Error("README.md has no http-examples section");
  const lines = text.slice(start, end).split("\n");
  const token = /export LATCH_TOKEN=(\S+)/.exec(text.slice(start, end))?.[1];
  if (token === undefined) throw new Error("the examples do not export LATCH_TOKEN");
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith("curl ")) continue;
    let command = lines[i]!;
    while (command.endsWith("\\")) command = `${command.slice(0, -1)}${lines[++i]!}`;
    const expected: unknown[] = [];
    while (lines[i + 1]?.startsWith("# {")) expected.push(JSON.parse(lines[++i]!.slice(2)));
    examples.push({ command, expected });
  }
  return { token, examples };
}

/** Whether `actual` holds everything `expected` shows; the string "…" stands for any string. */
function matches(expected: unknown, actual: unknown): boolean {
  if (expected === "…") return typeof actual === "string";
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length >= expected.length &&
      expected.every((e, i) => matches(e, actual[i]))
    );
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([k, v]) => matches(v, (actual as Record<string, unknown>)[k]));
  }
  return Object.is(expected, actual);
}

describe("the README's HTTP examples", () => {
  const { token, examples } = readmeExamples(readFileSync(README, "utf8"));
  let store: Store;
  let server: RunningServer;

  beforeAll(async () => {
    store = await createSqliteStore({ path: ":memory:" });
    server = await startServer({
      store,
      engine: createEngine({ store }),
      tokens: [token],
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
  });

  afterAll(async () => {
    await server.shutdown(1000);
    await store.close();
  });

  it("has examples, each with the answer it expects", () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const e of examples) expect(e.expected.length, e.command).toBeGreaterThan(0);
  });

  it("gives the answers the README shows, run in order with curl", async () => {
    for (const example of examples) {
      const command = example.command.replaceAll(README_ADDRESS, server.httpAddress!);
      const { stdout } = await run("bash", ["-c", command], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LATCH_TOKEN: token },
      });
      const answers = stdout
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as unknown);
      expect(answers.length, example.command).toBe(example.expected.length);
      example.expected.forEach((expected, i) => {
        expect(
          matches(expected, answers[i]),
          `${example.command}\nanswered ${JSON.stringify(answers[i])}`,
        ).toBe(true);
      });
    }
  });
});
