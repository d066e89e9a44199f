/**
 * The header of packed rows (store/packed-rows.ts): what it says decides whether the walk reads a
 * row's Relationship for an expiration or a caveat, so it must never say "none" of rows that have
 * one, and a first slot that is not a header must read as the safe answer.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { headOf, packedHead, packRows } from "../../src/store/packed-rows.js";

const plain = parseRelationship("document:d#viewer@user:alice");
const caveated = parseRelationship('document:d#viewer@user:bob[in_window:{"hour":9}]');
const expiring = { ...parseRelationship("document:d#viewer@user:carol"), expiration: new Date(0) };

describe("packed rows' header", () => {
  it("says a list may carry a caveat or an expiration exactly when one of its rows does", () => {
    expect(headOf(packRows([plain]))).toEqual({ expiring: false, caveated: false });
    expect(headOf(packRows([plain, caveated]))).toEqual({ expiring: false, caveated: true });
    expect(headOf(packRows([expiring, plain]))).toEqual({ expiring: true, caveated: false });
    expect(headOf(packRows([caveated, expiring]))).toEqual({ expiring: true, caveated: true });
    expect(headOf(packRows([]))).toEqual({ expiring: false, caveated: false });
  });

  it("is one shared object per answer, not one per list", () => {
    expect(headOf(packRows([plain]))).toBe(headOf(packRows([plain, plain])));
    expect(packedHead(true, false)).toBe(headOf(packRows([expiring])));
    expect(Object.isFrozen(packedHead(false, true))).toBe(true);
  });

  it("reads a first slot that is not a header as 'may expire, may carry a caveat'", () => {
    // Rows packed the old way (a boolean first) or by hand: the walk then reads every row.
    for (const first of [true, false, undefined, null, 0]) {
      expect(headOf([first, plain.relation, plain.subject, plain])).toEqual({
        expiring: true,
        caveated: true,
      });
    }
  });
});
