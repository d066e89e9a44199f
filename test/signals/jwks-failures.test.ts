/**
 * A JWKS URL that cannot be read (an HTTP error or redirect, a reset, a body that is not a JWKS)
 * is a failure of ours: the push is answered 503 without `err`, so the transmitter retries, never
 * the final 400 that would drop a valid SET (an account-disabled) for good. After a failed fetch
 * the URL is not fetched again for `jwksRetryMs` (forged SETs must not make Latch fetch it for
 * each one); then the transmitter's retry is applied. The clock is the verifier's `now`, moved by
 * the test.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { createSsfReceiverServer, SET_CONTENT_TYPE, type SsfReceiverServer } from "../../src/server/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import { AUDIENCE, alice, createTransmitter, ISSUER, RULES, SCHEMA, type Transmitter } from "./fixtures.js";

type Mode = "ok" | "503" | "500" | "302" | "reset" | "html" | "not-jwks";

describe("SSF push while the JWKS URL fails", () => {
  let latch: OpenedLatch;
  let ssf: SsfReceiverServer;
  let jwksServer: Server;
  let url: string;
  let transmitter: Transmitter;
  let forger: Transmitter;
  let mode: Mode = "503";
  let fetches = 0;
  let offset = 0;
  const RETRY_MS = 5_000;

  beforeAll(async () => {
    transmitter = await createTransmitter("t1");
    forger = await createTransmitter("forged");
    jwksServer = createServer((_req, res) => {
      fetches++;
      switch (mode) {
        case "ok":
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(transmitter.jwks));
          return;
        case "302":
          res.writeHead(302, { location: "/elsewhere" }).end();
          return;
        case "reset":
          res.socket?.destroy();
          return;
        case "html":
          res.writeHead(200, { "content-type": "text/html" }).end("<html>maintenance</html>");
          return;
        case "not-jwks":
          res.writeHead(200, { "content-type": "application/json" }).end('{"keys": "none"}');
          return;
        default:
          res.writeHead(Number(mode), { "content-type": "text/plain" }).end("upstream down");
      }
    });
    await new Promise<void>((r) => jwksServer.listen(0, "127.0.0.1", r));
    const port = (jwksServer.address() as AddressInfo).port;
    latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      signals: {
        transmitter: {
          jwks: new URL(`http://127.0.0.1:${port}/jwks.json`),
          issuer: ISSUER,
          audience: AUDIENCE,
          jwksRetryMs: RETRY_MS,
          now: () => Date.now() + offset,
        },
        rules: RULES,
      },
    });
    ssf = createSsfReceiverServer(latch.signals!.receiver);
    url = `http://${await ssf.listen("127.0.0.1:0")}/`;
  });

  afterAll(async () => {
    await ssf.close();
    await latch.close();
    await new Promise<void>((r) => jwksServer.close(() => r()));
  });

  const push = async (set: string) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": SET_CONTENT_TYPE },
      body: set,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>),
    };
  };
  const disable = () => transmitter.sign({ [EVENT_TYPES.accountDisabled]: {} }, { subId: alice });
  /** Past the back-off of the last failure. */
  const later = () => {
    offset += RETRY_MS + 1;
  };

  for (const failing of ["503", "500", "302", "reset", "html", "not-jwks"] as const) {
    it(`answers 503 without err while the JWKS URL gives ${failing}`, async () => {
      later();
      mode = failing;
      const before = fetches;
      const answer = await push(await disable());
      expect(answer.status, JSON.stringify(answer)).toBe(503);
      expect(answer.body).not.toHaveProperty("err");
      expect(fetches - before).toBe(1);
    });
  }

  it("does not fetch again for each forged SET during the back-off, and says so", async () => {
    later();
    mode = "reset";
    const before = fetches;
    for (let i = 0; i < 20; i++) {
      const answer = await push(await forger.sign({ [EVENT_TYPES.accountDisabled]: {} }, { subId: alice }));
      expect(answer.status).toBe(503);
    }
    expect(fetches - before).toBe(1);
    const error = await latch.signals!.receiver.receive(await disable(), "push").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "signal/keys-unavailable" });
    expect(String((error as Error).message)).toContain("fetched again");
  });

  it("applies the transmitter's retry once the back-off is over and the URL answers", async () => {
    mode = "ok";
    // Still in the back-off: not fetched, 503 again.
    const before = fetches;
    expect((await push(await disable())).status).toBe(503);
    expect(fetches).toBe(before);
    later();
    expect((await push(await disable())).status).toBe(202);
    expect(fetches).toBe(before + 1);
  });

  it("still refuses a SET signed by a key the JWKS lacks with 400 invalid_key (fetched again at most once)", async () => {
    const before = fetches;
    for (let i = 0; i < 5; i++) {
      const answer = await push(await forger.sign({ [EVENT_TYPES.accountDisabled]: {} }, { subId: alice }));
      expect(answer).toMatchObject({ status: 400, body: { err: "invalid_key" } });
    }
    expect(fetches - before).toBeLessThanOrEqual(1);
  });
});
