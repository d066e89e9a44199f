/**
 * The decision log's canonical JSON (store/decision-log.ts) takes one JSON.stringify for values
 * already in canonical key order and a field-by-field path for the rest: both must write exactly
 * what the format says (a changed byte is a broken hash chain), checked here against a reference
 * written from the format's definition, on random values of every kind it meets.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, chainHash } from "../../src/store/index.js";

/** The format's definition, written plainly: keys sorted by code unit, `undefined` members left out. */
function reference(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("not finite");
  if (typeof value !== "object") return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((v) => reference(v ?? null)).join(",")}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(record[k])}`).join(",")}}`;
}

/** Keys that sort apart from their insertion order, integer-like ones (JS puts those first), odd text. */
const key = fc.oneof(
  fc.constantFrom("answer", "time", "subject", "witness", "a", "B", "é", "10", "9", "0", "", "\u{1F600}"),
  fc.string({ maxLength: 4 }),
);
const leaf = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 6 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
);
const value = fc.letrec((tie) => ({
  any: fc.oneof({ depthSize: "small" }, leaf, tie("array"), tie("object"), tie("sorted")),
  array: fc.array(tie("any"), { maxLength: 4 }),
  object: fc.dictionary(key, tie("any"), { maxKeys: 5 }),
  // Built in sorted key order: the single-JSON.stringify path.
  sorted: fc
    .dictionary(key, tie("any"), { maxKeys: 5 })
    .map((o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
}));

describe("canonical JSON", () => {
  it("writes exactly the format's encoding, whichever path a value takes", () => {
    fc.assert(
      fc.property(fc.oneof(value.array, value.object, value.sorted), (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 3000 },
    );
  });

  it("encodes a record in sorted key order as the general path does, and one out of order alike", () => {
    const sorted = {
      answer: "ALLOWED",
      resource: "document:d",
      subject: "user:u",
      time: "2026-01-01T00:00:00.000Z",
    };
    const shuffled = {
      time: sorted.time,
      subject: sorted.subject,
      answer: sorted.answer,
      resource: sorted.resource,
    };
    expect(canonicalJson(sorted)).toBe(canonicalJson(shuffled));
    expect(canonicalJson({ ...sorted, missing: undefined, witness: [undefined, "x"] })).toBe(
      '{"answer":"ALLOWED","resource":"document:d","subject":"user:u","time":"2026-01-01T00:00:00.000Z","witness":[null,"x"]}',
    );
    // Not finite: refused on every path.
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
  });

  it("hashes a record as the chain format says", () => {
    const body = canonicalJson({ answer: "DENIED", subject: "user:ü" });
    const prev = "0".repeat(64);
    expect(chainHash(7, prev, body)).toBe(
      createHash("sha256").update(`latch-decision-v1\n7\n${prev}\n${body}`).digest("hex"),
    );
  });
});
