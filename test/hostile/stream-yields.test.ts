/**
 * Stall review, finding 2: a server stream's loop waited for 'drain' when a write was refused, and
 * went on at once otherwise. A socket that takes a write at once emits 'drain' on the next tick,
 * not in a later turn of the event loop, so an export to a fast reader never gave other calls a
 * turn: ExportBulkRelationships of the scale-m corpus through the HTTP gateway held the server
 * 1.9-4.5 s (`npx tsx bench/stall-data.ts`). Each transport's stream loop now asks a pacer after
 * every message (server/stream-pacing.ts).
 *
 * The gateway is driven directly, with a response that behaves as such a socket does (every write
 * refused, 'drain' on the next tick), and a stream whose messages are all at hand. The clock is
 * stepped by the calls that read it, so where the loop yields depends on the messages sent only.
 */
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PermissionsService } from "../../src/gen/authzed/api/v1/permission_service_pb.js";
import { SPICEDB_GATEWAY_ROUTES } from "../../src/server/gateway-routes.js";
import { createGateway } from "../../src/server/http-gateway.js";
import { createLogger } from "../../src/server/index.js";
import type { ServedService } from "../../src/server/services.js";
import { producedWhenOtherRan, stepPerformanceClock } from "./stepped-clock.js";

const MESSAGES = 200;
const PATH = "/v1/relationships/exportbulk";

/** A response over a socket that takes every write at once: refused, then drained on the next tick. */
class FastSocketResponse extends EventEmitter {
  statusCode = 0;
  writableFinished = false;
  destroyed = false;
  readonly lines: string[] = [];
  write(chunk: string): boolean {
    this.lines.push(chunk);
    process.nextTick(() => this.emit("drain"));
    return false;
  }
  end(chunk?: string): this {
    if (chunk !== undefined) this.lines.push(chunk);
    this.writableFinished = true;
    this.emit("finish");
    return this;
  }
  writeHead(status: number): this {
    this.statusCode = status;
    return this;
  }
  setHeader(): this {
    return this;
  }
}

function request(headers: Record<string, string> = {}): Readable {
  const req = Readable.from([Buffer.from("{}")]) as Readable & Record<string, unknown>;
  Object.assign(req, { method: "POST", url: PATH, headers, complete: true });
  return req;
}

/** A response over a socket whose reader stopped reading: every write refused, never drained. */
class StalledSocketResponse extends FastSocketResponse {
  override write(chunk: string): boolean {
    this.lines.push(chunk);
    return false;
  }
}

/** The export: every message at hand, each counted as it is handed to the transport. */
function exporter(counter: { produced: number }): ServedService {
  const relationship = {
    resource: { objectType: "document", objectId: "d" },
    relation: "viewer",
    subject: { object: { objectType: "user", objectId: "u" } },
  };
  return {
    service: PermissionsService,
    impl: {
      async *exportBulkRelationships() {
        for (let i = 0; i < MESSAGES; i++) {
          counter.produced++;
          yield { relationships: [relationship], afterResultCursor: { token: `c${i}` } };
        }
      },
    } as unknown as ServedService["impl"],
  };
}

/** The gateway serving only the export, to a caller it lets in. */
function gatewayOf(counter: { produced: number }) {
  return createGateway({
    routes: SPICEDB_GATEWAY_ROUTES.filter((r) => r.path === PATH),
    services: [exporter(counter)],
    adapter: { log: createLogger("silent") },
    authenticate: () => {},
    maxBodyBytes: 1 << 20,
    serving: () => true,
  });
}

stepPerformanceClock();

describe("a server stream to a reader that takes every write at once", () => {
  it("gives other calls a turn before it ends (HTTP gateway)", async () => {
    const counter = { produced: 0 };
    const gateway = gatewayOf(counter);
    const res = new FastSocketResponse();
    // Another call's work, queued as the stream starts: it must not wait for the whole stream.
    const seen = producedWhenOtherRan(counter);
    const ended = new Promise((resolve) => res.on("finish", resolve));
    expect(gateway.handle(request() as never, res as never)).toBe(true);
    await ended;
    expect(res.statusCode).toBe(200);
    expect(res.lines).toHaveLength(MESSAGES);
    expect(seen()).toBeDefined();
    expect(seen()!).toBeLessThan(MESSAGES);
  });

  it("leaves no listener behind on the response however often it waits for 'drain'", async () => {
    const gateway = gatewayOf({ produced: 0 });
    const res = new FastSocketResponse();
    // Counted as the stream ends, before 'close' fires and takes its once-listeners with it.
    const atEnd = new Promise<{ close: number; drain: number }>((resolve) =>
      res.on("finish", () =>
        resolve({ close: res.listenerCount("close"), drain: res.listenerCount("drain") }),
      ),
    );
    gateway.handle(request() as never, res as never);
    const listeners = await atEnd;
    // The gateway's own: one for the call's abort; none per 'drain' waited for.
    expect(listeners.close).toBeLessThanOrEqual(1);
    expect(listeners.drain).toBe(0);
  });

  it("ends a stream whose reader stopped reading once its deadline passes, with DEADLINE_EXCEEDED", async () => {
    const gateway = gatewayOf({ produced: 0 });
    const res = new StalledSocketResponse();
    const ended = new Promise((resolve) => res.on("finish", resolve));
    // Without the call's abort among what ends the wait, it would wait for a 'drain' that never comes.
    gateway.handle(request({ "grpc-timeout": "20m" }) as never, res as never);
    await ended;
    const last = JSON.parse(res.lines.at(-1)!) as { error?: { code?: number } };
    expect(res.lines).toHaveLength(2);
    expect(last.error?.code).toBe(4);
    expect(res.listenerCount("drain")).toBe(0);
  });
});
