import { describe, expect, it } from "vitest";
import { LatchError, parseRelationship, type Relationship } from "../../src/core/index.js";
import { compileSchema } from "../../src/schema/index.js";
import {
  RelationshipValidationError,
  validateRelationship,
  validateRelationshipForDelete,
} from "../../src/store/index.js";

const schema = compileSchema(`use expiration

caveat only_on(day string) {
  day == "tuesday"
}

caveat over(limit int) {
  limit > 0
}

definition user {}

definition group {
  relation member: user | group#member
}

definition document {
  relation viewer: user | group#member | user:* | user with only_on
  relation guarded: user with only_on
  relation temp: user with expiration | user with over and expiration
  permission view = viewer
}
`);

function errorOf(r: Relationship): RelationshipValidationError | undefined {
  try {
    validateRelationship(schema, r);
    return undefined;
  } catch (error) {
    if (error instanceof RelationshipValidationError) return error;
    throw error;
  }
}

describe("validateRelationship", () => {
  it.each([
    "document:a#viewer@user:alice",
    "document:a#viewer@group:eng#member",
    "document:a#viewer@user:*",
    'document:a#viewer@user:alice[only_on:{"day":"monday"}]',
    "document:a#viewer@user:alice[only_on]",
    "document:a#guarded@user:alice[only_on]",
    "document:a#temp@user:alice[expiration:2030-01-01T00:00:00Z]",
    "document:a#temp@user:alice",
    'document:a#temp@user:alice[over:{"limit":3}][expiration:2030-01-01T00:00:00Z]',
    "group:eng#member@group:ops#member",
  ])("accepts %s", (text) => {
    expect(errorOf(parseRelationship(text))).toBeUndefined();
  });

  it.each([
    ["nothing:a#viewer@user:alice", "relationship/unknown-type", "definition nothing"],
    ["document:a#owner@user:alice", "relationship/unknown-relation", "`viewer`"],
    ["document:a#view@user:alice", "relationship/not-a-relation", "permission"],
    ["document:a#viewer@group:eng", "relationship/subject-not-allowed", "`group#member`"],
    ["document:a#viewer@group:eng#admin", "relationship/subject-not-allowed", "group#admin"],
    ["document:a#guarded@user:*", "relationship/subject-not-allowed", "user:*"],
    ["document:a#guarded@user:alice", "relationship/caveat-required", "only_on"],
    ["document:a#viewer@group:eng#member[only_on]", "relationship/caveat-not-allowed", "Remove the caveat"],
    ["document:a#temp@user:alice[only_on]", "relationship/caveat-not-allowed", "`over`"],
    ['document:a#viewer@user:alice[only_on:{"day":3}]', "relationship/bad-caveat-context", "only_on"],
    ['document:a#viewer@user:alice[only_on:{"night":"x"}]', "relationship/bad-caveat-context", "night"],
    [
      "document:a#viewer@user:alice[expiration:2030-01-01T00:00:00Z]",
      "relationship/expiration-not-allowed",
      "with expiration",
    ],
    [
      "document:a#viewer@user:alice[only_on][expiration:2030-01-01T00:00:00Z]",
      "relationship/expiration-not-allowed",
      "only_on and expiration",
    ],
  ])("rejects %s with %s", (text, code, hint) => {
    const error = errorOf(parseRelationship(text));
    expect(error).toBeInstanceOf(LatchError);
    expect(error?.code).toBe(code);
    expect(error?.kind).toBe("invalid-argument");
    expect(error?.message.startsWith(text)).toBe(true);
    expect(error?.message).toContain(hint);
  });

  it("rejects malformed ids the parser would never produce", () => {
    const base = parseRelationship("document:a#viewer@user:alice");
    const cases: Relationship[] = [
      { ...base, resource: { type: "document", id: "*" } },
      { ...base, resource: { type: "document", id: "" } },
      { ...base, resource: { type: "document", id: "has space" } },
      { ...base, resource: { type: "document", id: "x".repeat(5_000) } },
      { ...base, subject: { type: "user", id: "é" } },
      { ...base, subject: { type: "group", id: "*", relation: "member" } },
    ];
    for (const r of cases) expect(errorOf(r)?.code).toBe("relationship/invalid-id");
  });

  it("checks deletes by identity only", () => {
    const withCaveat = parseRelationship("document:a#guarded@user:alice");
    expect(() => validateRelationshipForDelete(schema, withCaveat)).not.toThrow();
    expect(() =>
      validateRelationshipForDelete(schema, parseRelationship("document:a#view@user:alice")),
    ).toThrow(RelationshipValidationError);
  });
});
