/** The rules file: shapes accepted, and every mistake refused with its file, line and a hint. */
import { describe, expect, it } from "vitest";
import { parseApprovalRules, ruleFor } from "../../src/approvals/index.js";
import { isLatchError } from "../../src/core/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { RULES, SCHEMA } from "./fixtures.js";

const schema = compileSchema(SCHEMA);

function refusal(text: string): { message: string; line: unknown; hint: unknown } {
  try {
    parseApprovalRules(text, schema, "ops/rules.yaml");
  } catch (error) {
    if (!isLatchError(error) || error.code !== "approval/invalid-rules") throw error;
    return { message: error.message, line: error.details.line, hint: error.details.hint };
  }
  throw new Error("accepted");
}

const rule = (extra: string) =>
  `rules:\n  - id: r1\n    resource: database\n    permission: delete\n    subjects: [agent]\n    approvers: approve\n${extra}`;

describe("approval rules file", () => {
  it("reads the issue's example with its defaults", () => {
    const parsed = parseApprovalRules(RULES, schema);
    expect(parsed.rules).toEqual([
      expect.objectContaining({
        id: "prod-delete",
        resourceType: "database",
        permission: "delete",
        subjectTypes: ["agent"],
        approvers: "approve",
        validForMs: 15 * 60_000,
        singleUse: true,
        onBehalfOfOnly: false,
        allowSelfApproval: false,
        line: 2,
      }),
    ]);
    expect(parsed.byAction.get("database")?.get("delete")?.[0]?.id).toBe("prod-delete");
  });

  it("reads the optional keys", () => {
    const parsed = parseApprovalRules(
      rule(
        "    on_behalf_of_only: true\n    when: { parameter: sensitivity, above: 2 }\n    valid_for: 2h\n    request_ttl: 90s\n    single_use: false\n",
      ),
      schema,
    );
    expect(parsed.rules[0]).toMatchObject({
      onBehalfOfOnly: true,
      when: { parameter: "sensitivity", above: 2 },
      validForMs: 2 * 3_600_000,
      requestTtlMs: 90_000,
      singleUse: false,
    });
  });

  it("an empty file gates nothing", () => {
    expect(parseApprovalRules("", schema).rules).toEqual([]);
    expect(parseApprovalRules("rules: []\n", schema).rules).toEqual([]);
  });

  it.each([
    [
      "an unknown type",
      rule("").replace("resource: database", "resource: databse"),
      3,
      /no type `databse`.*known: agent, user, database/,
    ],
    [
      "an unknown permission",
      rule("").replace("permission: delete", "permission: drop"),
      4,
      /no permission `drop`.*known: owner/,
    ],
    [
      "an unknown approver permission",
      rule("").replace("approvers: approve", "approvers: sign"),
      6,
      /no permission `sign`/,
    ],
    ["an unknown subject type", rule("").replace("[agent]", "[agent, robot]"), 5, /no subject type `robot`/],
    [
      "an unknown parameter",
      rule("    when: { parameter: secrecy, above: 1 }\n"),
      7,
      /numeric parameter `secrecy`.*known: sensitivity/,
    ],
    ["an unknown key", rule("    single_us: true\n"), 7, /unknown key `single_us`/],
    ["a bad duration", rule("    valid_for: soon\n"), 7, /not a duration/],
    ["a repeated id", `${rule("")}${rule("").replace("rules:\n", "")}`, 7, /used twice/],
    // Where the parser noticed: the end of the file, after the unclosed bracket.
    ["broken YAML", "rules:\n  - id: [unclosed\n", 3, /not valid YAML/],
    ["a rule that is not a mapping", "rules:\n  - just text\n", 2, /must be a mapping/],
  ])("refuses %s with file, line and hint", (_what, text, line, pattern) => {
    const { message, line: at, hint } = refusal(text);
    expect(at).toBe(line);
    expect(message).toMatch(new RegExp(`^ops/rules\\.yaml:${line}: `));
    expect(message).toMatch(pattern);
    expect(typeof hint).toBe("string");
  });
});

describe("which requests a rule gates", () => {
  const rules = parseApprovalRules(
    rule("    on_behalf_of_only: true\n    when: { parameter: sensitivity, above: 2 }\n"),
    schema,
  );
  const request = (extra: Partial<Parameters<typeof ruleFor>[1]>) => ({
    resource: { type: "database", id: "d" },
    permission: "delete",
    subject: { type: "agent", id: "a" },
    onBehalfOf: [{ type: "user", id: "alice" }],
    ...extra,
  });

  it("gates only its type, permission and subject types, when acting for someone, above the threshold", () => {
    expect(ruleFor(rules, request({ context: { sensitivity: 3 } }))?.id).toBe("r1");
    expect(ruleFor(rules, request({ context: { sensitivity: 3n } }))?.id).toBe("r1");
    expect(ruleFor(rules, request({ context: { sensitivity: 2 } }))).toBeUndefined();
    expect(ruleFor(rules, request({ context: { sensitivity: 3 }, onBehalfOf: [] }))).toBeUndefined();
    expect(
      ruleFor(rules, request({ context: { sensitivity: 3 }, subject: { type: "user", id: "u" } })),
    ).toBeUndefined();
    expect(ruleFor(rules, request({ context: { sensitivity: 3 }, permission: "read" }))).toBeUndefined();
  });

  it("gates a request that does not state the parameter (unknown counts as high)", () => {
    expect(ruleFor(rules, request({}))?.id).toBe("r1");
  });
});
