import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  formatObjectRef,
  formatRelationship,
  formatSubjectRef,
  formatTimestamp,
  isLatchError,
  MAX_OBJECT_ID_LENGTH,
  OBJECT_ID_PATTERN,
  parseObjectRef,
  parseRelationship,
  parseRfc3339,
  parseSubjectRef,
  type Relationship,
  RelationshipParseError,
} from "../../src/core/index.js";
import { conformanceFiles, skipConformance } from "./conformance-files.js";

const ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_|-=+".split("");
const lower = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz".split(""));
const namePart = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789_".split(""));
const segment = fc
  .tuple(lower, fc.array(namePart, { maxLength: 10 }))
  .map(([first, rest]) => first + rest.join(""));
const typeName = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));
const objectId = fc
  .oneof(
    { weight: 9, arbitrary: fc.array(fc.constantFrom(...ID_CHARS), { minLength: 1, maxLength: 24 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...ID_CHARS), { minLength: 1000, maxLength: 1024 }) },
  )
  .map((chars) => chars.join(""));
// Values as JSON can carry them: jsonValue may give -0, which JSON writes as 0 (seed -603419145).
const jsonRepresentable = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const context = fc.dictionary(fc.string({ maxLength: 8 }), jsonRepresentable, { maxKeys: 4 });
const expiration = fc
  .integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) })
  .chain((ms) => fc.oneof(fc.constant(ms - (ms % 1000)), fc.constant(ms)))
  .map((ms) => new Date(ms));

const subject = fc.oneof(
  fc.record({ type: typeName, id: objectId }),
  fc.record({ type: typeName, id: objectId, relation: segment }),
  fc.record({ type: typeName, id: fc.constant("*") }),
);

const relationship: fc.Arbitrary<Relationship> = fc
  .record({
    resource: fc.record({ type: typeName, id: objectId }),
    relation: segment,
    subject,
    caveat: fc.option(fc.oneof(fc.record({ name: typeName }), fc.record({ name: typeName, context })), {
      nil: undefined,
    }),
    expiration: fc.option(expiration, { nil: undefined }),
  })
  .map(({ caveat, expiration: exp, ...rest }) => ({
    ...rest,
    ...(caveat === undefined ? {} : { caveat }),
    ...(exp === undefined ? {} : { expiration: exp }),
  }));

/** A canonical string built by string concatenation, independently of formatRelationship. */
const canonicalString = fc
  .record({
    rt: typeName,
    rid: objectId,
    rel: segment,
    st: typeName,
    sid: fc.oneof({ weight: 5, arbitrary: objectId }, { weight: 1, arbitrary: fc.constant("*") }),
    srel: fc.option(segment, { nil: undefined }),
    cav: fc.option(fc.tuple(typeName, fc.option(context, { nil: undefined })), { nil: undefined }),
    exp: fc.option(expiration, { nil: undefined }),
  })
  .map(({ rt, rid, rel, st, sid, srel, cav, exp }) => {
    let s = `${rt}:${rid}#${rel}@${st}:${sid}`;
    if (srel !== undefined && sid !== "*") s += `#${srel}`;
    if (cav !== undefined)
      s += cav[1] === undefined ? `[${cav[0]}]` : `[${cav[0]}:${JSON.stringify(cav[1])}]`;
    if (exp !== undefined) s += `[expiration:${exp.toISOString().replace(".000Z", "Z")}]`;
    return s;
  });

function parseError(
  input: string,
  parse: (s: string) => unknown = parseRelationship,
): RelationshipParseError {
  try {
    parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(RelationshipParseError);
    return error as RelationshipParseError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("parseRelationship", () => {
  it("reads every part of the string form", () => {
    expect(parseRelationship("document:q3#viewer@user:alice")).toEqual({
      resource: { type: "document", id: "q3" },
      relation: "viewer",
      subject: { type: "user", id: "alice" },
    });
    expect(parseRelationship("document:q3#viewer@group:eng#member").subject).toEqual({
      type: "group",
      id: "eng",
      relation: "member",
    });
    expect(parseRelationship("document:q3#viewer@user:*").subject).toEqual({ type: "user", id: "*" });
    expect(
      parseRelationship(
        'acme/document:q3#viewer@acme/user:alice[in_window:{"start":"2026-01-01T00:00:00Z"}][expiration:2027-01-01T00:00:00Z]',
      ),
    ).toEqual({
      resource: { type: "acme/document", id: "q3" },
      relation: "viewer",
      subject: { type: "acme/user", id: "alice" },
      caveat: { name: "in_window", context: { start: "2026-01-01T00:00:00Z" } },
      expiration: new Date("2027-01-01T00:00:00Z"),
    });
    expect(parseRelationship("document:q3#viewer@user:alice[in_window]").caveat).toEqual({
      name: "in_window",
    });
    expect(parseRelationship("document:q3#viewer@user:alice[expiration:2027-01-01T00:00:00Z]")).toEqual({
      resource: { type: "document", id: "q3" },
      relation: "viewer",
      subject: { type: "user", id: "alice" },
      expiration: new Date("2027-01-01T00:00:00Z"),
    });
  });

  it("normalises the ellipsis away", () => {
    const r = parseRelationship("document:q3#viewer@group:eng#...");
    expect(r.subject).toEqual({ type: "group", id: "eng" });
    expect("relation" in r.subject).toBe(false);
    expect(formatRelationship(r)).toBe("document:q3#viewer@group:eng");
  });

  it("keeps JSON strings containing brackets, braces and escapes intact", () => {
    const r = parseRelationship('doc:1#v@user:a[c:{"s":"]}[{\\"x","n":[1,{"y":[]}]}]');
    expect(r.caveat).toEqual({ name: "c", context: { s: ']}[{"x', n: [1, { y: [] }] } });
  });

  it("accepts caveat names with prefixes and a caveat named like expiration but longer", () => {
    expect(parseRelationship("a:1#b@c:2[foo/bar/only_on_tuesday]").caveat).toEqual({
      name: "foo/bar/only_on_tuesday",
    });
    expect(parseRelationship("a:1#b@c:2[expiration_window]").caveat).toEqual({ name: "expiration_window" });
  });

  it("accepts ids of exactly the maximum length and the extended id characters", () => {
    const id = "a".repeat(MAX_OBJECT_ID_LENGTH);
    expect(parseRelationship(`doc:${id}#v@user:x`).resource.id).toBe(id);
    expect(parseRelationship("doc:--=base64YWZ/fmI+rwn5iK==#v@user:authn|someuser").resource.id).toBe(
      "--=base64YWZ/fmI+rwn5iK==",
    );
    expect(OBJECT_ID_PATTERN.test("--=base64YWZ/fmI+rwn5iK==")).toBe(true);
    expect(OBJECT_ID_PATTERN.test("*")).toBe(false);
  });

  it("reads expirations with offsets and sub-millisecond digits", () => {
    expect(parseRelationship("a:1#b@c:2[expiration:2024-10-03T07:16:28.068632-07:00]").expiration).toEqual(
      new Date("2024-10-03T14:16:28.068Z"),
    );
  });

  const rejections: [string, number, string][] = [
    ["", 1, "resource type"],
    ["Document:q3#viewer@user:alice", 1, "resource type"],
    ["document", 9, "':' after the resource type"],
    ["document:#viewer@user:alice", 10, "object id"],
    ["document:*#viewer@user:alice", 10, "cannot be the wildcard"],
    ["document:q3", 12, "'#' after the resource id"],
    ["document:q 3#viewer@user:alice", 11, "'#' after the resource id"],
    ["document:q3#Viewer@user:alice", 13, "relation"],
    ["document:q3#viewer", 19, "'@'"],
    ["document:q3#viewer@", 20, "subject type"],
    ["document:q3#viewer@user", 24, "':' after the subject type"],
    ["document:q3#viewer@user:", 25, "object id"],
    ["document:q3#viewer@user:al!ce", 27, "'['"],
    ["document:q3#viewer@group:eng#", 30, "subject relation"],
    ["document:q3#viewer@group:eng#..", 30, "subject relation"],
    ["document:q3#viewer@user:*#member", 26, "wildcard subject cannot have a relation"],
    ["document:q3#viewer@user:alice ", 30, "'['"],
    ["document:q3#viewer@user:alice[", 31, "caveat name"],
    ["document:q3#viewer@user:alice[c", 32, "':' or ']'"],
    ["document:q3#viewer@user:alice[c:", 33, "'{'"],
    ["document:q3#viewer@user:alice[c:[1]]", 33, "'{'"],
    ['document:q3#viewer@user:alice[c:{"a":1]', 39, "not valid JSON"],
    ['document:q3#viewer@user:alice[c:{"a":1', 39, "'}'"],
    ['document:q3#viewer@user:alice[c:{"a":}]', 33, "not valid JSON"],
    ['document:q3#viewer@user:alice[c:{"a":1}', 40, "']' after the caveat context"],
    ["document:q3#viewer@user:alice[c][d]", 34, "at most one caveat"],
    ["document:q3#viewer@user:alice[expiration]", 41, "':' after 'expiration'"],
    ["document:q3#viewer@user:alice[expiration:2027-02-30T00:00:00Z]", 42, "RFC 3339"],
    ["document:q3#viewer@user:alice[expiration:2027-01-01]", 42, "RFC 3339"],
    ["document:q3#viewer@user:alice[expiration:2027-01-01T00:00:00Z", 62, "']'"],
    ["document:q3#viewer@user:alice[expiration:2027-01-01T00:00:00Z][c]", 63, "end of input"],
    [`document:${"x".repeat(MAX_OBJECT_ID_LENGTH + 1)}#v@user:a`, 10, "more than 1024"],
  ];

  it.each(rejections)("rejects %j at column %i", (input, column, fragment) => {
    const error = parseError(input);
    expect(error.code).toBe("relationship/syntax");
    expect(error.kind).toBe("invalid-argument");
    expect(isLatchError(error)).toBe(true);
    expect(error.details.column).toBe(column);
    expect(error.message).toContain(fragment);
    expect(error.message).toContain(`column ${column}`);
  });

  it("round-trips generated canonical strings: format(parse(s)) == s", () => {
    fc.assert(
      fc.property(canonicalString, (s) => {
        expect(formatRelationship(parseRelationship(s))).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it("round-trips generated relationships: parse(format(r)) deep-equals r", () => {
    fc.assert(
      fc.property(relationship, (r) => {
        expect(parseRelationship(formatRelationship(r))).toEqual(r);
      }),
      { numRuns: 500 },
    );
  });

  it("never throws anything but a RelationshipParseError on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        try {
          parseRelationship(s);
        } catch (error) {
          expect(error).toBeInstanceOf(RelationshipParseError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("object and subject refs", () => {
  it("parses and formats each form", () => {
    expect(parseObjectRef("document:q3")).toEqual({ type: "document", id: "q3" });
    expect(formatObjectRef({ type: "acme/document", id: "q3" })).toBe("acme/document:q3");
    expect(parseSubjectRef("group:eng#member")).toEqual({ type: "group", id: "eng", relation: "member" });
    expect(parseSubjectRef("group:eng#...")).toEqual({ type: "group", id: "eng" });
    expect(parseSubjectRef("user:*")).toEqual({ type: "user", id: "*" });
    expect(parseSubjectRef("user:alice")).toEqual({ type: "user", id: "alice" });
    expect(formatSubjectRef({ type: "group", id: "eng", relation: "member" })).toBe("group:eng#member");
    expect(formatSubjectRef({ type: "user", id: "*" })).toBe("user:*");
  });

  it("rejects trailing text and misplaced wildcards with a column", () => {
    expect(parseError("document:q3#viewer", parseObjectRef).details.column).toBe(12);
    expect(parseError("document:*", parseObjectRef).details.column).toBe(10);
    expect(parseError("user:alice#member#x", parseSubjectRef).details.column).toBe(18);
    expect(parseError("user:alice[c]", parseSubjectRef).details.column).toBe(11);
  });
});

describe("timestamps", () => {
  it("parses RFC 3339 strictly and formats without zero milliseconds", () => {
    expect(parseRfc3339("2027-01-01T00:00:00Z")?.toISOString()).toBe("2027-01-01T00:00:00.000Z");
    expect(parseRfc3339("2024-02-29T12:00:00+02:30")?.toISOString()).toBe("2024-02-29T09:30:00.000Z");
    expect(parseRfc3339("0001-01-01T00:00:00Z")?.getUTCFullYear()).toBe(1);
    for (const bad of [
      "2023-02-29T00:00:00Z",
      "2027-13-01T00:00:00Z",
      "2027-01-01T24:00:00Z",
      "2027-01-01",
      "x",
    ]) {
      expect(parseRfc3339(bad)).toBeUndefined();
    }
    expect(formatTimestamp(new Date("2027-01-01T00:00:00Z"))).toBe("2027-01-01T00:00:00Z");
    expect(formatTimestamp(new Date("2027-01-01T00:00:00.120Z"))).toBe("2027-01-01T00:00:00.120Z");
  });
});

describe.skipIf(skipConformance())("SpiceDB validation files", () => {
  it("parses every relationship line of every file", () => {
    let parsed = 0;
    for (const { name, text } of conformanceFiles()) {
      const doc = parseYaml(text) as { relationships?: unknown };
      if (typeof doc.relationships !== "string") continue;
      for (const raw of doc.relationships.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith("//")) continue;
        let r: Relationship;
        try {
          r = parseRelationship(line);
        } catch (error) {
          throw new Error(`${name}: ${(error as Error).message}`);
        }
        // Parsing the formatted form gives the same relationship back.
        expect(parseRelationship(formatRelationship(r))).toEqual(r);
        parsed++;
      }
    }
    expect(parsed).toBeGreaterThan(400);
  });
});
