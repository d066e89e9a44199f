/**
 * Server-streaming calls over the h2 framing (src/client/stream-call.ts): backpressure on a large
 * lookup from a real server with a slow consumer (counted in bytes buffered, not timed), and,
 * against stand-in node:http2 servers, cancellation, deadlines, the server's error mid-stream,
 * connection loss, retries, and messages the client must refuse.
 */
import { once } from "node:events";
import { createServer, type Http2Server, type Http2Session, type ServerHttp2Stream } from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { createH2Transport, type H2Transport } from "../../src/client/h2-transport.js";
import { createClient, RemoteError } from "../../src/client/index.js";
import { GrpcMessageReader, MessageFrameError, type ServerStream } from "../../src/client/stream-call.js";
import { createEngine } from "../../src/engine/index.js";
import {
  CheckPermissionResponse_Permissionship,
  type LookupResourcesResponse,
  LookupResourcesResponseSchema,
  PermissionService,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { createLogger, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const LOOKUP = PermissionService.method.lookupResources;
const REQUEST = {
  resourceObjectType: "document",
  permission: "view",
  subject: { object: { objectType: "user", objectId: "alice" } },
};

/** A LookupResources answer message, framed as gRPC sends it. */
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

function open(stream: ServerHttp2Stream): void {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
}

/** A stand-in server: `onCall(stream, n, headers)` handles the n-th call (from 1). */
async function standIn(
  onCall: (stream: ServerHttp2Stream, n: number, headers: Record<string, unknown>) => void,
): Promise<{ address: string; calls: () => number; close(): Promise<void> }> {
  const server: Http2Server = createServer();
  let calls = 0;
  const sessions = new Set<Http2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    stream.resume();
    stream.on("end", () => onCall(stream, ++calls, headers));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    calls: () => calls,
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function transport(
  address: string,
  extra: { streamWindow?: number; maxMessageBytes?: number } = {},
): H2Transport {
  const t = createH2Transport({
    address,
    timeoutMs: 30_000,
    maxAttempts: 3,
    maxMessageBytes: extra.maxMessageBytes ?? 4 * 1024 * 1024,
    ...(extra.streamWindow === undefined ? {} : { streamWindow: extra.streamWindow }),
  });
  cleanups.push(() => t.close());
  return t;
}

/** Reads the stream to its end: the resource ids, then the error it ended with (if any). */
async function drain(
  stream: AsyncIterable<LookupResourcesResponse>,
  each: (n: number) => unknown = () => undefined,
): Promise<{ ids: string[]; error?: RemoteError }> {
  const ids: string[] = [];
  try {
    for await (const r of stream) {
      ids.push(r.resourceObjectId);
      await each(ids.length);
    }
  } catch (error) {
    if (!(error instanceof RemoteError)) throw error;
    return { ids, error };
  }
  return { ids };
}

/** Resolves when `stream` is closed on the server, with its RST_STREAM code. */
const closedWith = (stream: ServerHttp2Stream) =>
  new Promise<number>((resolve) => stream.on("close", () => resolve(stream.rstCode)));

describe("a large lookup with a slow consumer (real server)", () => {
  it("holds at most one stream window, and the server waits for the consumer", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    const server = await startServer({
      store,
      engine: createEngine({ store }),
      listen: "127.0.0.1:0",
      tokens: ["stream-token-0123456789"],
      logger: createLogger("silent"),
    });
    cleanups.push(async () => {
      await server.shutdown(1000);
      await store.close();
    });
    const client = createClient({ address: server.address, token: "stream-token-0123456789" });
    cleanups.push(() => client.close());
    await client.writeSchema(
      "definition user {}\ndefinition document {\n  relation viewer: user\n  permission view = viewer\n}",
    );
    const RESULTS = 3000;
    for (let at = 0; at < RESULTS; at += 1000)
      await client.writeRelationships({
        updates: Array.from({ length: 1000 }, (_, i) => ({
          operation: "touch" as const,
          relationship: `document:doc-${String(at + i).padStart(5, "0")}#viewer@user:alice`,
        })),
      });

    const WINDOW = 32 * 1024;
    const t = createH2Transport({
      address: server.address,
      token: "stream-token-0123456789",
      timeoutMs: 30_000,
      maxAttempts: 1,
      maxMessageBytes: 1024 * 1024,
      streamWindow: WINDOW,
    });
    cleanups.push(() => t.close());
    const stream = t.serverStream(
      LOOKUP,
      { ...REQUEST, consistency: { requirement: { case: "fullyConsistent", value: true } } },
      undefined,
      true,
    ) as ServerStream<typeof LOOKUP.output>;
    const call = stream.call;
    let largest = 0;
    let receivedWhileStalled = 0;
    const { ids, error } = await drain(stream, async (n) => {
      largest = Math.max(largest, call.receivedBytes - call.bufferedBytes);
      if (n === 1) {
        // Stall until nothing more arrives: with backpressure the server stops after one window,
        // without it everything would pile up here.
        let quiet = 0;
        for (let last = -1; quiet < 10; ) {
          await sleep(10);
          quiet = call.receivedBytes === last ? quiet + 1 : 0;
          last = call.receivedBytes;
        }
        receivedWhileStalled = call.receivedBytes;
        expect(call.bufferedBytes).toBeLessThanOrEqual(WINDOW);
        // The stalled stream holds only its own window: a call on the same connection goes through.
        const check = await t.unary(
          PermissionService.method.checkPermission,
          {
            resource: { objectType: "document", objectId: "doc-00007" },
            permission: "view",
            subject: { object: { objectType: "user", objectId: "alice" } },
          },
          undefined,
          true,
        );
        expect(check.permissionship).toBe(CheckPermissionResponse_Permissionship.ALLOWED);
      }
      // A slow consumer throughout: a turn of the event loop per result.
      if (n % 100 === 0) await sleep(1);
    });
    expect(error).toBeUndefined();
    expect(ids).toHaveLength(RESULTS);
    expect(new Set(ids).size).toBe(RESULTS);
    // The whole answer is many windows; the consumer never held more than one (plus a message
    // acknowledged early while none was complete), and the server had sent only that much while
    // the consumer stalled.
    expect(call.receivedBytes).toBeGreaterThan(8 * WINDOW);
    expect(call.peakBufferedBytes).toBeLessThanOrEqual(WINDOW + 1024);
    expect(call.peakBufferedBytes).toBeGreaterThan(WINDOW / 2);
    expect(receivedWhileStalled).toBeLessThanOrEqual(WINDOW + 1024);
  });
});

describe("server streams over h2 against a stand-in server", () => {
  it("delivers the messages before the server's error, the error mapped as a unary call's", async () => {
    const server = await standIn((stream) => {
      open(stream);
      stream.write(Buffer.concat([framed("a"), framed("b")]));
      stream.write(framed("c"));
      stream.on("wantTrailers", () =>
        stream.sendTrailers({
          "grpc-status": "7",
          "grpc-message": encodeURIComponent("no more: ünïcode"),
          "latch-error-code": "request/permission-denied",
          "latch-error-details-bin": Buffer.from(JSON.stringify({ why: "test" })).toString("base64"),
        }),
      );
      stream.end();
    });
    cleanups.push(() => server.close());
    const { ids, error } = await drain(
      transport(server.address).serverStream(LOOKUP, REQUEST, undefined, true),
    );
    expect(ids).toEqual(["a", "b", "c"]);
    expect(error).toMatchObject({
      code: "request/permission-denied",
      kind: "permission-denied",
      status: 7,
      message: "no more: ünïcode",
      details: { why: "test" },
    });
  });

  it("ends quietly when the signal aborts mid-stream, and resets the stream with CANCEL", async () => {
    let closed!: Promise<number>;
    const server = await standIn((stream) => {
      closed = closedWith(stream);
      open(stream);
      for (let i = 0; i < 5; i++) stream.write(framed(`r${i}`));
    });
    cleanups.push(() => server.close());
    const controller = new AbortController();
    const { ids, error } = await drain(
      transport(server.address).serverStream(LOOKUP, REQUEST, { signal: controller.signal }, true),
      (n) => {
        if (n === 2) controller.abort();
      },
    );
    expect(error).toBeUndefined();
    expect(ids).toEqual(["r0", "r1"]);
    expect(await closed).toBe(0x8);
  });

  it("resets the stream with CANCEL when the consumer stops early", async () => {
    let closed!: Promise<number>;
    const server = await standIn((stream) => {
      closed = closedWith(stream);
      open(stream);
      for (let i = 0; i < 5; i++) stream.write(framed(`r${i}`));
    });
    cleanups.push(() => server.close());
    for await (const r of transport(server.address).serverStream(LOOKUP, REQUEST, undefined, true))
      if (r.resourceObjectId === "r1") break;
    expect(await closed).toBe(0x8);
  });

  it("fails DEADLINE_EXCEEDED mid-stream, sends the deadline, and cancels the stream", async () => {
    let closed!: Promise<number>;
    let timeout: unknown;
    const server = await standIn((stream, _n, headers) => {
      timeout = headers["grpc-timeout"];
      closed = closedWith(stream);
      open(stream);
      // Two results, then a stall.
      stream.write(Buffer.concat([framed("a"), framed("b")]));
    });
    cleanups.push(() => server.close());
    const { ids, error } = await drain(
      transport(server.address).serverStream(LOOKUP, REQUEST, { timeoutMs: 300 }, true),
    );
    expect(ids).toEqual(["a", "b"]);
    expect(error).toMatchObject({ code: "grpc/deadline_exceeded", kind: "deadline-exceeded" });
    expect(timeout).toBe("300m");
    expect(await closed).toBe(0x8);
  });

  it("through the client: a lookup's deadline mid-stream carries the cursor to resume from", async () => {
    const server = await standIn((stream) => {
      open(stream);
      stream.write(Buffer.concat([framed("a"), framed("b")]));
    });
    cleanups.push(() => server.close());
    const client = createClient({ address: server.address });
    cleanups.push(() => client.close());
    const seen: string[] = [];
    const error = await (async () => {
      try {
        for await (const r of client.lookupResources(
          { resourceType: "document", permission: "view", subject: "user:alice" },
          { timeoutMs: 300 },
        ))
          seen.push(r.resourceId);
      } catch (e) {
        return e as RemoteError;
      }
    })();
    expect(seen).toEqual(["a", "b"]);
    expect(error).toMatchObject({ kind: "deadline-exceeded", details: { cursor: "c-b" } });
  });

  it("tries again a stream lost before anything arrived, not one lost after a result", async () => {
    const early = await standIn((stream, n) => {
      if (n === 1) {
        stream.session!.destroy();
        return;
      }
      open(stream);
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(framed("again"));
    });
    cleanups.push(() => early.close());
    expect(await drain(transport(early.address).serverStream(LOOKUP, REQUEST, undefined, true))).toEqual({
      ids: ["again"],
    });
    expect(early.calls()).toBe(2);

    const late = await standIn((stream) => {
      open(stream);
      stream.write(framed("once"), () => setTimeout(() => stream.session!.destroy(), 20));
    });
    cleanups.push(() => late.close());
    const { ids, error } = await drain(
      transport(late.address).serverStream(LOOKUP, REQUEST, undefined, true),
    );
    expect(ids).toEqual(["once"]);
    expect(error).toMatchObject({ code: "grpc/unavailable" });
    expect(late.calls()).toBe(1);
  });

  it("refuses a compressed message, one past maxMessageBytes, and an end inside a message", async () => {
    const answers: Record<number, (stream: ServerHttp2Stream) => void> = {
      1: (stream) => {
        const compressed = framed("z");
        compressed[0] = 1;
        stream.write(Buffer.concat([framed("ok"), compressed]));
      },
      2: (stream) => stream.write(Buffer.concat([framed("ok"), framed("x".repeat(2000))])),
      3: (stream) => {
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(Buffer.concat([framed("ok"), framed("cut").subarray(0, 6)]));
      },
    };
    const closes: Promise<number>[] = [];
    const server = await standIn((stream, n) => {
      closes.push(closedWith(stream));
      open(stream);
      answers[n]!(stream);
    });
    cleanups.push(() => server.close());
    const t = transport(server.address, { maxMessageBytes: 1000 });
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(await drain(t.serverStream(LOOKUP, REQUEST, undefined, true)));
    expect(outcomes.map((o) => o.ids)).toEqual([["ok"], ["ok"], ["ok"]]);
    expect(outcomes.map((o) => [o.error?.code, o.error?.message])).toEqual([
      ["grpc/internal", "the server sent a compressed message (none was asked)"],
      ["grpc/resource_exhausted", "a message is larger than 1000 bytes"],
      ["grpc/internal", "the stream ended inside a message"],
    ]);
    // The first two were cut by the client.
    expect(await Promise.all(closes.slice(0, 2))).toEqual([0x8, 0x8]);
  });

  it("sends nothing for a stream its consumer returned before reading", async () => {
    const server = await standIn((stream) => {
      open(stream);
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(framed("only"));
    });
    cleanups.push(() => server.close());
    const t = transport(server.address);
    const unread = t.serverStream(LOOKUP, REQUEST, undefined, true)[Symbol.asyncIterator]();
    await unread.return!();
    expect(await unread.next()).toEqual({ done: true, value: undefined });
    // A later stream on the same connection: had the first been sent, the server would see it first.
    expect(await drain(t.serverStream(LOOKUP, REQUEST, undefined, true))).toEqual({ ids: ["only"] });
    expect(server.calls()).toBe(1);
  });

  it("rejects at the first read a signal already aborted, and sends nothing", async () => {
    const server = await standIn(() => {});
    cleanups.push(() => server.close());
    const controller = new AbortController();
    controller.abort(new Error("gave up"));
    const stream = transport(server.address).serverStream(
      LOOKUP,
      REQUEST,
      { signal: controller.signal },
      true,
    );
    await expect(drain(stream)).rejects.toThrow("gave up");
    expect(server.calls()).toBe(0);
  });
});

describe("gRPC message reader", () => {
  it("cuts the same messages out of the bytes however they are split", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (messages, rawCuts) => {
          const bytes = Buffer.concat(
            messages.map((m) => {
              const head = Buffer.alloc(5);
              head.writeUInt32BE(m.length, 1);
              return Buffer.concat([head, m]);
            }),
          );
          const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const points = [0, ...cuts, bytes.length];
          const reader = new GrpcMessageReader(300);
          const out: Buffer[] = [];
          for (let i = 1; i < points.length; i++) reader.push(bytes.subarray(points[i - 1], points[i]), out);
          expect(out.map((b) => Buffer.from(b).toString("hex"))).toEqual(
            messages.map((m) => Buffer.from(m).toString("hex")),
          );
          expect(reader.heldBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a compressed message and one past its limit as soon as their prefix is whole", () => {
    const reader = new GrpcMessageReader(10);
    expect(() => reader.push(Buffer.from([0, 0, 0, 0, 11]), [])).toThrow(MessageFrameError);
    const other = new GrpcMessageReader(10);
    other.push(Buffer.from([1, 0]), []);
    expect(() => other.push(Buffer.from([0, 0, 1]), [])).toThrow(/compressed/);
  });
});
