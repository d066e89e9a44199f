/** Bearer tokens: accepted values are remembered, refused ones are checked every time. */
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/server/auth.js";

function withHeader(value?: string): Metadata {
  const m = new Metadata();
  if (value !== undefined) m.set("authorization", value);
  return m;
}

const codeOf = (f: () => void): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe("createAuthenticator", () => {
  const auth = createAuthenticator(["alpha-token", "beta-token"]);

  it("accepts a configured token again and again, and any of them", () => {
    for (let i = 0; i < 3; i++)
      expect(codeOf(() => auth.authenticate(withHeader("Bearer alpha-token")))).toBe(undefined);
    expect(codeOf(() => auth.authenticate(withHeader("bearer   beta-token  ")))).toBe(undefined);
  });

  it("still refuses a wrong token after a right one was accepted", () => {
    auth.authenticate(withHeader("Bearer alpha-token"));
    for (let i = 0; i < 2; i++) {
      expect(codeOf(() => auth.authenticate(withHeader("Bearer alpha-token-x")))).toBe("auth/invalid-token");
      expect(codeOf(() => auth.authenticate(withHeader("Bearer alpha")))).toBe("auth/invalid-token");
    }
    expect(codeOf(() => auth.authenticate(withHeader("alpha-token")))).toBe("auth/malformed");
    expect(codeOf(() => auth.authenticate(withHeader()))).toBe("auth/missing-token");
  });

  it("keeps accepting once more spellings of a valid header were seen than it remembers", () => {
    const headers = Array.from({ length: 200 }, (_, i) => `Bearer${" ".repeat(i + 1)}alpha-token`);
    for (const h of headers) expect(codeOf(() => auth.authenticate(withHeader(h)))).toBe(undefined);
    for (const h of headers) expect(codeOf(() => auth.authenticate(withHeader(h)))).toBe(undefined);
    expect(codeOf(() => auth.authenticate(withHeader("Bearer gamma")))).toBe("auth/invalid-token");
  });

  it("lets everything through when no token is configured", () => {
    const open = createAuthenticator([]);
    expect(open.enabled).toBe(false);
    expect(codeOf(() => open.authenticate(withHeader()))).toBe(undefined);
  });
});
