/**
 * A client-streamed import commits only after a clean half-close of a call still running: one whose
 * client cancels (RST_STREAM) leaves nothing, also when the cancel follows a half-close, as Node's
 * HTTP/2 client (grpc-js's `cancel()`) sends it (END_STREAM, then RST_STREAM in a later write).
 *
 * Driven by a raw HTTP/2 client over a socket, so the frames and their order are the test's own.
 * Two things make it deterministic: a store that holds the import after its first relationship until
 * the frames are in, and a PING after each step, whose ACK tells that the server has read (and
 * acted on) every frame sent before it.
 */
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseRelationship, type Relationship } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { ImportBulkRelationshipsRequestSchema } from "../../src/gen/authzed/api/v1/permission_service_pb.js";
import { ImportRelationshipsRequestSchema } from "../../src/gen/latch/v1/relationship_service_pb.js";
import { relationshipToSpice } from "../../src/server/authzed/index.js";
import { importBulk } from "../../src/server/authzed/permissions-relationships.js";
import { relationshipHandlers } from "../../src/server/handlers-relationship.js";
import type { CallContext } from "../../src/server/index.js";
import {
  createLogger,
  createMetrics,
  type RunningServer,
  relationshipToProto,
  startServer,
} from "../../src/server/index.js";
import { DEFAULT_LIMITS } from "../../src/server/limits.js";
import { delegateStore } from "../../src/store/delegate.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { TOKEN } from "./harness.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}`;

const dir = mkdtempSync(join(tmpdir(), "latch-import-cancel-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- a raw HTTP/2 client: just the frames this test needs ----

const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const GOAWAY = 7;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const CANCEL = 0x8;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an `n`-bit prefix (RFC 7541 5.1), the prefix's other bits zero. */
function hpackInt(value: number, n: number): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [value];
  const out = [max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** Each header as a literal without indexing, new name, no Huffman: no table to keep. */
function headerBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const bytes: number[] = [];
  const str = (s: string) => {
    const b = Buffer.from(s, "utf8");
    bytes.push(...hpackInt(b.length, 7), ...b);
  };
  for (const [name, value] of headers) {
    bytes.push(0);
    str(name);
    str(value);
  }
  return Buffer.from(bytes);
}

/** One gRPC message: uncompressed, length-prefixed. */
function grpcMessage<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Buffer {
  const body = toBinary(schema, create(schema, init));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

class RawHttp2 {
  private pending = Buffer.alloc(0);
  private pings = new Map<string, () => void>();
  private nextPing = 0;
  /** Streams the server has ended (a frame with END_STREAM, or a reset). */
  private ended = new Map<number, () => void>();
  private endedStreams = new Set<number>();

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
  }

  static async connect(address: string): Promise<RawHttp2> {
    const [host, port] = [
      address.slice(0, address.lastIndexOf(":")),
      address.slice(address.lastIndexOf(":") + 1),
    ];
    const socket = connect(Number(port), host);
    await once(socket, "connect");
    const client = new RawHttp2(socket);
    socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(SETTINGS, 0, 0)]));
    await client.ping();
    return client;
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) return;
      const type = this.pending.readUInt8(3);
      const flags = this.pending.readUInt8(4);
      const stream = this.pending.readUInt32BE(5) & 0x7fffffff;
      const payload = this.pending.subarray(9, 9 + length);
      this.pending = this.pending.subarray(9 + length);
      if (type === SETTINGS && (flags & ACK) === 0) this.socket.write(frame(SETTINGS, ACK, 0));
      else if (type === PING && (flags & ACK) !== 0) this.pings.get(payload.toString("hex"))?.();
      else if (type === PING) this.socket.write(frame(PING, ACK, 0, Buffer.from(payload)));
      else if (type === GOAWAY) this.socket.destroy();
      else if (stream !== 0 && (type === RST_STREAM || (flags & END_STREAM) !== 0)) {
        this.endedStreams.add(stream);
        this.ended.get(stream)?.();
      }
    }
  }

  /** Writes the frames in one write. */
  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /**
   * Resolves at the server's ACK: the server has read every frame written before, and run what
   * they set off (the callbacks and ticks of a reset) before it wrote the ACK.
   */
  ping(): Promise<void> {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(++this.nextPing, 4);
    const key = payload.toString("hex");
    const acked = new Promise<void>((resolve) => this.pings.set(key, resolve));
    this.socket.write(frame(PING, 0, 0, payload));
    return acked;
  }

  /** Resolves when the server has ended `stream` (its trailers, or a reset). */
  streamEnded(stream: number): Promise<void> {
    if (this.endedStreams.has(stream)) return Promise.resolve();
    return new Promise((resolve) => this.ended.set(stream, resolve));
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- the server and a store that holds an import where the test wants it ----

interface HeldImport {
  /** Resolves when the store has been handed the import's first relationship. */
  readonly started: Promise<void>;
  /** Lets the store read the rest of the import. */
  release(): void;
  /** The store's import, settled. */
  readonly settled: Promise<"committed" | "failed">;
}

/** A store whose imports stop after their first relationship until released. */
function holdingStore(inner: Store): Store & { readonly imports: HeldImport[] } {
  const imports: HeldImport[] = [];
  const store = {
    ...delegateStore(inner),
    imports,
    importRelationships(
      relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
      options?: Parameters<Store["importRelationships"]>[1],
    ) {
      let started!: () => void;
      let release!: () => void;
      const startedP = new Promise<void>((r) => {
        started = r;
      });
      const released = new Promise<void>((r) => {
        release = r;
      });
      async function* held(): AsyncIterable<Relationship> {
        let first = true;
        for await (const r of relationships) {
          yield r;
          if (first) {
            first = false;
            started();
            await released;
          }
        }
      }
      const result = inner.importRelationships(held(), options);
      imports.push({
        started: startedP,
        release,
        settled: result.then(
          () => "committed" as const,
          () => "failed" as const,
        ),
      });
      return result;
    },
  };
  return store;
}

async function count(store: Store): Promise<number> {
  let n = 0;
  for await (const _ of store.at(await store.currentRevision()).exportRelationships()) n++;
  return n;
}

/** Polls (bounded) until the server's store has been handed an import. */
async function heldImport(store: { readonly imports: HeldImport[] }): Promise<HeldImport> {
  for (let i = 0; i < 1000 && store.imports.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const held = store.imports[0];
  if (held === undefined) throw new Error("the server never began the import");
  return held;
}

const RELATIONSHIPS = Array.from({ length: 50 }, (_, i) =>
  parseRelationship(`document:d${i}#viewer@user:u${i % 7}`),
);

const METHODS = {
  "latch.v1 ImportRelationships": {
    path: "/latch.v1.RelationshipService/ImportRelationships",
    message: (rels: readonly Relationship[]) =>
      grpcMessage(ImportRelationshipsRequestSchema, { relationships: rels.map(relationshipToProto) }),
  },
  "authzed ImportBulkRelationships": {
    path: "/authzed.api.v1.PermissionsService/ImportBulkRelationships",
    message: (rels: readonly Relationship[]) =>
      grpcMessage(ImportBulkRelationshipsRequestSchema, { relationships: rels.map(relationshipToSpice) }),
  },
} as const;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function setUp(kind: "memory" | "file") {
  // A file store with a low threshold sends these imports to its write thread.
  const inner = await createSqliteStore(
    kind === "memory"
      ? { path: ":memory:" }
      : { path: join(dir, `s-${Math.random().toString(36).slice(2)}.db`), writeThreadRows: 10 },
  );
  await inner.writeSchema(SCHEMA);
  const store = holdingStore(inner);
  const engine = createEngine({ store });
  const server: RunningServer = await startServer({
    store,
    engine,
    tokens: [TOKEN],
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
    metrics: createMetrics(() => engine.stats(), { defaultMetrics: false }),
  });
  const h2 = await RawHttp2.connect(server.address);
  cleanup = async () => {
    h2.close();
    for (const held of store.imports) held.release();
    await server.shutdown(1000);
    await inner.close();
  };
  const open = (path: string, stream: number) =>
    frame(
      HEADERS,
      END_HEADERS,
      stream,
      headerBlock([
        [":method", "POST"],
        [":scheme", "http"],
        [":path", path],
        [":authority", server.address],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
        ["authorization", `Bearer ${TOKEN}`],
      ]),
    );
  return { inner, store, h2, open };
}

describe("a client-streamed import and the client's cancel", () => {
  for (const [name, method] of Object.entries(METHODS)) {
    for (const kind of ["memory", "file"] as const) {
      describe(`${name} (${kind} store)`, () => {
        it("a clean half-close commits", async () => {
          const { inner, store, h2, open } = await setUp(kind);
          h2.send(open(method.path, 1), frame(DATA, END_STREAM, 1, method.message(RELATIONSHIPS)));
          const held = await heldImport(store);
          held.release();
          expect(await held.settled).toBe("committed");
          await h2.streamEnded(1);
          expect(await count(inner)).toBe(RELATIONSHIPS.length);
        });

        it("a reset after the half-close was delivered leaves nothing (END_STREAM, then RST_STREAM)", async () => {
          const { inner, store, h2, open } = await setUp(kind);
          h2.send(open(method.path, 1), frame(DATA, 0, 1, method.message(RELATIONSHIPS)));
          const held = await heldImport(store);
          await held.started;
          // The half-close reaches the server, and then the reset: as Node's client sends a cancel.
          h2.send(frame(DATA, END_STREAM, 1));
          await h2.ping();
          h2.send(frame(RST_STREAM, 0, 1, Buffer.from([0, 0, 0, CANCEL])));
          await h2.ping();
          held.release();
          expect(await held.settled).toBe("failed");
          expect(await count(inner)).toBe(0);
        });

        it("a reset without a half-close leaves nothing", async () => {
          const { inner, store, h2, open } = await setUp(kind);
          h2.send(open(method.path, 1), frame(DATA, 0, 1, method.message(RELATIONSHIPS)));
          const held = await heldImport(store);
          await held.started;
          h2.send(frame(RST_STREAM, 0, 1, Buffer.from([0, 0, 0, CANCEL])));
          await h2.ping();
          held.release();
          expect(await held.settled).toBe("failed");
          expect(await count(inner)).toBe(0);
        });

        it("a reset in the same write as the half-close leaves nothing", async () => {
          const { inner, store, h2, open } = await setUp(kind);
          h2.send(open(method.path, 1), frame(DATA, 0, 1, method.message(RELATIONSHIPS)));
          const held = await heldImport(store);
          await held.started;
          h2.send(frame(DATA, END_STREAM, 1), frame(RST_STREAM, 0, 1, Buffer.from([0, 0, 0, CANCEL])));
          await h2.ping();
          held.release();
          expect(await held.settled).toBe("failed");
          expect(await count(inner)).toBe(0);
        });
      });
    }
  }
});

/**
 * The handlers themselves, as every transport calls them (the HTTP gateway too): the last thing
 * they do before the store commits is to ask the call's signal.
 */
describe("the import handlers check the call before the store commits", () => {
  /** A call that is cancelled once its stream has been read to the end. */
  function cancelledAtTheEnd() {
    const controller = new AbortController();
    const ctx = {
      get aborted() {
        return controller.signal.aborted;
      },
      signal: controller.signal,
    };
    async function* stream<T>(messages: readonly T[]): AsyncIterable<T> {
      yield* messages;
      controller.abort(new Error("cancelled by the client"));
    }
    return { ctx, stream };
  }

  it("latch.v1 ImportRelationships", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    try {
      await store.writeSchema(SCHEMA);
      const handlers = relationshipHandlers({
        store,
        limits: DEFAULT_LIMITS,
        watchPollMs: 10,
        shutdown: new AbortController().signal,
      });
      const { ctx, stream } = cancelledAtTheEnd();
      const messages = [{ relationships: RELATIONSHIPS.map(relationshipToProto) }];
      await expect(
        handlers.importRelationships(stream(messages) as never, ctx as unknown as CallContext),
      ).rejects.toThrow("cancelled by the client");
      expect(await count(store)).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("authzed ImportBulkRelationships", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    try {
      await store.writeSchema(SCHEMA);
      const { ctx, stream } = cancelledAtTheEnd();
      const messages = [{ relationships: RELATIONSHIPS.map(relationshipToSpice) }];
      await expect(importBulk(store, stream(messages), 1000, ctx)).rejects.toThrow("cancelled by the client");
      expect(await count(store)).toBe(0);
    } finally {
      await store.close();
    }
  });
});
