import { createServer as createH2Server, type ServerHttp2Stream } from "node:http2";
import { createServer, type Server } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HpackDecoder, HpackError } from "../../src/client/hpack.js";
import { createClient } from "../../src/client/index.js";
import {
  CheckPermissionResponse_Permissionship,
  CheckPermissionResponseSchema,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { cutReplay, listen, recordingProxy } from "./byte-replay.js";

const CALLS = 12;
const check = (n: number) => ({ resource: `document:d${n}`, permission: "view", subject: "user:alice" });

/** Odd calls are allowed, with a long header that grows the dynamic table; even calls fail. */
function answer(stream: ServerHttp2Stream, n: number): void {
  if (n % 2 === 0) {
    stream.respond({
      ":status": 200,
      "content-type": "application/grpc",
      "grpc-status": "7",
      "grpc-message": encodeURIComponent(`call ${n} refused: ünïcode & spaces`),
      "latch-error-code": "request/permission-denied",
      "latch-error-details-bin": Buffer.from(JSON.stringify({ call: n })).toString("base64"),
    });
    stream.end();
    return;
  }
  const message = toBinary(
    CheckPermissionResponseSchema,
    create(CheckPermissionResponseSchema, {
      permissionship: CheckPermissionResponse_Permissionship.ALLOWED,
      checkedAt: { token: `token-${n}` },
    }),
  );
  const framed = Buffer.alloc(5 + message.length);
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", "x-note": `${n}`.repeat(900) },
    { waitForTrailers: true },
  );
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-trailer": `t${n}` }));
  stream.end(framed);
}

/** The outcome of each call, in call order, as plain data. */
async function outcomes(address: string): Promise<unknown[]> {
  const client = createClient({ address, transport: "h2", batch: false, maxAttempts: 1 });
  try {
    // Started together, so stream ids follow call order in every run.
    const calls = Array.from({ length: CALLS }, (_, i) => client.check(check(i + 1)));
    return await Promise.all(
      calls.map((call) =>
        call.then(
          (ok) => ({ ok: { state: ok.state, token: ok.token } }),
          (e: { code: string; message: string; details: Record<string, unknown> }) => ({
            error: { code: e.code, message: e.message, call: e.details.call },
          }),
        ),
      ),
    );
  } finally {
    await client.close();
  }
}

describe("h2 framing: frames and header blocks split at any byte", () => {
  const h2 = createH2Server();
  let recorded = Buffer.alloc(0);
  let live: unknown[] = [];
  let proxy: Server;

  beforeAll(async () => {
    h2.on("stream", (stream) => {
      stream.resume();
      // Stream ids are 1, 3, 5... in call order: keyed on it, the answers do not depend on timing.
      stream.on("end", () => answer(stream, ((stream.id ?? 1) + 1) / 2));
    });
    const recording = recordingProxy(await listen(h2));
    proxy = recording.proxy;
    const { received } = recording;
    live = await outcomes(await listen(proxy));
    recorded = Buffer.concat(received);
  });

  afterAll(async () => {
    proxy.close();
    h2.close();
  });

  it("answers live through the recording proxy (the reference)", () => {
    expect(live).toEqual(
      Array.from({ length: CALLS }, (_, i) =>
        i % 2 === 0
          ? { ok: { state: "ALLOWED", token: `token-${i + 1}` } }
          : {
              error: {
                code: "request/permission-denied",
                message: `call ${i + 1} refused: ünïcode & spaces`,
                call: i + 1,
              },
            },
      ),
    );
  });

  it("ends every call the same way when the server's bytes arrive cut anywhere", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, recorded.length - 1) }), { maxLength: 40 }),
        async (cuts) => {
          const replay = cutReplay(
            recorded,
            cuts.sort((a, b) => a - b),
          );
          try {
            expect(await outcomes(await listen(replay))).toEqual(live);
          } finally {
            replay.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("HPACK decoder", () => {
  it("decodes RFC 7541 C.4 (requests with Huffman strings, one dynamic table)", () => {
    const d = new HpackDecoder();
    expect({ ...d.decode(Buffer.from("828684418cf1e3c2e5f23a6ba0ab90f4ff", "hex")) }).toEqual({
      ":method": "GET",
      ":scheme": "http",
      ":path": "/",
      ":authority": "www.example.com",
    });
    expect({ ...d.decode(Buffer.from("828684be5886a8eb10649cbf", "hex")) }).toEqual({
      ":method": "GET",
      ":scheme": "http",
      ":path": "/",
      ":authority": "www.example.com",
      "cache-control": "no-cache",
    });
    expect({ ...d.decode(Buffer.from("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", "hex")) }).toEqual({
      ":method": "GET",
      ":scheme": "https",
      ":path": "/index.html",
      ":authority": "www.example.com",
      "custom-key": "custom-value",
    });
  });

  it("refuses what a well-behaved encoder never sends", () => {
    const bad = [
      "80", // index 0
      "ff00", // an index past the tables
      "3fe21f", // a table size update above the advertised 4096
      "418cf1e3c2e5f23a6ba0ab90f4", // a string running past its block
      "0081ff8161", // a Huffman name padded with a whole byte of ones
    ];
    for (const hex of bad)
      expect(() => new HpackDecoder().decode(Buffer.from(hex, "hex"))).toThrow(HpackError);
  });
});

/** A frame as a server writes it: 9-byte header, then the payload. */
function rawFrame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

describe("h2 framing against a hostile server", () => {
  it("refuses a header block that never ends, and says so with GOAWAY before closing", async () => {
    const fromClient: Buffer[] = [];
    let closed!: () => void;
    const clientGone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const server = createServer((socket) => {
      socket.on("error", () => {});
      socket.on("close", () => closed());
      let sent = false;
      socket.on("data", (chunk: Buffer) => {
        fromClient.push(chunk);
        if (sent) return;
        sent = true;
        // SETTINGS, then HEADERS for the first call without END_HEADERS, then 80 KiB of
        // CONTINUATION frames that never end it either.
        socket.write(rawFrame(0x4, 0, 0, Buffer.alloc(0)));
        socket.write(rawFrame(0x1, 0, 1, Buffer.from([0x88])));
        for (let i = 0; i < 5; i++) socket.write(rawFrame(0x9, 0, 1, Buffer.alloc(16_384)));
      });
    });
    const address = await listen(server);
    const client = createClient({ address, transport: "h2", batch: false, maxAttempts: 1 });
    try {
      await expect(client.check(check(1))).rejects.toMatchObject({ code: "grpc/unavailable" });
    } finally {
      await client.close();
      server.close();
    }
    await clientGone;
    // The client's frames after its 24-byte preface: the last one is GOAWAY, ENHANCE_YOUR_CALM.
    const bytes = Buffer.concat(fromClient).subarray(24);
    const goaways: number[] = [];
    for (let at = 0; at + 9 <= bytes.length; ) {
      const length = bytes.readUIntBE(at, 3);
      if (bytes[at + 3] === 0x7) goaways.push(bytes.readUInt32BE(at + 9 + 4));
      at += 9 + length;
    }
    expect(goaways).toEqual([0xb]);
  });
});

describe("h2 transport input", () => {
  it("refuses a token that cannot be an HTTP header value when the client is made", () => {
    // The client's grpc-js side (the streaming calls) checks the token first, for every transport,
    // so the h2 framing never sends one it would mangle or that would end the header.
    for (const token of ["a\nb", "key\u2603"])
      expect(() => createClient({ address: "127.0.0.1:1", token, transport: "h2" })).toThrow(
        /Metadata string value/,
      );
    const client = createClient({ address: "127.0.0.1:1", token: "plain-token_0123", transport: "h2" });
    return client.close();
  });
});
