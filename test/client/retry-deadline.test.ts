import { once } from "node:events";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/client/index.js";

/**
 * A call's deadline covers all its attempts: a retry gets what is left of it (and tells the server
 * so in `grpc-timeout`), and no retry starts that could only begin after it. A stand-in HTTP/2
 * server answers every call UNAVAILABLE and keeps the `grpc-timeout` each attempt carried.
 */
describe("client retries within the call's deadline", () => {
  const TIMEOUT_MS = 1_000;
  const MAX_ATTEMPTS = 10;
  let server: Http2Server;
  let address = "";
  const timeouts = new Map<string, number[]>();

  beforeAll(async () => {
    server = createServer();
    server.on("stream", (stream, headers) => {
      const path = String(headers[":path"]);
      const timeout = String(headers["grpc-timeout"]);
      // Every timeout the clients send here is in milliseconds ("1000m").
      expect(timeout).toMatch(/^\d+m$/);
      const seen = timeouts.get(path) ?? [];
      seen.push(Number(timeout.slice(0, -1)));
      timeouts.set(path, seen);
      stream.on("error", () => undefined);
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "14",
          "grpc-message": "try again",
        },
        { endStream: true },
      );
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    server.close();
  });

  /**
   * Attempt k starts after the pauses before it (25 ms, doubling): at least 25 x (2^k - 1) ms
   * into the call, so its `grpc-timeout` is at least that much below the call's (1 ms a pause of
   * slack: a timer may fire within a millisecond of its time), and no attempt starts once those
   * pauses alone reach the deadline (here: at most 6 of the 10 allowed).
   */
  const expectWithinDeadline = (seen: readonly number[] | undefined) => {
    expect(seen).toBeDefined();
    const sent = seen!;
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(sent.length).toBeLessThanOrEqual(6);
    expect(sent[0]).toBeLessThanOrEqual(TIMEOUT_MS);
    for (let k = 1; k < sent.length; k++) {
      expect(sent[k]).toBeLessThanOrEqual(TIMEOUT_MS - 25 * (2 ** k - 1) + k);
      expect(sent[k]).toBeGreaterThanOrEqual(1);
    }
  };

  for (const transport of ["h2", "http2", "grpc-js"] as const) {
    it(`a unary call's retries share its deadline (${transport})`, async () => {
      timeouts.clear();
      const client = createClient({ address, transport, maxAttempts: MAX_ATTEMPTS, timeoutMs: TIMEOUT_MS });
      try {
        await expect(client.readSchema()).rejects.toMatchObject({ kind: "unavailable" });
      } finally {
        await client.close();
      }
      expectWithinDeadline(timeouts.get("/latch.v1.SchemaService/ReadSchema"));
    });
  }

  for (const transport of ["h2", "grpc-js"] as const) {
    it(`a server stream's retries share its deadline (${transport})`, async () => {
      timeouts.clear();
      const client = createClient({ address, transport, maxAttempts: MAX_ATTEMPTS });
      try {
        const stream = client.lookupResources(
          { resourceType: "document", permission: "view", subject: "user:alice" },
          { timeoutMs: TIMEOUT_MS },
        );
        await expect(
          (async () => {
            for await (const _ of stream) break;
          })(),
        ).rejects.toMatchObject({ kind: "unavailable" });
      } finally {
        await client.close();
      }
      expectWithinDeadline(timeouts.get("/latch.v1.PermissionService/LookupResources"));
    });
  }
});
