/**
 * Issue 23, finding 3: deep or long permission expressions made WriteSchema fail with INTERNAL
 * (stack overflow), or were stored and then failed every check. They are schema errors now, with
 * a stable code and the position of the operator, parenthesis or term past the limit.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { schemaCommand } from "../../src/cli/commands/schema.js";
import { createClient, RemoteError } from "../../src/client/index.js";
import { MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_TERMS } from "../../src/schema/limits.js";
import { runCommand } from "../cli/run-command.js";
import { type Harness, startHarness, TOKEN } from "../server/harness.js";

const head = "definition user {}\ndefinition doc {\n  relation aaa: user\n  relation bbb: user\n";
const withPermission = (expr: string) => `${head}  permission view = ${expr}\n}\n`;
const chain = (op: string, n: number) =>
  Array.from({ length: n }, (_, i) => (i % 2 ? "bbb" : "aaa")).join(` ${op} `);
const line5 = (text: string) => text.split("\n")[4]!;

interface Case {
  readonly name: string;
  readonly text: string;
  readonly code: string;
  /** 1-based column on line 5 (the permission's line) the diagnostic must point at. */
  readonly column: number;
}

function cases(): Case[] {
  const parens = withPermission(`${"(".repeat(2000)}aaa${")".repeat(2000)}`);
  const plus = withPermission(chain("+", 20_000));
  const and = withPermission(chain("&", 20_000));
  const minus = withPermission(chain("-", 5_000));
  // The (limit+1)th `(`, the (limit+1)th term, the `-` that makes the tree one level too deep.
  const nthIndex = (s: string, needle: string, n: number) => {
    let at = -1;
    for (let i = 0; i < n; i++) at = s.indexOf(needle, at + 1);
    return at + 1;
  };
  return [
    {
      name: "2,000 nested parentheses",
      text: parens,
      code: "schema/too-deep",
      column: nthIndex(line5(parens), "(", MAX_EXPRESSION_DEPTH + 1),
    },
    {
      name: "a 20,000-term `+`",
      text: plus,
      code: "schema/too-large",
      column: nthIndex(line5(plus), "+", MAX_EXPRESSION_TERMS) + 2,
    },
    {
      name: "a 20,000-term `&`",
      text: and,
      code: "schema/too-large",
      column: nthIndex(line5(and), "&", MAX_EXPRESSION_TERMS) + 2,
    },
    {
      name: "a 5,000-term `-` chain",
      text: minus,
      code: "schema/too-deep",
      column: nthIndex(line5(minus), "-", MAX_EXPRESSION_DEPTH + 1),
    },
  ];
}

describe("deep and long permission expressions", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  afterEach(() => {
    process.exitCode = undefined;
  });

  for (const c of cases()) {
    it(`WriteSchema refuses ${c.name} with ${c.code} and its position`, async () => {
      const client = createClient({ address: h.server.address, token: TOKEN });
      try {
        const error = await client.writeSchema(c.text).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(RemoteError);
        const remote = error as RemoteError;
        expect(remote.status).toBe(status.INVALID_ARGUMENT);
        expect(remote.code).toBe("schema/invalid");
        const diagnostics = remote.details.diagnostics as { code: string; line: number; column: number }[];
        expect(diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([[c.code, 5, c.column]]);
        // The server still serves, and still takes a good schema.
        await client.writeSchema(withPermission("aaa + bbb"));
      } finally {
        await client.close();
      }
    });

    it(`latch schema check prints ${c.code} for ${c.name}, without a stack trace`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "latch-deep-schema-"));
      const file = join(dir, "deep.zed");
      writeFileSync(file, c.text);
      const result = await runCommand(schemaCommand(), ["check", file]);
      expect(result.exitCode).not.toBe(0);
      // Booleans, not the text: a failure here must not print a 100 KB line.
      expect(result.stderr.startsWith(`${file}:5:${c.column}: error[${c.code}]`)).toBe(true);
      expect(/\n\s+at |RangeError/.test(result.stderr)).toBe(false);
    });
  }

  it("refuses caveat parameter types nested without end", async () => {
    const client = createClient({ address: h.server.address, token: TOKEN });
    try {
      const text = `caveat ccc(xxx ${"list<".repeat(2000)}int${">".repeat(2000)}) { true }\ndefinition user {}\n`;
      const error = (await client.writeSchema(text).catch((e: unknown) => e)) as RemoteError;
      expect(error.status).toBe(status.INVALID_ARGUMENT);
      expect((error.details.diagnostics as { code: string }[])[0]?.code).toBe("schema/too-deep");
    } finally {
      await client.close();
    }
  });

  it("refuses a definition with more members than allowed (a 20,000-permission chain)", async () => {
    const client = createClient({ address: h.server.address, token: TOKEN });
    try {
      const members = Array.from(
        { length: 20_000 },
        (_, i) => `  permission ppp${i} = ${i === 19_999 ? "aaa" : `ppp${i + 1}`}`,
      ).join("\n");
      const error = (await client
        .writeSchema(`${head}${members}\n}\n`)
        .catch((e: unknown) => e)) as RemoteError;
      expect(error.status).toBe(status.INVALID_ARGUMENT);
      expect((error.details.diagnostics as { code: string }[]).map((d) => d.code)).toEqual([
        "schema/too-large",
      ]);
    } finally {
      await client.close();
    }
  });

  it("checks correctly within the limits: a 32-level `-` chain and 30 nested parentheses", async () => {
    const client = createClient({ address: h.server.address, token: TOKEN });
    try {
      // aaa - bbb - aaa - ... (33 terms, 32 levels): alice (aaa only) is allowed, bob (both) is not.
      const minus = `aaa - ${Array.from({ length: MAX_EXPRESSION_DEPTH }, () => "bbb").join(" - ")}`;
      // (aaa & (aaa & (... bbb))) nested 30 deep: only a subject in both relations is allowed.
      const nested = `${"(aaa & ".repeat(30)}bbb${")".repeat(30)}`;
      await client.writeSchema(`${head}  permission view = ${minus}\n  permission both = ${nested}\n}\n`);
      const touch = (relation: string, id: string) => ({
        operation: "touch" as const,
        relationship: { resource: { type: "doc", id: "d1" }, relation, subject: { type: "user", id } },
      });
      const { token } = await client.writeRelationships({
        updates: [touch("aaa", "alice"), touch("aaa", "bob"), touch("bbb", "bob")],
      });
      const check = (permission: string, id: string) =>
        client
          .check({
            resource: { type: "doc", id: "d1" },
            permission,
            subject: { type: "user", id },
            consistency: { kind: "at-least-as-fresh", token },
          })
          .then((r) => r.state);
      expect(await check("view", "alice")).toBe("ALLOWED");
      expect(await check("view", "bob")).toBe("DENIED");
      expect(await check("both", "alice")).toBe("DENIED");
      expect(await check("both", "bob")).toBe("ALLOWED");
    } finally {
      await client.close();
    }
  });
});
