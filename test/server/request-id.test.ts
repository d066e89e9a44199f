/** Request ids: a client's plausible one kept, others made unique and UUID-shaped without a draw per call. */
import { describe, expect, it } from "vitest";
import { mix32, requestIdOr, requestIds } from "../../src/server/request-id.js";

const V8_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The inverse of an odd multiplier modulo 2^32 (Newton's iteration). */
function inverseOf(c: number): number {
  let inv = c;
  for (let i = 0; i < 5; i++) inv = Math.imul(inv, 2 - Math.imul(c, inv));
  return inv;
}

/** mix32 undone step by step: each of its steps is invertible, so it is a bijection. */
function unmix32(h: number): number {
  let x = h | 0;
  x ^= (x >>> 15) ^ (x >>> 30);
  x = Math.imul(x, inverseOf(0x735a2d97));
  x ^= (x >>> 15) ^ (x >>> 30);
  x = Math.imul(x, inverseOf(0x21f0aaad));
  x ^= x >>> 16;
  return x | 0;
}

describe("request ids", () => {
  it("keeps a client's id of 1 to 128 of [A-Za-z0-9_.:-] and makes one for anything else", () => {
    expect(requestIdOr("trace:42.a-b_c")).toBe("trace:42.a-b_c");
    expect(requestIdOr("x".repeat(128))).toBe("x".repeat(128));
    for (const bad of [undefined, "", "x".repeat(129), "has space", "new\nline", 42]) {
      expect(requestIdOr(bad)).toMatch(V8_UUID);
    }
  });

  it("makes distinct UUID-shaped ids (version 8) that share the process's prefix and do not count in the open", () => {
    const next = requestIds();
    const ids = Array.from({ length: 100_000 }, () => next());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 1_000)) expect(id).toMatch(V8_UUID);
    expect(new Set(ids.map((id) => id.slice(0, 28))).size).toBe(1);
    // Neighbouring calls' ids are not neighbouring numbers.
    const tails = ids.slice(0, 100).map((id) => Number.parseInt(id.slice(28), 16));
    expect(tails.filter((tail, i) => i > 0 && Math.abs(tail - tails[i - 1]!) === 1)).toEqual([]);
  });

  it("takes its prefix from the bytes drawn, with the version and variant set", () => {
    const next = requestIds(() => Buffer.alloc(16, 0xff));
    expect(next().slice(0, 28)).toBe("ffffffff-ffff-8fff-bfff-ffff");
  });

  it("mixes counters by a bijection of 32 bits", () => {
    const samples = [0, 1, 2, 0x7fffffff, -1, 0x80000000 | 0, 123_456_789];
    for (let i = 0; i < 10_000; i++) samples.push((Math.random() * 2 ** 32) | 0);
    for (const x of samples) expect(unmix32(mix32(x))).toBe(x);
  });
});
