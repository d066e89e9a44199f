import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLIP_LENGTH, clip, clipJson, truncateText } from "../../src/core/index.js";

describe("clip: one echoed value", () => {
  it("leaves a value of normal size alone", () => {
    expect(clip("document")).toBe("document");
    expect(clip("a".repeat(CLIP_LENGTH))).toBe("a".repeat(CLIP_LENGTH));
  });

  it("keeps the start of a long value and says how long it was", () => {
    expect(clip("a".repeat(1024 * 1024))).toBe(`${"a".repeat(CLIP_LENGTH)}… (1048576 characters)`);
    expect(clip("abcdefgh", 3)).toBe("abc… (8 characters)");
  });

  it("never splits a surrogate pair", () => {
    const clipped = clip(`${"a".repeat(CLIP_LENGTH - 1)}😀${"b".repeat(10)}`);
    expect(clipped.startsWith(`${"a".repeat(CLIP_LENGTH - 1)}…`)).toBe(true);
    expect(clipped).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it("is short for any input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 5000 }), (s) => {
        expect(clip(s).length).toBeLessThanOrEqual(CLIP_LENGTH + 30);
      }),
    );
  });
});

describe("truncateText: a whole message", () => {
  it("leaves a short text alone", () => {
    expect(truncateText("short", 10)).toBe("short");
  });

  it("fits the limit, note included, and counts what it cut", () => {
    const text = "x".repeat(100_000);
    const cut = truncateText(text, 4096);
    expect(cut.length).toBeLessThanOrEqual(4096);
    const match = / … \((\d+) more characters\)$/.exec(cut);
    expect(match).not.toBeNull();
    const head = cut.slice(0, match!.index);
    expect(head.length + Number(match![1])).toBe(text.length);
  });
});

describe("clipJson", () => {
  it("clips every string value and writes bigints as strings", () => {
    const json = JSON.stringify({ type: "a".repeat(1000), n: 5n, nested: { id: "ok" } }, clipJson);
    expect(JSON.parse(json)).toEqual({ type: clip("a".repeat(1000)), n: "5", nested: { id: "ok" } });
  });
});
