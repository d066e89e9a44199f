/**
 * Stall review, finding 2, for the gRPC and Connect transports (the HTTP gateway's loop is
 * stream-yields.test.ts): a reader that takes every write at once gives the stream's loop no
 * back-pressure to wait on, so only the pacer's `afterMessage` lets other calls run before the
 * stream ends. Each adapter is driven directly, with a call whose writes are all taken at once,
 * and a stream whose messages are all at hand. The clock is stepped by the calls that read it, so
 * where the loop yields depends on the messages sent only.
 */
import { EventEmitter } from "node:events";
import type { HandlerContext } from "@connectrpc/connect";
import { Metadata, type ServerWritableStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { RelationshipService } from "../../src/gen/latch/v1/relationship_service_pb.js";
import { connectImplementation } from "../../src/server/connect-adapter.js";
import { serviceImplementation } from "../../src/server/grpc-adapter.js";
import { createLogger } from "../../src/server/index.js";
import type { ServedService } from "../../src/server/services.js";
import { producedWhenOtherRan, stepPerformanceClock } from "./stepped-clock.js";

const MESSAGES = 200;
const options = { log: createLogger("silent") };

/** A grpc-js server stream over a socket that takes every write at once. */
class FastWritableCall extends EventEmitter {
  cancelled = false;
  written = 0;
  ended = false;
  readonly metadata = new Metadata();
  /** An empty ExportRelationshipsRequest, as the bytes grpc-js hands over. */
  readonly request = Buffer.alloc(0);
  getDeadline() {
    return Number.POSITIVE_INFINITY;
  }
  write(): boolean {
    this.written++;
    return true;
  }
  end() {
    this.ended = true;
    this.emit("finish");
  }
}

/** The export: every message at hand, each counted as it is handed to the transport. */
function exporter(counter: { produced: number }): ServedService {
  // Every other method must exist for the adapters to wrap the service; none is called.
  const impl: Record<string, unknown> = {};
  for (const m of RelationshipService.methods)
    impl[m.localName] = () => {
      throw new Error(`${m.name} is not part of this test`);
    };
  impl.exportRelationships = async function* () {
    for (let i = 0; i < MESSAGES; i++) {
      counter.produced++;
      yield {};
    }
  };
  return { service: RelationshipService, impl: impl as ServedService["impl"] };
}

stepPerformanceClock();

describe("a server stream to a reader that takes every write at once", () => {
  it("gives other calls a turn before it ends (gRPC)", async () => {
    const counter = { produced: 0 };
    const served = exporter(counter);
    const impl = serviceImplementation(RelationshipService, served.impl as never, options);
    const handle = impl.exportRelationships as (call: ServerWritableStream<Buffer, unknown>) => void;
    const call = new FastWritableCall();
    const ended = new Promise((resolve) => call.on("finish", resolve));
    const errors: unknown[] = [];
    call.on("error", (error) => errors.push(error));
    const seen = producedWhenOtherRan(counter);
    handle(call as unknown as ServerWritableStream<Buffer, unknown>);
    await ended;
    expect(errors).toEqual([]);
    expect(call.written).toBe(MESSAGES);
    expect(seen()).toBeDefined();
    expect(seen()!).toBeLessThan(MESSAGES);
  });

  it("gives other calls a turn before it ends (Connect)", async () => {
    const counter = { produced: 0 };
    const impl = connectImplementation(exporter(counter), options);
    const hctx = {
      service: RelationshipService,
      method: RelationshipService.method.exportRelationships,
      requestHeader: new Headers(),
      signal: new AbortController().signal,
    } as unknown as HandlerContext;
    const seen = producedWhenOtherRan(counter);
    // Connect writes each message as the generator yields it, never waiting for the reader.
    let sent = 0;
    for await (const _ of impl.exportRelationships!({}, hctx) as AsyncIterable<unknown>) sent++;
    expect(sent).toBe(MESSAGES);
    expect(seen()).toBeDefined();
    expect(seen()!).toBeLessThan(MESSAGES);
  });
});
