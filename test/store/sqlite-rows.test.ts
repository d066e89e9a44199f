/** An import's rows as bytes (rows.ts): what goes in comes out column for column, or not at all. */
import { describe, expect, it } from "vitest";
import type { Relationship } from "../../src/core/index.js";
import { encodeRows, rowsFromBytes, rowToRelationship } from "../../src/store/sqlite/rows.js";

const relationships: Relationship[] = [
  { resource: { type: "document", id: "d1" }, relation: "viewer", subject: { type: "user", id: "u1" } },
  {
    resource: { type: "document", id: "d2" },
    relation: "viewer",
    subject: { type: "group", id: "g1", relation: "member" },
    caveat: { name: "only_on", context: { day: "café ☕ \u0000 🐝", n: [1, 2] } },
    expiration: new Date("2300-01-02T03:04:05.678Z"),
  },
  { resource: { type: "document", id: "d3" }, relation: "viewer", subject: { type: "user", id: "*" } },
];

function rows(flat: unknown[]): Relationship[] {
  const out: Relationship[] = [];
  for (let at = 0; at < flat.length; at += 9) out.push(rowToRelationship(flat.slice(at, at + 9)));
  return out;
}

describe("sqlite import rows", () => {
  it("decode to the relationships encoded, non-ASCII context and all", () => {
    expect(rows(rowsFromBytes(encodeRows(relationships)))).toEqual(relationships);
    expect(rowsFromBytes(encodeRows([]))).toEqual([]);
  });

  it("refuse bytes whose columns do not count up", () => {
    const encoded = encodeRows(relationships);
    const extra = new Uint8Array(encoded.bytes.length + 1);
    extra.set(encoded.bytes);
    expect(() => rowsFromBytes({ bytes: extra, count: 3 })).toThrow(/arrived as 28 columns/);
    expect(() => rowsFromBytes({ bytes: encoded.bytes, count: 2 })).toThrow(/rows of 2 relationships/);
  });
});
