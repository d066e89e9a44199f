/** The client-side logic of the Relationships, Check, Audit pages and the streaming API client. */
import { describe, expect, it } from "vitest";
import { expandTreeOf, resourceRows, subjectRows } from "../../console/src/answers.js";
import { createApi } from "../../console/src/api.js";
import { EnvelopeReader, envelope, parseEnvelopes } from "../../console/src/connect-stream.js";
import { DecisionRows, matchesSearch } from "../../console/src/decision-log.js";
import { buildExplainTree } from "../../console/src/explain.js";
import {
  batches,
  exactFilterOf,
  filterOf,
  formatWire,
  parseLines,
  parseOne,
} from "../../console/src/relationship-lines.js";
import { markWitnessPath, stepKey, unmatchedWitness, witnessKey } from "../../console/src/witness-path.js";

describe("relationship lines", () => {
  it("parses one relationship into the API's shape and formats it back", () => {
    const wire = parseOne(' document:plan#viewer@group:eng#member[office_hours:{"hour":3}] ');
    expect(wire).toEqual({
      resource: { objectType: "document", objectId: "plan" },
      relation: "viewer",
      subject: { object: { objectType: "group", objectId: "eng" }, optionalRelation: "member" },
      optionalCaveat: { caveatName: "office_hours", context: { hour: 3 } },
    });
    expect(formatWire(wire)).toBe('document:plan#viewer@group:eng#member[office_hours:{"hour":3}]');
    expect(formatWire(parseOne("doc:1#owner@user:a[expiration:2030-01-02T03:04:05Z]"))).toBe(
      "doc:1#owner@user:a[expiration:2030-01-02T03:04:05.000Z]",
    );
  });

  it("refuses a malformed relationship with the parser's reason", () => {
    expect(() => parseOne("document:plan#viewer")).toThrow(/^relationship: .*'@'/);
    expect(() => parseOne("  ")).toThrow(/relationship: empty; write resource#relation@subject/);
  });

  it("reads an import file, skipping blanks and comments, and names each bad line", () => {
    const parsed = parseLines(
      "// header\n\ndoc:1#owner@user:a\n# note\nnot a relationship\r\ndoc:2#owner@user:b\n",
    );
    expect(parsed.relationships.map(formatWire)).toEqual(["doc:1#owner@user:a", "doc:2#owner@user:b"]);
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]?.line).toBe(5);
  });

  it("cuts a list into batches, the last one short", () => {
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(batches([], 10)).toEqual([]);
    expect(() => batches([1], 0)).toThrow(/positive integer/);
  });
});

describe("the browse filter", () => {
  const form = { resourceType: "document", resourceId: "", relation: "", subject: "" };

  it("builds ReadRelationships' filter from the fields that are filled", () => {
    expect(filterOf(form)).toEqual({ resourceType: "document" });
    expect(
      filterOf({ ...form, resourceId: "plan", relation: "viewer", subject: "group:eng#member" }),
    ).toEqual({
      resourceType: "document",
      optionalResourceId: "plan",
      optionalRelation: "viewer",
      optionalSubjectFilter: {
        subjectType: "group",
        optionalSubjectId: "eng",
        optionalRelation: { relation: "member" },
      },
    });
    expect(filterOf({ ...form, resourceId: "q3-*", subject: "user" })).toEqual({
      resourceType: "document",
      optionalResourceIdPrefix: "q3-",
      optionalSubjectFilter: { subjectType: "user" },
    });
  });

  it("requires a resource type and a well-formed subject", () => {
    expect(() => filterOf({ ...form, resourceType: " " })).toThrow(/resource type: required/);
    expect(() => filterOf({ ...form, subject: "user:" })).toThrow(/subject: "user:" is not a subject filter/);
  });

  it("deletes exactly the row's relationship: a plain subject never matches a subject set", () => {
    expect(exactFilterOf(parseOne("doc:1#viewer@user:a"))).toEqual({
      resourceType: "doc",
      optionalResourceId: "1",
      optionalRelation: "viewer",
      optionalSubjectFilter: {
        subjectType: "user",
        optionalSubjectId: "a",
        optionalRelation: { relation: "" },
      },
    });
  });
});

describe("the witness path", () => {
  // The trace of `database:prod#read` for user:dan, through the folder's group, as the server sends it.
  const trace = buildExplainTree([
    { label: "database:prod#read", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 0 },
    { label: "union", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 1 },
    { label: "database:prod#reader", permissionship: "PERMISSIONSHIP_DENIED", parent: 2 },
    { label: "parent->view", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 2 },
    { label: "database:prod#parent@folder:f -> view", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 4 },
    { label: "folder:f#view", permissionship: "PERMISSIONSHIP_ALLOWED", parent: 5 },
    {
      label: "folder:f#reader -> group:eng#member (memberships found upwards from the subject)",
      permissionship: "PERMISSIONSHIP_ALLOWED",
      parent: 6,
    },
  ])!;
  const witness = [
    "database:prod#parent@folder:f",
    "folder:f#reader@group:eng#member",
    "group:eng#member@user:dan[expiration:2030-01-01T00:00:00Z]",
  ];

  it("reads the relationship a trace step stands for", () => {
    expect(stepKey("doc:1#owner@user:a")).toBe("doc:1#owner@user:a");
    expect(stepKey("database:prod#parent@folder:f -> view")).toBe("database:prod#parent@folder:f");
    expect(stepKey("folder:f#reader -> group:eng#member (memberships found upwards)")).toBe(
      "folder:f#reader@group:eng#member",
    );
    for (const label of ["union", "parent->view", "database:prod#read", "caveat office_hours"])
      expect(stepKey(label)).toBeUndefined();
    expect(witnessKey("doc:1#viewer@user:a[cav][expiration:2030-01-01T00:00:00Z]")).toBe(
      "doc:1#viewer@user:a",
    );
  });

  it("outlines each matched step and every step above it, and no denied branch", () => {
    const marked = markWitnessPath(trace, witness);
    const onPath: string[] = [];
    const walk = (t: typeof marked) => {
      if (t.onPath) onPath.push(t.label);
      t.children.forEach(walk);
    };
    walk(marked);
    expect(onPath).toEqual([
      "database:prod#read",
      "union",
      "parent->view",
      "database:prod#parent@folder:f -> view",
      "folder:f#view",
      "folder:f#reader -> group:eng#member (memberships found upwards from the subject)",
    ]);
    expect(marked.children[0]?.children[1]?.children[0]?.witness).toBe("database:prod#parent@folder:f");
    // The membership below the subject set is not a step of this trace: listed apart.
    expect(unmatchedWitness(marked, witness)).toEqual([witness[2]]);
  });

  it("marks nothing without a witness (a DENIED answer)", () => {
    const marked = markWitnessPath(trace, []);
    expect(marked.onPath).toBe(false);
    expect(marked.children.every((c) => !c.onPath)).toBe(true);
  });
});

describe("Expand and the lookups", () => {
  it("draws Expand's sets, operations and subjects as one tree", () => {
    const tree = expandTreeOf({
      expandedObject: { objectType: "doc", objectId: "1" },
      expandedRelation: "view",
      intermediate: {
        operation: "OPERATION_UNION",
        children: [
          {
            expandedObject: { objectType: "doc", objectId: "1" },
            expandedRelation: "viewer",
            leaf: {
              subjects: [
                { subject: { object: { objectType: "user", objectId: "a" } }, optionalCaveatName: "ip" },
                { subject: { object: { objectType: "group", objectId: "g" }, optionalRelation: "member" } },
              ],
            },
          },
        ],
      },
    });
    expect(tree.label).toBe("doc:1#view");
    expect(tree.children[0]).toMatchObject({ label: "union", kind: "operation" });
    expect(tree.children[0]?.children[0]?.children.map((c) => c.label)).toEqual([
      "user:a [ip]",
      "group:g#member",
    ]);
  });

  it("turns the lookups' messages into rows with their state and missing parameters", () => {
    expect(
      resourceRows([
        { resourceObjectId: "a", permissionship: "LOOKUP_PERMISSIONSHIP_HAS_PERMISSION" },
        {
          resourceObjectId: "b",
          permissionship: "LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION",
          partialCaveatInfo: { missingRequiredContext: ["hour"] },
        },
      ]),
    ).toEqual([
      { id: "a", state: "ALLOWED", missing: [] },
      { id: "b", state: "CONDITIONAL", missing: ["hour"] },
    ]);
    expect(
      subjectRows([
        {
          subject: { subjectObjectId: "*", permissionship: "LOOKUP_PERMISSIONSHIP_HAS_PERMISSION" },
          excludedSubjects: [{ subjectObjectId: "eve" }],
        },
      ]),
    ).toEqual([{ id: "*", state: "ALLOWED", missing: [], excluded: ["eve"] }]);
  });
});

describe("the audit rows", () => {
  const record = (seq: number, subject = "user:a") => ({
    seq: String(seq),
    subject,
    permission: "view",
    resource: "doc:1",
    answer: "DECISION_ANSWER_ALLOWED",
  });

  it("merges query and stream by sequence number, newest first, within the limit", () => {
    const rows = new DecisionRows(3);
    expect(rows.add([record(1), record(2)])).toBe(true);
    expect(rows.add([record(2)])).toBe(false);
    rows.add([record(10), record(3)]);
    expect(rows.newestFirst().map((r) => r.seq)).toEqual(["10", "3", "2"]);
    expect(rows.size).toBe(3);
  });

  it("searches every word of the query in the sentence and the caller, case ignored", () => {
    const r = { ...record(1, "agent:bot"), caller: "ci", onBehalfOf: ["user:al"] };
    expect(matchesSearch(r, "")).toBe(true);
    expect(matchesSearch(r, "BOT allowed")).toBe(true);
    expect(matchesSearch(r, "acting for user:al")).toBe(true);
    expect(matchesSearch(r, "ci doc:1")).toBe(true);
    expect(matchesSearch(r, "bot denied")).toBe(false);
  });
});

describe("Connect streaming", () => {
  const joined = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const endOf = (json: unknown) => {
    const e = envelope(json);
    e[0] = 0x02;
    return e;
  };

  it("splits messages from the end of the stream, and refuses a cut one", () => {
    const bytes = joined(envelope({ a: 1 }), envelope({ b: "é" }), endOf({}));
    expect(parseEnvelopes(bytes)).toEqual({ messages: [{ a: 1 }, { b: "é" }], end: {} });
    expect(() => parseEnvelopes(bytes.subarray(0, 7))).toThrow(/cut inside a message/);
  });

  it("reads an endless stream chunk by chunk, whatever the cuts", () => {
    const bytes = joined(envelope({ n: 1 }), envelope({ n: 2 }), envelope({ n: 3 }));
    const reader = new EnvelopeReader();
    const seen: unknown[] = [];
    for (let i = 0; i < bytes.length; i += 3) seen.push(...reader.push(bytes.subarray(i, i + 3)).messages);
    expect(seen).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it("answers a stream's messages, and throws the error its end carries with Latch's code", async () => {
    const answer = (bytes: Uint8Array) => async () => new Response(bytes.slice(), { status: 200 });
    const ok = createApi("t", answer(joined(envelope({ x: 1 }), endOf({}))));
    expect(await ok.stream("S", "M", {})).toEqual([{ x: 1 }]);
    const failed = createApi(
      "t",
      answer(
        endOf({
          error: {
            code: "invalid_argument",
            message: "bad type",
            details: [{ debug: { code: "check/unknown-type" } }],
          },
        }),
      ),
    );
    await expect(failed.stream("S", "M", {})).rejects.toMatchObject({
      code: "invalid_argument",
      message: "bad type",
      latchCode: "check/unknown-type",
    });
  });
});
