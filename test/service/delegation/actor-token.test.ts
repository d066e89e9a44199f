/**
 * Actor tokens: a verified RFC 8693 chain instead of a claimed one. Keys are generated here; every
 * refusal names its stable code and kind.
 */
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckRequest } from "../../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";

const SCHEMA = `
definition agent {
  relation delegate_to: agent
  permission delegate = delegate_to
}
definition user {
  relation delegate_to: agent
  permission delegate = delegate_to
}
definition document {
  relation viewer: user | agent
  permission view = viewer
}`;
const ISSUER = "https://sts.example";
const AUDIENCE = "latch";
const consistency = { kind: "fully-consistent" } as const;

type Key = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
let key: Key;
let otherKey: Key;
let latch: OpenedLatch;
let unconfigured: OpenedLatch;

interface Claims {
  sub?: unknown;
  act?: unknown;
  [k: string]: unknown;
}

async function sign(
  claims: Claims,
  opts: { iss?: string; aud?: string; exp?: number | string; with?: Key } = {},
): Promise<string> {
  const jwt = new SignJWT(claims as Record<string, unknown>)
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt();
  if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
  else jwt.setExpirationTime("5m");
  return jwt.sign(opts.with ?? key);
}

const aliceViaBot = { sub: "user:alice", act: { sub: "agent:bot" } };

/** `act` nesting `count` actors: agent:bot, then agent:a1, agent:a2, ... */
function nested(count: number): Record<string, unknown> {
  let act: Record<string, unknown> | undefined;
  for (let i = count - 1; i >= 0; i--)
    act = { sub: i === 0 ? "agent:bot" : `agent:a${i}`, ...(act === undefined ? {} : { act }) };
  return act!;
}

function ask(actorToken: string, extra: Partial<CheckRequest> = {}): CheckRequest {
  return {
    resource: { type: "document", id: "b" },
    permission: "view",
    subject: { type: "agent", id: "bot" },
    consistency,
    actorToken,
    ...extra,
  };
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; kind: string; message: string }> {
  return p.then(
    () => ({ code: "none", kind: "none", message: "" }),
    (e: { code: string; kind: string; message: string }) => e,
  );
}

beforeAll(async () => {
  // Signs well, but with a key the JWKS does not hold: a bad signature.
  otherKey = (await generateKeyPair("ES256")).privateKey;
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), alg: "ES256", kid: "k1" };
  latch = await openLatch({
    database: ":memory:",
    schema: SCHEMA,
    actorTokens: { jwks: { keys: [jwk] }, issuer: ISSUER, audience: AUDIENCE },
  });
  unconfigured = await openLatch({ database: ":memory:", schema: SCHEMA });
  for (const l of [latch, unconfigured])
    await l.store.write([
      ...[
        ["document", "a", "viewer", "user", "alice"],
        ["document", "b", "viewer", "user", "alice"],
        ["document", "b", "viewer", "agent", "bot"],
        ["document", "b", "viewer", "agent", "planner"],
        ["document", "c", "viewer", "agent", "bot"],
        ["user", "alice", "delegate_to", "agent", "planner"],
        ["agent", "planner", "delegate_to", "agent", "bot"],
        ["user", "alice", "delegate_to", "agent", "bot"],
      ].map(([rt, ri, rel, st, si]) => ({
        operation: "touch" as const,
        relationship: { resource: { type: rt!, id: ri! }, relation: rel!, subject: { type: st!, id: si! } },
      })),
    ]);
});

afterAll(async () => {
  await latch?.close();
  await unconfigured?.close();
});

describe("actor tokens", () => {
  it("a valid token states the chain: the agent acting for alice", async () => {
    const token = await sign(aliceViaBot);
    expect((await latch.decider.check(ask(token))).state).toBe("ALLOWED");
    // document:c: the agent may, alice may not, so the token's chain denies it.
    const c = ask(token, { resource: { type: "document", id: "c" } });
    expect((await latch.decider.check(c)).state).toBe("DENIED");
    // Without the token the same request is the agent alone, and allowed.
    const { actorToken: _, ...plain } = c;
    expect((await latch.decider.check(plain)).state).toBe("ALLOWED");
    // The matching chain stated as well is accepted.
    const stated = ask(token, { onBehalfOf: [{ type: "user", id: "alice" }] });
    expect((await latch.decider.check(stated)).state).toBe("ALLOWED");
  });

  it("a nested act is a prior actor: act.sub acts for act.act.sub, which acts for sub", async () => {
    const token = await sign({ sub: "user:alice", act: { sub: "agent:bot", act: { sub: "agent:planner" } } });
    expect((await latch.decider.check(ask(token))).state).toBe("ALLOWED");
    const stated = ask(token, {
      onBehalfOf: [
        { type: "agent", id: "planner" },
        { type: "user", id: "alice" },
      ],
    });
    expect((await latch.decider.check(stated)).state).toBe("ALLOWED");
    const reversed = ask(token, {
      onBehalfOf: [
        { type: "user", id: "alice" },
        { type: "agent", id: "planner" },
      ],
    });
    expect((await refusal(latch.decider.check(reversed))).code).toBe("delegation/actor-token-mismatch");
  });

  it("CheckBulk and LookupResources take the token's chain", async () => {
    const token = await sign(aliceViaBot);
    const bulk = await latch.decider.checkBulk({
      consistency,
      actorToken: token,
      items: ["a", "b", "c"].map((id) => ({
        resource: { type: "document", id },
        permission: "view",
        subject: { type: "agent", id: "bot" },
      })),
    });
    expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual(["DENIED", "ALLOWED", "DENIED"]);
    const found: string[] = [];
    for await (const r of latch.decider.lookupResources({
      resourceType: "document",
      permission: "view",
      subject: { type: "agent", id: "bot" },
      consistency,
      actorToken: token,
    }))
      found.push(r.resourceId);
    expect(found).toEqual(["b"]);
  });

  it("fields that contradict the token are PERMISSION_DENIED", async () => {
    const token = await sign(aliceViaBot);
    const wrongSubject = ask(token, { subject: { type: "agent", id: "planner" } });
    const e1 = await refusal(latch.decider.check(wrongSubject));
    expect([e1.code, e1.kind]).toEqual(["delegation/actor-token-mismatch", "permission-denied"]);
    const wrongChain = ask(token, { onBehalfOf: [{ type: "user", id: "bob" }] });
    expect((await refusal(latch.decider.check(wrongChain))).code).toBe("delegation/actor-token-mismatch");
    const bulk = latch.decider.checkBulk({
      consistency,
      actorToken: token,
      items: [
        {
          resource: { type: "document", id: "a" },
          permission: "view",
          subject: { type: "user", id: "alice" },
        },
      ],
    });
    const e2 = await refusal(bulk);
    expect([e2.code, e2.message]).toEqual([
      "delegation/actor-token-mismatch",
      "items[0].subject user:alice is not the actor token's actor agent:bot",
    ]);
  });

  it.each([
    ["expired", () => sign(aliceViaBot, { exp: Math.floor(Date.now() / 1000) - 60 }), /ERR_JWT_EXPIRED/],
    ["wrong issuer", () => sign(aliceViaBot, { iss: "https://evil.example" }), /iss/],
    ["wrong audience", () => sign(aliceViaBot, { aud: "someone-else" }), /aud/],
    ["bad signature", () => sign(aliceViaBot, { with: otherKey }), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/],
    [
      "alg none",
      async () => {
        const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
        const exp = Math.floor(Date.now() / 1000) + 300;
        return `${enc({ alg: "none" })}.${enc({ ...aliceViaBot, iss: ISSUER, aud: AUDIENCE, exp })}.`;
      },
      /ERR_JOSE_ALG_NOT_ALLOWED/,
    ],
    [
      "an algorithm no key names (HS256, the key-confusion attack)",
      async () => {
        const secret = new TextEncoder().encode("a-shared-secret-of-enough-length-for-hs256");
        return new SignJWT(aliceViaBot)
          .setProtectedHeader({ alg: "HS256" })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime("5m")
          .sign(secret);
      },
      /ERR_JOSE_ALG_NOT_ALLOWED/,
    ],
    ["malformed", async () => "not.a.jwt", /actor token/],
    ["no act claim", () => sign({ sub: "user:alice" }), /no act claim/],
    [
      "a subject that is not a Latch subject",
      () => sign({ sub: "alice@example.com", act: { sub: "agent:bot" } }),
      /Latch subject/,
    ],
    ["a subject set", () => sign({ sub: "user:alice", act: { sub: "group:eng#member" } }), /one object/],
    [
      // 9 actors: the subject and 8 prior ones, so a chain of 9 with `sub`.
      "act nested one level past a chain of 8",
      () => sign({ sub: "user:alice", act: nested(9) }),
      /act nests deeper than a chain of 8/,
    ],
    [
      "a scope entry with a line break (RFC 6749 allows none)",
      () => sign({ ...aliceViaBot, scope: "view\n2026-05-15T14:00:02Z forged ALLOWED" }),
      /scope must be a string of space-separated entries/,
    ],
  ])("%s: UNAUTHENTICATED with the reason", async (_name, make, reason) => {
    const e = await refusal(latch.decider.check(ask(await make())));
    expect([e.code, e.kind]).toEqual(["delegation/invalid-actor-token", "unauthenticated"]);
    expect(e.message).toMatch(reason);
  });

  it("a token sent to a server without a JWKS is FAILED_PRECONDITION", async () => {
    const e = await refusal(unconfigured.decider.check(ask(await sign(aliceViaBot))));
    expect([e.code, e.kind]).toEqual(["delegation/actor-tokens-not-configured", "failed-precondition"]);
  });

  it("a chain of exactly 8 from nested act is taken", async () => {
    // 8 actors: the subject and 7 prior ones, then `sub`: a chain of 8, all refused only for data.
    const answer = await latch.decider.check(ask(await sign({ sub: "user:alice", act: nested(8) })));
    expect(answer.state).toBe("DENIED");
  });

  it.each([
    ["a symmetric key", { kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", alg: "HS256" }, /symmetric/],
    ["a private key", "private", /private key/],
  ])("a JWKS holding %s is refused at start", async (_, given, reason) => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const jwk = given === "private" ? { ...(await exportJWK(pair.privateKey)), alg: "ES256" } : given;
    await expect(
      openLatch({
        database: ":memory:",
        actorTokens: { jwks: { keys: [jwk as JWK] }, issuer: ISSUER, audience: AUDIENCE },
      }),
    ).rejects.toThrow(reason);
  });

  it("a JWKS key without alg is refused at start", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    await expect(
      openLatch({
        database: ":memory:",
        actorTokens: { jwks: { keys: [jwk] }, issuer: ISSUER, audience: AUDIENCE },
      }),
    ).rejects.toThrow(/alg/);
  });
});
