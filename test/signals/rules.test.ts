/** The signal rules file: validated against the schema, and how subject identifiers map. */
import { describe, expect, it } from "vitest";
import { compileSchema } from "../../src/schema/index.js";
import { EVENT_TYPES, parseSignalRules, resolveSubjects } from "../../src/signals/index.js";
import { ISSUER, RULES, SCHEMA } from "./fixtures.js";

const schema = compileSchema(SCHEMA);

function refused(text: string): { message: string; line: unknown } {
  try {
    parseSignalRules(text, schema, "rules.yaml");
  } catch (error) {
    expect((error as { code?: string }).code).toBe("signal/invalid-rules");
    return {
      message: (error as Error).message,
      line: (error as { details?: { line?: unknown } }).details?.line,
    };
  }
  throw new Error("expected the rules to be refused");
}

describe("signal rules", () => {
  it("parses the example rules", () => {
    const rules = parseSignalRules(RULES, schema);
    expect(rules.subjects.map((s) => s.format)).toEqual(["iss_sub", "opaque", "email"]);
    expect(rules.events.get(EVENT_TYPES.accountDisabled)).toEqual([{ kind: "suspend" }]);
    expect(rules.events.get(EVENT_TYPES.accountPurged)?.map((a) => a.kind)).toEqual([
      "suspend",
      "revoke-delegations",
      "delete-relationships",
    ]);
  });

  it("refuses what the schema lacks, with file and line", () => {
    expect(refused('subjects:\n  - { format: opaque, as: "robot:{id}" }\n')).toMatchObject({
      message: expect.stringContaining("no type `robot`"),
      line: 2,
    });
    expect(
      refused('events:\n  "https://x.example/e":\n    set-attributes: { mood: current_level }\n').message,
    ).toContain("no caveat of the schema has a parameter `mood`");
    expect(
      refused('events:\n  "https://x.example/e": { revoke-delegations: { relations: [friend] } }\n').message,
    ).toContain("relation `friend`");
    expect(refused('events:\n  "https://x.example/e": explode\n').message).toContain(
      "unknown action `explode`",
    );
    expect(refused('subjects:\n  - { format: opaque, as: "agent:{sub}" }\n').message).toContain(
      "`{sub}` is not a field of the opaque format",
    );
    expect(refused("nonsense: [").message).toContain("not valid YAML");
  });

  it("maps iss_sub, opaque, email (by map), complex and aliases identifiers", () => {
    const rules = parseSignalRules(
      `${RULES.replace("subjects:\n", 'subjects:\n  - { format: opaque, member: device, as: "agent:device-{id}" }\n')}`,
      schema,
    );
    expect(resolveSubjects(rules, { format: "iss_sub", iss: ISSUER, sub: "alice" })).toEqual(["user:alice"]);
    expect(resolveSubjects(rules, { format: "iss_sub", iss: "https://other.example", sub: "alice" })).toEqual(
      [],
    );
    expect(resolveSubjects(rules, { format: "opaque", id: "bot" })).toEqual(["agent:bot"]);
    expect(resolveSubjects(rules, { format: "email", email: "alice@example.com" })).toEqual(["user:alice"]);
    expect(resolveSubjects(rules, { format: "email", email: "bob@example.com" })).toEqual([]);
    expect(
      resolveSubjects(rules, {
        format: "complex",
        user: { format: "iss_sub", iss: ISSUER, sub: "alice" },
        device: { format: "opaque", id: "d1" },
      }),
    ).toEqual(["user:alice", "agent:device-d1"]);
    expect(
      resolveSubjects(rules, {
        format: "aliases",
        identifiers: [
          { format: "email", email: "alice@example.com" },
          { format: "iss_sub", iss: ISSUER, sub: "alice" },
        ],
      }),
    ).toEqual(["user:alice"]);
    // An id Latch cannot hold (`@`, spaces) maps to nothing rather than to a wrong subject.
    expect(resolveSubjects(rules, { format: "opaque", id: "not an id" })).toEqual([]);
  });
});
