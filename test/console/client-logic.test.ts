import { describe, expect, it } from "vitest";
import { ApiError, createApi, type Fetch } from "../../console/src/api.js";
import { buildExplainTree, verdictOf } from "../../console/src/explain.js";
import { parseChain, parseContext, parseObject, parseSubject, RefError } from "../../console/src/refs.js";
import { checkSchemaText, gutterLines } from "../../console/src/schema-check.js";
import { approvalSentence, decisionSentence, enumWord } from "../../console/src/sentences.js";

describe("references typed by the user", () => {
  it("parses objects, subject sets and chains", () => {
    expect(parseObject(" document:plan ", "resource")).toEqual({ objectType: "document", objectId: "plan" });
    expect(parseSubject("group:eng#member", "subject")).toEqual({
      object: { objectType: "group", objectId: "eng" },
      optionalRelation: "member",
    });
    expect(parseChain("user:alice, user:carol", "chain").map((s) => s.object.objectId)).toEqual([
      "alice",
      "carol",
    ]);
    expect(parseChain("  ", "chain")).toEqual([]);
  });

  it("refuses malformed text, naming the field and the shape wanted", () => {
    expect(() => parseObject("plan", "resource")).toThrow(/resource: "plan" is not an object; write type:id/);
    expect(() => parseObject("document:", "resource")).toThrow(RefError);
    expect(() => parseSubject("group:eng#", "subject")).toThrow(/subject: .* empty relation/);
  });

  it("reads the context as a JSON object or nothing", () => {
    expect(parseContext("", "context")).toBeUndefined();
    expect(parseContext('{"ip": "10.0.0.1"}', "context")).toEqual({ ip: "10.0.0.1" });
    expect(() => parseContext("[1]", "context")).toThrow(/must be a JSON object/);
    expect(() => parseContext("{", "context")).toThrow(/context: not JSON/);
  });
});

describe("the explain tree", () => {
  it("rebuilds the nesting from the flat trace, with each step's verdict", () => {
    const tree = buildExplainTree([
      { label: "doc:1#view", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 0 },
      { label: "doc:1#viewer", permissionship: "PERMISSIONSHIP_DENIED", parent: 1 },
      { label: "doc:1#owner", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 1 },
      { label: "doc:1#owner@user:a", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 3, cached: true },
    ]);
    expect(tree?.label).toBe("doc:1#view");
    expect(tree?.children.map((c) => [c.label, c.verdict])).toEqual([
      ["doc:1#viewer", "denied"],
      ["doc:1#owner", "allowed"],
    ]);
    expect(tree?.children[1]?.children[0]?.cached).toBe(true);
  });

  it("is empty without steps and refuses a parent that does not come first", () => {
    expect(buildExplainTree([])).toBeUndefined();
    expect(() => buildExplainTree([{ label: "a" }, { label: "b", parent: 3 }])).toThrow(/names parent 3/);
    expect(() => buildExplainTree([{ label: "a" }, { label: "b" }])).toThrow(/second root/);
  });

  it("maps every permissionship to a colour class", () => {
    expect(verdictOf("PERMISSIONSHIP_CONDITIONAL")).toBe("conditional");
    expect(verdictOf("PERMISSIONSHIP_APPROVAL_REQUIRED")).toBe("approval");
    expect(verdictOf(undefined)).toBe("unknown");
  });
});

describe("sentences", () => {
  it("writes a decision as who, acting for whom, what, the answer and why", () => {
    expect(
      decisionSentence({
        subject: "agent:x",
        onBehalfOf: ["user:y"],
        permission: "read",
        resource: "document:z",
        answer: "DECISION_ANSWER_ALLOWED",
        witness: ["document:z#viewer@user:y"],
      }),
    ).toBe("agent:x acting for user:y: read on document:z ALLOWED via document:z#viewer@user:y");
    expect(
      decisionSentence({
        subject: "user:a",
        permission: "view",
        resource: "doc:1",
        answer: "DECISION_ANSWER_CONDITIONAL",
        missing: ["ip"],
      }),
    ).toBe("user:a: view on doc:1 CONDITIONAL (missing ip)");
  });

  it("writes an approval request and strips enum prefixes", () => {
    expect(
      approvalSentence({
        subject: "agent:bot",
        onBehalfOf: ["user:al"],
        permission: "delete",
        resource: "db:prod",
      }),
    ).toBe("agent:bot acting for user:al asks to delete db:prod");
    expect(enumWord("APPROVAL_STATE_PENDING", "APPROVAL_STATE_")).toBe("PENDING");
    expect(enumWord(undefined, "X_")).toBe("UNSPECIFIED");
  });
});

describe("schema diagnostics from the real compiler", () => {
  it("reports a semantic error at its line and column, and nothing for a good schema", () => {
    const text = "definition user {}\ndefinition doc {\n  relation viewer: usr\n}";
    const problems = checkSchemaText(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 3, column: 20, code: "schema/unknown-type" });
    expect(checkSchemaText("definition user {}")).toEqual([]);
    expect(gutterLines(text, problems).map((l) => l.bad)).toEqual([false, false, true, false]);
  });

  it("reports a syntax error", () => {
    const problems = checkSchemaText("definition doc {\n  relation viewer user\n}");
    expect(problems[0]?.line).toBe(2);
    expect(problems[0]?.code).toBe("schema/syntax");
  });
});

describe("the API client", () => {
  const answer =
    (status: number, body: string): Fetch =>
    async () =>
      new Response(body, { status });

  it("posts JSON to the Connect route with the bearer token", async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const api = createApi("secret-token", async (url, init) => {
      seen.push({ url, init });
      return new Response('{"ok": true}', { status: 200 });
    });
    expect(await api.call("SchemaService", "ReadSchema", {})).toEqual({ ok: true });
    expect(seen[0]?.url).toBe("/latch.v1.SchemaService/ReadSchema");
    expect((seen[0]!.init.headers as Record<string, string>).authorization).toBe("Bearer secret-token");
  });

  it("turns a Connect error into an ApiError with Latch's code", async () => {
    const body = JSON.stringify({
      code: "invalid_argument",
      message: "unknown object type folder",
      details: [{ debug: { code: "check/unknown-type" } }],
    });
    const error = await createApi("t", answer(400, body))
      .call("PermissionService", "CheckPermission", {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "invalid_argument", latchCode: "check/unknown-type" });
  });

  it("says so when the answer is not JSON", async () => {
    await expect(createApi("t", answer(502, "<html>")).call("S", "M", {})).rejects.toThrow(/not JSON/);
  });
});
