/**
 * The push endpoint's refusals are answers the transmitter can read: a SET over the size limit is
 * a 400 invalid_request even while the sender is still sending (not a reset, which a transmitter
 * takes as transient and retries), and a refused request's body is not drained: the answer says
 * `connection: close` and the server closes the connection.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { createSsfReceiverServer, SET_CONTENT_TYPE, type SsfReceiverServer } from "../../src/server/index.js";
import { endlessBody } from "../support/endless-body.js";
import { AUDIENCE, createTransmitter, ISSUER, RULES, SCHEMA } from "./fixtures.js";

describe("SSF push refusals", () => {
  let latch: OpenedLatch;
  let server: SsfReceiverServer;
  let address: string;
  beforeAll(async () => {
    const transmitter = await createTransmitter();
    latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      signals: { transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE }, rules: RULES },
    });
    server = createSsfReceiverServer(latch.signals!.receiver);
    address = await server.listen("127.0.0.1:0");
  });
  afterAll(async () => {
    await server.close();
    await latch.close();
  });

  for (const size of [70_000, 1_000_000, 8_000_000]) {
    it(`answers a ${size}-byte SET with a readable 400 invalid_request`, async () => {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://${address}/`, {
          method: "POST",
          headers: { "content-type": SET_CONTENT_TYPE },
          body: "a".repeat(size),
        });
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ err: "invalid_request" });
      }
    });
  }

  const cases: [string, string, string][] = [
    ["a wrong content type", "POST / HTTP/1.1\r\nHost: x\r\ncontent-type: text/plain\r\n", "400"],
    ["PUT", "PUT / HTTP/1.1\r\nHost: x\r\ncontent-type: text/plain\r\n", "405"],
    ["an endless SET", `POST / HTTP/1.1\r\nHost: x\r\ncontent-type: ${SET_CONTENT_TYPE}\r\n`, "400"],
  ];
  for (const [name, head, status] of cases) {
    it(`${name}: answered ${status} with connection: close, then closed by the server`, async () => {
      const { head: answer } = await endlessBody(address, head);
      expect(answer).toMatch(new RegExp(`^http/1.1 ${status} `));
      expect(answer).toContain("connection: close");
    }, 20_000);
  }
});
