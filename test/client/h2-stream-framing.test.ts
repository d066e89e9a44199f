import { createServer as createH2Server, type ServerHttp2Stream } from "node:http2";
import type { Server } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteError } from "../../src/client/errors.js";
import { createH2Transport } from "../../src/client/h2-transport.js";
import {
  LookupResourcesResponseSchema,
  PermissionService,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { cutReplay, listen, recordingProxy } from "./byte-replay.js";

const CALLS = 6;
const LOOKUP = PermissionService.method.lookupResources;

function framed(id: string): Buffer {
  const message = toBinary(
    LookupResourcesResponseSchema,
    create(LookupResourcesResponseSchema, { resourceObjectId: id, afterResultCursor: { token: `c-${id}` } }),
  );
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Odd calls succeed with messages framed every which way; even calls fail after two messages. */
function answer(stream: ServerHttp2Stream, n: number): void {
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", "x-note": `${n}`.repeat(700) },
    { waitForTrailers: true },
  );
  if (n % 2 === 0) {
    stream.write(Buffer.concat([framed(`${n}-a`), framed(`${n}-b`)]));
    stream.on("wantTrailers", () =>
      stream.sendTrailers({
        "grpc-status": "9",
        "grpc-message": encodeURIComponent(`stream ${n} stopped`),
        "latch-error-code": "request/failed-precondition",
      }),
    );
    stream.end();
    return;
  }
  stream.write(Buffer.concat([framed(`${n}-1`), framed(`${n}-2`), framed(`${n}-3`)]));
  // Larger than a 16 KiB DATA frame.
  stream.write(framed(`${n}-${"L".repeat(20_000)}`));
  const split = framed(`${n}-split`);
  stream.write(split.subarray(0, 3));
  stream.write(split.subarray(3));
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-trailer": `t${n}` }));
  stream.end(framed(`${n}-last`));
}

/** Each stream's messages (their ids) and how it ended, in call order. */
async function outcomes(address: string): Promise<unknown[]> {
  const t = createH2Transport({ address, timeoutMs: 30_000, maxAttempts: 1, maxMessageBytes: 1 << 20 });
  const read = async (n: number) => {
    const ids: string[] = [];
    try {
      for await (const r of t.serverStream(LOOKUP, { resourceObjectType: `t${n}` }, undefined, true))
        ids.push(r.resourceObjectId.length > 100 ? `${r.resourceObjectId.slice(0, 8)}…` : r.resourceObjectId);
    } catch (error) {
      const e = error as RemoteError;
      expect(e).toBeInstanceOf(RemoteError);
      return { ids, error: { code: e.code, message: e.message } };
    }
    return { ids };
  };
  try {
    // Started together (each first read is synchronous), so stream ids follow call order.
    return await Promise.all(Array.from({ length: CALLS }, (_, i) => read(i + 1)));
  } finally {
    t.close();
  }
}

describe("h2 framing: stream messages split at any byte", () => {
  const h2 = createH2Server();
  let recorded = Buffer.alloc(0);
  let live: unknown[] = [];
  let proxy: Server;

  beforeAll(async () => {
    h2.on("stream", (stream) => {
      stream.resume();
      stream.on("end", () => answer(stream, ((stream.id ?? 1) + 1) / 2));
    });
    const recording = recordingProxy(await listen(h2));
    proxy = recording.proxy;
    const { received } = recording;
    live = await outcomes(await listen(proxy));
    recorded = Buffer.concat(received);
  });

  afterAll(() => {
    proxy.close();
    h2.close();
  });

  it("streams live through the recording proxy (the reference)", () => {
    expect(live).toEqual(
      Array.from({ length: CALLS }, (_, i) => {
        const n = i + 1;
        return n % 2 === 1
          ? { ids: [`${n}-1`, `${n}-2`, `${n}-3`, `${n}-LLLLLL…`, `${n}-split`, `${n}-last`] }
          : {
              ids: [`${n}-a`, `${n}-b`],
              error: { code: "request/failed-precondition", message: `stream ${n} stopped` },
            };
      }),
    );
  });

  it("delivers the same messages and ends every stream the same way when the bytes arrive cut anywhere", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, recorded.length - 1) }), { maxLength: 60 }),
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
