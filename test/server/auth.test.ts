/** Bearer tokens: accepted values are remembered, refused ones are checked every time. */
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { createAuthenticator, parseToken, parseTokens } from "../../src/server/auth.js";
import { checkTokens } from "../../src/server/server.js";

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

  it("names the token it accepted on that call's metadata, the first time and once remembered", () => {
    const named = createAuthenticator(["ci=ci-token-0123456789", "ops=ops-token-0123456789"]);
    for (const header of [
      "Bearer ops-token-0123456789",
      "Bearer ops-token-0123456789",
      "bearer  ci-token-0123456789",
    ]) {
      const metadata = withHeader(header);
      named.authenticate(metadata);
      // Read back from the call, not found again from its header (which a later hop might change).
      const name = named.callerOf(metadata);
      metadata.set("authorization", "Bearer ops-token-0123456789");
      expect(named.callerOf(metadata)).toBe(name);
      expect(name).toBe(header.includes("ops") ? "ops" : "ci");
    }
    // Never authenticated on this metadata: found from the header.
    expect(named.callerOf(withHeader("Bearer ci-token-0123456789"))).toBe("ci");
    expect(named.callerOf(withHeader("Bearer wrong-token-0123456789"))).toBe(undefined);
  });

  it("lets everything through when no token is configured", () => {
    const open = createAuthenticator([]);
    expect(open.enabled).toBe(false);
    expect(codeOf(() => open.authenticate(withHeader()))).toBe(undefined);
  });
});

describe("named tokens", () => {
  it("reads name=secret, and names a bare secret token-N after its position", () => {
    expect(parseTokens(["reader=s3cret-0123456789abcdef", "plain-secret-0123456789"])).toEqual([
      { name: "reader", secret: "s3cret-0123456789abcdef" },
      { name: "token-2", secret: "plain-secret-0123456789" },
    ]);
  });

  it("splits at the first = only: the secret may hold more", () => {
    expect(parseToken("ci.bot:v2=a=b=c", 1)).toEqual({ name: "ci.bot:v2", secret: "a=b=c" });
  });

  it("keeps a base64 secret ending in = whole, and a text that does not start with a name", () => {
    expect(parseToken("QUJDREVGR0hJSktMTU5PUA==", 3)).toEqual({
      name: "token-3",
      secret: "QUJDREVGR0hJSktMTU5PUA==",
    });
    expect(parseToken("=leading-equals-secret", 1)).toEqual({
      name: "token-1",
      secret: "=leading-equals-secret",
    });
    expect(parseToken("has space=secret-0123456789", 1).name).toBe("token-1");
  });

  it("checks the secret's length, not the name's, and names the short one", () => {
    expect(() => checkTokens({ tokens: ["a-long-name-here=short"] })).toThrow(
      /token 1 of 1 \(a-long-name-here\) has 5 characters/,
    );
    expect(checkTokens({ tokens: ["x=0123456789abcdef"] })).toEqual([
      { name: "x", secret: "0123456789abcdef" },
    ]);
    expect(checkTokens({ tokens: ["x=short"], insecureShortTokens: true })).toEqual([
      { name: "x", secret: "short" },
    ]);
  });

  it("tells the caller's name from the header, not the secret; none without a configured token", () => {
    const auth = createAuthenticator(["reader=alpha-token", "beta-token", "writer=alpha-token-2"]);
    const header = withHeader("Bearer alpha-token-2");
    auth.authenticate(header);
    expect(auth.callerOf(header)).toBe("writer");
    expect(auth.callerOf(withHeader("Bearer beta-token"))).toBe("token-2");
    expect(auth.callerOf(withHeader("Bearer nope"))).toBe(undefined);
    expect(auth.callerOf(withHeader())).toBe(undefined);
    expect(createAuthenticator([]).callerOf(header)).toBe(undefined);
  });
});
