/**
 * The unary transports (our own HTTP/2 framing, "h2", and node:http2) when things go wrong: the
 * server restarts, drops the connection mid-call, answers with GOAWAY, or stalls. Calls fail or
 * retry as docs/client.md says, and none hangs. Stand-in servers are plain node:http2 servers speaking just enough gRPC; the restart uses
 * a real Latch server.
 */
import { once } from "node:events";
import {
  constants,
  createServer,
  type Http2Server,
  type Http2Session,
  type ServerHttp2Stream,
  type Settings,
} from "node:http2";
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ClientOptions,
  createClient as createRemote,
  type LatchClient,
} from "../../src/client/index.js";
import { createEngine } from "../../src/engine/index.js";
import {
  CheckPermissionResponse_Permissionship,
  CheckPermissionResponseSchema,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { ReadSchemaResponseSchema } from "../../src/gen/latch/v1/schema_service_pb.js";
import { createLogger, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const TOKEN = "faults-token-0123456789";
const CHECK = { resource: "document:q3", permission: "view", subject: "user:alice" } as const;

/** A gRPC answer of an allowed check, as a Latch server would send it. */
function answerAllowed(stream: ServerHttp2Stream): void {
  const message = toBinary(
    CheckPermissionResponseSchema,
    create(CheckPermissionResponseSchema, {
      permissionship: CheckPermissionResponse_Permissionship.ALLOWED,
      checkedAt: { token: "t" },
    }),
  );
  const framed = Buffer.alloc(5 + message.length);
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(framed);
}

/** A stand-in server: `onCall(stream, n, session)` handles the n-th call (from 1). */
async function standIn(
  onCall: (stream: ServerHttp2Stream, n: number, session: Http2Session) => void,
  onSession: (session: Http2Session, n: number) => void = () => {},
  settings: Settings = {},
): Promise<{ address: string; calls: () => number; sessions: () => number; close(): Promise<void> }> {
  const server: Http2Server = createServer({ settings });
  let calls = 0;
  let sessions = 0;
  const open = new Set<Http2Session>();
  server.on("session", (session) => {
    sessions++;
    open.add(session);
    session.on("close", () => open.delete(session));
    session.on("error", () => {});
    onSession(session, sessions);
  });
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    // The request is read whole first, as a gRPC server does.
    stream.resume();
    stream.on("end", () => onCall(stream, ++calls, stream.session!));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    calls: () => calls,
    sessions: () => sessions,
    async close() {
      for (const s of open) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe.each(["h2", "http2"] as const)("client faults (%s transport)", (transport) => {
  const cleanups: (() => Promise<void>)[] = [];
  const use = (client: LatchClient) => {
    cleanups.push(() => client.close());
    return client;
  };
  const createClient = (options: ClientOptions) => createRemote({ ...options, transport });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("comes back after the server restarts; while it is down, calls fail UNAVAILABLE", async () => {
    const start = async (listen: string) => {
      const store = await createSqliteStore({ path: ":memory:" });
      const server = await startServer({
        store,
        engine: createEngine({ store }),
        listen,
        tokens: [TOKEN],
        logger: createLogger("silent"),
      });
      return {
        address: server.address,
        async stop() {
          await server.shutdown(1000);
          await store.close();
        },
      };
    };
    const first = await start("127.0.0.1:0");
    const client = use(createClient({ address: first.address, token: TOKEN, batch: false, maxAttempts: 2 }));
    expect((await client.writeSchema("definition user {}")).token).not.toBe("");
    await first.stop();
    await expect(client.readSchema()).rejects.toMatchObject({
      kind: "unavailable",
      code: "grpc/unavailable",
    });
    const second = await start(first.address);
    cleanups.push(() => second.stop());
    // The new server starts empty: it answers that no schema was written, on a new connection.
    await expect(client.readSchema()).rejects.not.toMatchObject({ kind: "unavailable" });
    await client.writeSchema("definition user {}");
    expect((await client.readSchema()).schema).toBe("definition user {}");
  });

  it("retries an idempotent call whose connection dropped mid-call, and not a write", async () => {
    const server = await standIn((stream, n, session) => {
      // Odd calls: the connection dies before any answer.
      if (n % 2 === 1) session.destroy();
      else answerAllowed(stream);
    });
    cleanups.push(() => server.close());
    const client = use(createClient({ address: server.address, batch: false, maxAttempts: 3 }));
    expect((await client.check(CHECK)).state).toBe("ALLOWED");
    expect(server.calls()).toBe(2);
    expect(server.sessions()).toBe(2);
    await expect(client.writeSchema("definition user {}")).rejects.toMatchObject({ kind: "unavailable" });
    expect(server.calls()).toBe(3);
  });

  it("fails with UNAVAILABLE once the attempts are spent on dropped connections", async () => {
    const server = await standIn((_stream, _n, session) => session.destroy());
    cleanups.push(() => server.close());
    const client = use(createClient({ address: server.address, batch: false, maxAttempts: 2 }));
    await expect(client.check(CHECK)).rejects.toMatchObject({ kind: "unavailable", status: 14 });
    expect(server.calls()).toBe(2);
  });

  it("on GOAWAY finishes the calls the server kept, resends the ones it refused, then reconnects", async () => {
    const server = await standIn((stream, n, session) => {
      if (n === 1) {
        // Keeps this call (its id is the last processed) and refuses any later one on this session.
        session.goaway(constants.NGHTTP2_NO_ERROR, stream.id ?? 0);
        setTimeout(() => answerAllowed(stream), 20);
      } else answerAllowed(stream);
    });
    cleanups.push(() => server.close());
    const client = use(createClient({ address: server.address, batch: false }));
    expect((await client.check(CHECK)).state).toBe("ALLOWED");
    expect((await client.check(CHECK)).state).toBe("ALLOWED");
    expect(server.sessions()).toBe(2);
  });

  it("resends even a write that GOAWAY refused unprocessed", async () => {
    const server = await standIn(
      (stream) => {
        // A write's answer: an empty WriteSchemaResponse is enough for the client.
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(Buffer.alloc(5));
      },
      // The first connection is refused whole: GOAWAY before any call was processed.
      (session, n) => {
        if (n === 1) session.goaway(constants.NGHTTP2_NO_ERROR, 0);
      },
    );
    cleanups.push(() => server.close());
    const client = use(createClient({ address: server.address, batch: false, maxAttempts: 2 }));
    await expect(client.writeSchema("definition user {}")).resolves.toMatchObject({ token: "" });
    expect(server.sessions()).toBe(2);
    expect(server.calls()).toBe(1);
  });

  it("ends a call to a stalled server at its deadline, or when its signal aborts", async () => {
    const server = await standIn(() => {
      // Never answers.
    });
    cleanups.push(() => server.close());
    for (const batch of [false, undefined] as const) {
      const client = use(createClient({ address: server.address, ...(batch === false ? { batch } : {}) }));
      await expect(client.check(CHECK, { timeoutMs: 100 })).rejects.toMatchObject({
        kind: "deadline-exceeded",
        code: "grpc/deadline_exceeded",
      });
      const controller = new AbortController();
      const call = client.check(CHECK, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await expect(call).rejects.toMatchObject({ kind: "deadline-exceeded", code: "grpc/cancelled" });
    }
  });

  it("queues calls past the server's SETTINGS_MAX_CONCURRENT_STREAMS instead of failing them", async () => {
    let open = 0;
    let most = 0;
    const server = await standIn(
      (stream) => {
        most = Math.max(most, ++open);
        stream.on("close", () => open--);
        setTimeout(() => answerAllowed(stream), 5);
      },
      () => {},
      { maxConcurrentStreams: 2 },
    );
    cleanups.push(() => server.close());
    const client = use(createClient({ address: server.address, batch: false }));
    // The first call lets the client read the server's SETTINGS before the burst.
    await client.check(CHECK);
    const answers = await Promise.all(Array.from({ length: 12 }, () => client.check(CHECK)));
    expect(answers.map((a) => a.state)).toEqual(Array(12).fill("ALLOWED"));
    expect(most).toBe(2);
    expect(server.sessions()).toBe(1);
  });

  it("obeys flow control both ways: a request and an answer larger than every window", async () => {
    // Past our 1 MiB stream window (h2) and the 64 KiB default one (node:http2).
    const big = "x".repeat(1_200_000);
    let received = 0;
    const server = await standIn(
      (stream, n) => {
        const message = toBinary(
          ReadSchemaResponseSchema,
          create(ReadSchemaResponseSchema, { schemaText: n === 1 ? big : "", readAt: { token: "t" } }),
        );
        const framed = Buffer.alloc(5 + message.length);
        framed.writeUInt32BE(message.length, 1);
        framed.set(message, 5);
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(framed);
      },
      (session) => session.on("stream", (stream) => stream.on("data", (c: Buffer) => (received += c.length))),
      // A small window for the client's DATA: it must wait for WINDOW_UPDATEs to send the schema.
      { initialWindowSize: 16_384 },
    );
    cleanups.push(() => server.close());
    const client = use(createClient({ address: server.address, batch: false }));
    expect((await client.readSchema()).schema).toBe(big);
    // The stand-in answers a ReadSchemaResponse to the write too; only the bytes it read matter.
    await client.writeSchema(big.slice(0, 200_000)).catch(() => undefined);
    expect(received).toBeGreaterThan(200_000);
  });

  it("drops a connection whose peer stops answering pings, failing its calls UNAVAILABLE", async () => {
    // Accepts TCP and never speaks: no HTTP/2 settings, no ping answers.
    const sockets = new Set<Socket>();
    const tcp: TcpServer = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    tcp.listen(0, "127.0.0.1");
    await once(tcp, "listening");
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => tcp.close(resolve));
    });
    const address = `127.0.0.1:${(tcp.address() as { port: number }).port}`;
    const client = use(
      createClient({
        address,
        batch: false,
        maxAttempts: 1,
        keepaliveMs: 50,
        keepaliveTimeoutMs: 50,
        timeoutMs: 60_000,
      }),
    );
    await expect(client.check(CHECK)).rejects.toMatchObject({ kind: "unavailable" });
  });
});
