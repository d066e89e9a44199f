/**
 * The fixpoint's comparison of answers (`implies`) and the form it keeps them in (`compact`):
 * rounds must stop when an answer stops growing in meaning, whatever its shape.
 */
import { describe, expect, it } from "vitest";
import { compact, implies } from "../../src/engine/fixpoint.js";
import {
  andMember,
  type CaveatExpr,
  caveatLeaf,
  exceptMember,
  orMember,
} from "../../src/engine/membership.js";

const x = caveatLeaf("x", undefined);
const y = caveatLeaf("y", undefined);
const xAt = (at: number) => caveatLeaf("x", { at });

describe("implies", () => {
  it("compares by meaning, not by shape", () => {
    const grown = orMember(x, andMember(x, y));
    expect(implies(grown, x)).toBe(true);
    expect(implies(x, grown)).toBe(true);
    expect(implies(orMember(x, y), x)).toBe(false);
    expect(implies(andMember(x, y), y)).toBe(true);
  });

  it("treats no answer as the least, a plain yes as the most", () => {
    expect(implies(undefined, x)).toBe(true);
    expect(implies(x, undefined)).toBe(false);
    expect(implies(x, true)).toBe(true);
    expect(implies(true, x)).toBe(false);
    expect(implies(undefined, undefined)).toBe(true);
  });

  it("tells leaves apart by their context", () => {
    expect(implies(xAt(1), xAt(2))).toBe(false);
    expect(implies(xAt(1), orMember(xAt(2), xAt(1)))).toBe(true);
  });

  it("handles negations (an exclusion's caveats)", () => {
    const notY = exceptMember(x, y); // x and not y
    expect(implies(notY, x)).toBe(true);
    expect(implies(x, notY)).toBe(false);
  });

  it("compares answers of many caveats by their terms", () => {
    let many: CaveatExpr = caveatLeaf("c0", undefined);
    for (let i = 1; i < 40; i++)
      many = orMember(many, andMember(caveatLeaf(`c${i}`, undefined), x)) as CaveatExpr;
    expect(implies(many, many)).toBe(true);
    expect(implies(orMember(many, y), many)).toBe(false);
    expect(implies(andMember(many, y), many)).toBe(true);
  });

  it("with a negation, says no past twelve caveats: one more round rather than a wrong stop", () => {
    let many: CaveatExpr = exceptMember(x, y) as CaveatExpr;
    for (let i = 0; i < 12; i++) many = orMember(many, caveatLeaf(`c${i}`, undefined)) as CaveatExpr;
    expect(implies(many, many)).toBe(false);
  });
});

describe("compact", () => {
  it("keeps the minimal sets of caveats that make an answer hold", () => {
    expect(compact(orMember(x, andMember(x, y)))).toBe(x);
    expect(compact(orMember(andMember(x, y), andMember(y, x)))).toEqual({ op: "and", children: [x, y] });
    const either = compact(orMember(orMember(x, y), andMember(x, y)));
    expect(either).toEqual({ op: "or", children: [x, y] });
  });

  it("keeps an answer of too many ways to hold as it is, rather than compare them all", () => {
    const anyOf = (prefix: string) => {
      let out: CaveatExpr = caveatLeaf(`${prefix}0`, undefined);
      for (let i = 1; i < 40; i++) out = orMember(out, caveatLeaf(`${prefix}${i}`, undefined)) as CaveatExpr;
      return out;
    };
    // 40 x 40 ways: past what is compared at once.
    const both = andMember(anyOf("a"), anyOf("b"));
    expect(compact(both)).toBe(both);
    expect(implies(both, both)).toBe(false);
  });

  it("leaves a plain yes, no answer, and negations as they are", () => {
    expect(compact(true)).toBe(true);
    expect(compact(undefined)).toBeUndefined();
    const notY = exceptMember(x, y);
    expect(compact(notY)).toBe(notY);
  });
});
