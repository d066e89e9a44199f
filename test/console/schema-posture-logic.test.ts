/**
 * The Schema and Posture pages' client-side logic: highlighting from the real lexer, problem
 * underlines, fix hints split from real compiler messages, the diff before a write, the orphan
 * refusal read back into counts, and the posture report's views.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ApiError, createApi } from "../../console/src/api.js";
import {
  driftRows,
  findingsBySeverity,
  kindBars,
  type PostureReport,
  reachBars,
  readReport,
  severityBars,
} from "../../console/src/posture-view.js";
import { checkSchemaText } from "../../console/src/schema-check.js";
import { lineDiff, orphanRefusal, schemaChanges, splitHint } from "../../console/src/schema-diff.js";
import { highlightRanges, paintSchema, problemOffsets } from "../../console/src/schema-highlight.js";
import { formatSchema } from "../../src/schema/index.js";
import { wouldOrphanError } from "../../src/store/index.js";

const SCHEMA = `use expiration

// people
definition user {}

caveat in_hours(hour int, tags list<string>) {
  hour >= 9 && "ops" in tags
}

definition document {
  relation viewer: user | user:* with in_hours | group#member with in_hours and expiration
  permission view = viewer + parent->view - nil
  permission any_view = parent.any(view)
}
`;

/** The text of each highlighted stretch of a kind. */
function words(text: string, kind: string): string[] {
  return highlightRanges(text)
    .filter((r) => r.kind === kind)
    .map((r) => text.slice(r.start, r.end));
}

describe("schema highlighting", () => {
  it("names each word by its place in the statement", () => {
    expect(words(SCHEMA, "keyword")).toEqual([
      "use",
      "expiration",
      "definition",
      "caveat",
      "in",
      "definition",
      "relation",
      "with",
      "with",
      "and",
      "expiration",
      "permission",
      "nil",
      "permission",
      "any",
    ]);
    expect(words(SCHEMA, "def")).toEqual(["user", "in_hours", "document"]);
    expect(words(SCHEMA, "member")).toEqual(["viewer", "member", "view", "any_view"]);
    expect(words(SCHEMA, "type")).toEqual(["int", "list", "string", "user", "user", "group"]);
    expect(words(SCHEMA, "param")).toEqual(["hour", "tags"]);
    expect(words(SCHEMA, "caveat")).toEqual(["in_hours", "in_hours"]);
    expect(words(SCHEMA, "ref")).toEqual(["viewer", "parent", "view", "parent", "view"]);
    expect(words(SCHEMA, "op")).toEqual(["*", "+", "->", "-"]);
    expect(words(SCHEMA, "comment")).toEqual(["// people"]);
    expect(words(SCHEMA, "string")).toEqual(['"ops"']);
    expect(words(SCHEMA, "number")).toEqual(["9"]);
  });

  it("cuts the text into segments that join back to it, with problems underlined", () => {
    const text = "definition doc {\n  relation viewer: usr\n}";
    const problems = checkSchemaText(text);
    expect(problems[0]).toMatchObject({ line: 2, column: 20, length: 3 });
    const segments = paintSchema(text, problems);
    expect(segments.map((s) => s.text).join("")).toBe(text);
    expect(segments.filter((s) => s.error).map((s) => s.text)).toEqual(["usr"]);
    expect(segments.find((s) => s.text === "usr")?.kind).toBe("type");
  });

  it("survives any text: unfinished, with stray characters, or empty", () => {
    for (const text of [
      "",
      "definition",
      "definition doc {\n relation r: user |",
      "caveat c(x int) {",
      "€ /* open",
    ]) {
      expect(
        paintSchema(text, checkSchemaText(text))
          .map((s) => s.text)
          .join("")
          .trimEnd(),
      ).toBe(text.trimEnd());
    }
  });

  it("marks a problem past the end of the text with a blank cell", () => {
    const text = "definition doc {";
    const problems = checkSchemaText(text);
    expect(problems.length).toBeGreaterThan(0);
    expect(problemOffsets(text, [{ line: 1, column: 17 }])).toEqual([[16, 17]]);
    expect(paintSchema(text, [{ line: 1, column: 17 }]).at(-1)).toEqual({ text: " ", error: true });
    expect(problemOffsets(text, [{ line: 9, column: 1 }])).toEqual([]);
  });
});

describe("fix hints from the compiler's messages", () => {
  it("splits what is wrong from how to fix it", () => {
    const [problem] = checkSchemaText("definition user {}\ndefinition doc {\n  relation viewer: usr\n}");
    expect(splitHint(problem!.message)).toEqual({
      what: "unknown type `usr` in relation `viewer` of `doc`",
      hint: "did you mean `user`? Or add `definition usr {}` or fix the name",
    });
    expect(splitHint("`+` needs an expression on its right; add one or remove the operator")).toEqual({
      what: "`+` needs an expression on its right",
      hint: "add one or remove the operator",
    });
    expect(splitHint("expected `}`, found `a; b`")).toEqual({ what: "expected `}`, found `a; b`" });
  });
});

describe("the diff before a write", () => {
  const stored = "definition user {}\ndefinition doc {\n  relation viewer: user\n  relation owner: user\n}\n";

  it("shows changed lines with context", () => {
    const edited = stored.replace("  relation owner: user\n", "");
    const [hunk, more] = lineDiff(stored, edited);
    expect(more).toBeUndefined();
    expect(hunk?.header).toBe("@@ -2,4 +2,3 @@");
    expect(hunk?.lines).toEqual([
      { kind: "same", text: "definition doc {" },
      { kind: "same", text: "  relation viewer: user" },
      { kind: "del", text: "  relation owner: user" },
      { kind: "same", text: "}" },
    ]);
    expect(lineDiff(stored, stored)).toEqual([]);
  });

  it("says what the change means, and which parts can orphan relationships", () => {
    const edited = stored
      .replace("  relation owner: user\n", "")
      .replace("relation viewer: user", "relation viewer: user | doc")
      .concat("definition folder {}\n");
    expect(schemaChanges(stored, edited)).toEqual([
      { text: "definition folder: added", risky: false },
      { text: "relation doc#owner: removed", risky: true },
      { text: "subject type doc of doc#viewer: added", risky: false },
    ]);
    expect(schemaChanges(stored, formatSchema(stored))).toEqual([]);
    expect(schemaChanges("", stored)?.map((c) => c.text)).toEqual([
      "definition doc: added",
      "definition user: added",
    ]);
    expect(schemaChanges(stored, "definition doc { relation r: nope }")).toBeUndefined();
  });
});

describe("the orphan refusal", () => {
  it("reads the counts from the server's error details", async () => {
    const error = wouldOrphanError([
      { relation: "doc#owner", count: 3, reasons: ["relation doc#owner is not in the schema"] },
      { relation: "doc#viewer", count: 2, reasons: ["subject type group is not allowed"] },
    ]);
    // As the Connect transport answers it: the details under `debug`.
    const body = JSON.stringify({
      code: "failed_precondition",
      message: error.message,
      details: [{ type: "google.protobuf.Struct", debug: { code: error.code, details: error.details } }],
    });
    const api = createApi("t", async () => new Response(body, { status: 412 }));
    const refused = await api.call("SchemaService", "WriteSchema", {}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(orphanRefusal(refused as ApiError)).toEqual({
      total: 5,
      rows: [
        { relation: "doc#owner", count: 3, reasons: ["relation doc#owner is not in the schema"] },
        { relation: "doc#viewer", count: 2, reasons: ["subject type group is not allowed"] },
      ],
      moreRelations: 0,
    });
    expect(orphanRefusal(new ApiError("invalid_argument", "bad", "schema/syntax"))).toBeUndefined();
  });

  it("says how many relations the server counted but did not list", () => {
    const orphans = Array.from({ length: 25 }, (_, i) => ({
      relation: `t${i}#r`,
      count: 1,
      reasons: ["gone"],
    }));
    const error = wouldOrphanError(orphans);
    const refusal = orphanRefusal({ latchCode: error.code, details: error.details });
    expect(refusal?.rows).toHaveLength(20);
    expect(refusal?.moreRelations).toBe(5);
  });
});

describe("the posture report's views", () => {
  const golden = readFileSync(join(import.meta.dirname, "../posture/report.golden.json"), "utf8");

  it("reads the report and refuses anything else", () => {
    expect(readReport(golden).format).toBe("latch.posture.v1");
    expect(() => readReport("{")).toThrow(/not JSON/);
    expect(() => readReport('{"format":"latch.posture.v9"}')).toThrow(
      /"latch.posture.v9".*update the console/,
    );
  });

  it("groups findings by severity, most severe first, and charts the counts", () => {
    const report = readReport(golden);
    const groups = findingsBySeverity(report);
    expect(groups.map((g) => g.severity)).toEqual(["high", "medium", "low"]);
    expect(groups.reduce((n, g) => n + g.findings.length, 0)).toBe(report.findings.length);
    for (const g of groups) for (const f of g.findings) expect(f.severity).toBe(g.severity);
    const sev = severityBars(report);
    expect(sev.map((b) => b.value)).toEqual([
      report.summary.bySeverity.high,
      report.summary.bySeverity.medium,
      report.summary.bySeverity.low,
    ]);
    expect(Math.max(...sev.map((b) => b.share))).toBe(1);
    expect(kindBars(report).map((b) => b.label)).toEqual(Object.keys(report.summary.byKind));
  });

  it("draws reach as shares and drift as signed changes", () => {
    const base = readReport(golden);
    const identity = {
      identity: "agent:x",
      owners: [],
      grants: 1,
      delegations: 0,
      reach: [
        { permission: "document#read", reached: 2, conditional: 1, sensitive: 1, total: 8, share: 0.25 },
      ],
    };
    expect(reachBars(identity)).toEqual([
      {
        permission: "document#read",
        text: "2 / 8, 1 conditional, 1 sensitive",
        share: 0.25,
        sensitiveShare: 0.125,
      },
    ]);
    const report: PostureReport = {
      ...base,
      drift: {
        previousRevision: "3",
        previousGeneratedAt: "2030-01-01T00:00:00Z",
        changes: [
          { identity: "agent:a", permission: "document#read", before: 1, after: 3 },
          { identity: "agent:b", permission: "document#read", before: 2, after: 1 },
        ],
      },
    };
    expect(driftRows(report)?.map((r) => [r.identity, r.change, r.grew])).toEqual([
      ["agent:a", "+2", true],
      ["agent:b", "-1", false],
    ]);
    expect(driftRows({ ...base, drift: null })).toBeUndefined();
  });
});
