/**
 * The push endpoint's refusals are answers the transmitter can read: a SET over the size limit is
 * a 400 invalid_request even while the sender is still sending (not a reset, which a transmitter
 * takes as transient and retries), and a refused request's body is not drained: the answer says
 * `connection: close` and the server closes the connection.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { createSsfReceiverServer, SET_CONTENT_TYPE, type SsfReceiverServer } from "../../src/server/index.js";
import { AUDIENCE, createTransmitter, ISSUER, RULES, SCHEMA } from "./fixtures.js";

/** A request head, then an endless chunked body; the answer's head once the server has closed. */
function endless(address: string, head: string): Promise<string> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise((resolve) => {
    const s = connect(Number(port), host);
    let out = "";
    s.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve((out.split("\r\n\r\n")[0] ?? "").toLowerCase()));
    s.write(`${head}transfer-encoding: chunked\r\n\r\n`);
    const chunk = `${(16 * 1024).toString(16)}\r\n${"z".repeat(16 * 1024)}\r\n`;
    const pump = () => {
      if (s.destroyed) return;
      if (s.write(chunk)) setImmediate(pump);
      else s.once("drain", pump);
    };
    pump();
  });
}

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
      const answer = await endless(address, head);
      expect(answer).toMatch(new RegExp(`^http/1.1 ${status} `));
      expect(answer).toContain("connection: close");
    }, 20_000);
  }
});
