/**
 * SET verification through the RFC 8935 push endpoint: each bad SET is answered 400 with the
 * RFC 8935 `err`, and nothing of it is applied (no signal recorded, no subject state, no
 * relationship deleted); an unknown event type is accepted (202) and logged as ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { createSsfReceiverServer, SET_CONTENT_TYPE, type SsfReceiverServer } from "../../src/server/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import { AUDIENCE, alice, createTransmitter, ISSUER, RULES, SCHEMA, type Transmitter } from "./fixtures.js";

describe("SET verification (RFC 8935 push)", () => {
  let latch: OpenedLatch;
  let server: SsfReceiverServer;
  let url: string;
  let transmitter: Transmitter;

  beforeAll(async () => {
    transmitter = await createTransmitter();
    latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      signals: { transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE }, rules: RULES },
    });
    await latch.store.write([
      { operation: "touch", relationship: parseRelationship("document:plan#viewer@user:alice") },
      { operation: "touch", relationship: parseRelationship("user:alice#delegate@agent:bot") },
    ]);
    server = createSsfReceiverServer(latch.signals!.receiver);
    url = `http://${await server.listen("127.0.0.1:0")}/`;
  });

  afterAll(async () => {
    await server.close();
    await latch.close();
  });

  async function post(body: string, type = SET_CONTENT_TYPE): Promise<{ status: number; body: unknown }> {
    const res = await fetch(url, { method: "POST", headers: { "content-type": type }, body });
    const text = await res.text();
    return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
  }

  const disable = { [EVENT_TYPES.accountDisabled]: {} };

  /** Nothing of a refused SET may show: no new signal row, alice neither suspended nor changed. */
  async function expectNothingApplied(before: number): Promise<void> {
    expect((await latch.store.signals.list({})).length).toBe(before);
    const states = await latch.store.signals.statesSince(-1n);
    expect(states.rows.filter((r) => r.subject === "user:alice")).toEqual([]);
    const left = await latch.store
      .at(await latch.store.currentRevision())
      .readRelationships({ resourceType: "user" });
    expect(left.relationships.length).toBe(1);
  }

  async function expectRefused(set: string, err: string, type?: string): Promise<void> {
    const before = (await latch.store.signals.list({})).length;
    const answer = await post(set, type);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ err });
    expect(typeof (answer.body as { description?: unknown }).description).toBe("string");
    await expectNothingApplied(before);
  }

  it("refuses a SET whose signature does not verify (authentication_failed)", async () => {
    const other = await createTransmitter("t1"); // same kid, another key
    await expectRefused(await other.sign(disable, { subId: alice }), "authentication_failed");
  });

  it("refuses a SET signed with a key the JWKS lacks (invalid_key)", async () => {
    const stranger = await createTransmitter("unknown-kid");
    await expectRefused(await stranger.sign(disable, { subId: alice }), "invalid_key");
  });

  it("refuses an unsigned SET (invalid_key)", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({
        iss: ISSUER,
        aud: AUDIENCE,
        iat: Math.floor(Date.now() / 1000),
        jti: "x",
        events: disable,
      }),
    ).toString("base64url");
    await expectRefused(`${header}.${payload}.`, "invalid_key");
  });

  it("refuses the wrong issuer (invalid_issuer) and the wrong audience (invalid_audience)", async () => {
    await expectRefused(
      await transmitter.sign(disable, { subId: alice, iss: "https://evil.example.com" }),
      "invalid_issuer",
    );
    await expectRefused(
      await transmitter.sign(disable, { subId: alice, aud: "https://other.example.com" }),
      "invalid_audience",
    );
  });

  it("refuses an expired SET and one issued too long ago or in the future (invalid_request)", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(
      await transmitter.sign(disable, { subId: alice, exp: now - 3600 }),
      "invalid_request",
    );
    await expectRefused(
      await transmitter.sign(disable, { subId: alice, iat: now - 3600 }),
      "invalid_request",
    );
    await expectRefused(
      await transmitter.sign(disable, { subId: alice, iat: now + 3600 }),
      "invalid_request",
    );
  });

  it("refuses a malformed JWT, a missing events claim and the wrong content type (invalid_request)", async () => {
    await expectRefused("not a jwt", "invalid_request");
    await expectRefused("YWJj.e30.AAAA", "invalid_request"); // the header is not JSON
    await expectRefused(await transmitter.sign({}, { subId: alice }), "invalid_request");
    await expectRefused(
      await transmitter.sign(disable, { subId: alice }),
      "invalid_request",
      "application/json",
    );
  });

  it("refuses a whole SET when one event cannot be applied (nothing half-applied)", async () => {
    // The purge would delete relationships; the assurance event lacks the field its rule reads.
    const set = await transmitter.sign(
      { [EVENT_TYPES.accountPurged]: {}, [EVENT_TYPES.assuranceLevelChange]: { namespace: "nist-aal" } },
      { subId: alice },
    );
    await expectRefused(set, "invalid_request");
  });

  it("accepts an unknown event type (202) and logs it as ignored", async () => {
    const type = "https://example.com/event-type/something-new";
    const answer = await post(await transmitter.sign({ [type]: {} }, { subId: alice }));
    expect(answer.status).toBe(202);
    const [latest] = await latch.store.signals.list({ limit: 1 });
    expect(latest?.effects).toEqual([{ event: type, action: "ignored", note: "unknown event type" }]);
  });

  it("applies a good SET once and refuses its replay (invalid_request), counting it", async () => {
    const set = await transmitter.sign(disable, { subId: alice });
    expect((await post(set)).status).toBe(202);
    const replays = latch.signals!.receiver.stats.replays;
    const again = await post(set);
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ err: "invalid_request" });
    expect(latch.signals!.receiver.stats.replays).toBe(replays + 1);
    const suspended = (await latch.store.signals.statesSince(-1n)).rows.filter(
      (r) => r.subject === "user:alice",
    );
    expect(suspended.map((r) => r.suspended)).toEqual([true]);
  });

  it("answers 503 (retry, nothing applied) when the JWKS URL cannot be fetched", async () => {
    const unreachable = await openLatch({
      store: latch.store,
      mirror: false,
      approvals: false,
      signals: {
        transmitter: { jwks: new URL("http://127.0.0.1:1/jwks.json"), issuer: ISSUER, audience: AUDIENCE },
        rules: RULES,
      },
    });
    const ssf = createSsfReceiverServer(unreachable.signals!.receiver);
    const address = await ssf.listen("127.0.0.1:0");
    try {
      const before = (await latch.store.signals.list({})).length;
      const res = await fetch(`http://${address}/`, {
        method: "POST",
        headers: { "content-type": SET_CONTENT_TYPE },
        body: await transmitter.sign(disable, { subId: { format: "opaque", id: "bot" } }),
      });
      expect(res.status).toBe(503);
      expect((await res.json()) as object).not.toHaveProperty("err");
      expect((await latch.store.signals.list({})).length).toBe(before);
    } finally {
      await ssf.close();
      unreachable.signals!.close();
    }
  });

  it("refuses a replay across a restart (the jti is stored)", async () => {
    const set = await transmitter.sign({ [EVENT_TYPES.accountEnabled]: {} }, { subId: alice });
    await latch.signals!.receiver.receive(set, "api");
    const reopened = await openLatch({
      store: latch.store,
      mirror: false,
      approvals: false,
      signals: { transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE }, rules: RULES },
    });
    await expect(reopened.signals!.receiver.receive(set, "api")).rejects.toMatchObject({
      code: "signal/replayed",
    });
    reopened.signals!.close();
  });
});
