/**
 * The per-call wrapper on fake grpc-js calls: what a handler sees of cancellation, deadlines and
 * request ids, including the `cancelled` event grpc-js emits after every call, finished or not.
 */
import { EventEmitter } from "node:events";
import { Metadata, type ServerUnaryCall, status } from "@grpc/grpc-js";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { LatchError } from "../../src/core/index.js";
import { SchemaService } from "../../src/gen/latch/v1/schema_service_pb.js";
import { type CallContext, serviceImplementation } from "../../src/server/grpc-adapter.js";
import { createLogger } from "../../src/server/observability.js";

class FakeCall extends EventEmitter {
  cancelled = false;
  /** An empty ReadSchemaRequest, as the bytes grpc-js hands over. */
  readonly request = Buffer.alloc(0);
  constructor(
    readonly metadata: Metadata,
    private readonly deadline: number = Number.POSITIVE_INFINITY,
  ) {
    super();
  }
  getDeadline() {
    return this.deadline;
  }
  /** What grpc-js does when the stream closes. */
  close() {
    this.cancelled = true;
    this.emit("cancelled", "cancelled");
  }
}

interface Outcome {
  readonly error: { code: status; details: string; metadata: Metadata } | null;
  readonly value: unknown;
}

function serve(readSchema: (ctx: CallContext) => Promise<{ schemaText: string }>) {
  const impl = serviceImplementation(
    SchemaService,
    {
      readSchema: (_req, ctx) => readSchema(ctx),
      writeSchema: async () => ({}),
    },
    { log: createLogger("silent") },
  );
  const handler = impl.readSchema as (call: ServerUnaryCall<unknown, unknown>, cb: unknown) => void;
  return (call: FakeCall) =>
    new Promise<Outcome>((resolve) =>
      handler(
        call as unknown as ServerUnaryCall<unknown, unknown>,
        (error: Outcome["error"], value: unknown) => resolve({ error, value }),
      ),
    );
}

function metadata(extra: Record<string, string> = {}): Metadata {
  const m = new Metadata();
  m.set("authorization", "Bearer t");
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
}

const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });

describe("the call wrapper", () => {
  it("does not abort the signal of a call that was answered when its stream closes", async () => {
    let seen: AbortSignal | undefined;
    const call = new FakeCall(metadata());
    const outcome = await serve(async (ctx) => {
      seen = ctx.signal;
      return { schemaText: "ok" };
    })(call);
    expect(outcome.error).toBe(null);
    call.close();
    expect(seen?.aborted).toBe(false);
  });

  it("aborts a running call that the client cancels, and answers with its request id", async () => {
    const call = new FakeCall(metadata({ "x-request-id": "req-42" }));
    let id: string | undefined;
    const running = serve(async (ctx) => {
      id = ctx.requestId;
      const signal = ctx.signal;
      setImmediate(() => call.close());
      throw await aborted(signal);
    })(call);
    const { error } = await running;
    expect(id).toBe("req-42");
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error?.metadata.get("latch-error-code")).toEqual(["request/cancelled"]);
    expect(error?.metadata.get("latch-request-id")).toEqual(["req-42"]);
  });

  it("gives an aborted signal to a handler that first looks after the client cancelled", async () => {
    const call = new FakeCall(metadata());
    const { error } = await serve(async (ctx) => {
      await new Promise((r) => setImmediate(r));
      call.close();
      await new Promise((r) => setImmediate(r));
      expect(ctx.signal.aborted).toBe(true);
      throw ctx.signal.reason;
    })(call);
    expect(error?.metadata.get("latch-error-code")).toEqual(["request/cancelled"]);
  });

  it("answers `aborted` like the signal would, without making one: cancelled, then finished", async () => {
    const call = new FakeCall(metadata());
    const seen: boolean[] = [];
    let context: CallContext | undefined;
    await serve(async (ctx) => {
      context = ctx;
      seen.push(ctx.aborted);
      call.close();
      seen.push(ctx.aborted);
      return { schemaText: "" };
    })(call);
    // A finished call is never reported aborted, whatever grpc-js says after it.
    seen.push(context!.aborted);
    expect(seen).toEqual([false, true, false]);
  });

  it("answers `aborted` once the deadline has passed, with no timer", async () => {
    // Only the clock is faked, so the deadline cannot race a slow machine.
    vi.useFakeTimers({ toFake: ["Date"] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const call = new FakeCall(metadata(), Date.now() + 30_000);
    const seen: boolean[] = [];
    await serve(async (ctx) => {
      seen.push(ctx.aborted);
      vi.setSystemTime(Date.now() + 30_000);
      seen.push(ctx.aborted);
      return { schemaText: "" };
    })(call);
    expect(seen).toEqual([false, true]);
  });

  it("aborts at the deadline with deadline-exceeded", async () => {
    const call = new FakeCall(metadata(), Date.now() + 20);
    const { error } = await serve(async (ctx) => {
      throw await aborted(ctx.signal);
    })(call);
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error?.metadata.get("latch-error-code")).toEqual(["request/deadline-exceeded"]);
  });

  it("refuses an expired deadline before the handler runs", async () => {
    let ran = false;
    const { error } = await serve(async () => {
      ran = true;
      return { schemaText: "" };
    })(new FakeCall(metadata(), Date.now() - 1));
    expect(ran).toBe(false);
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it("makes up a request id when none is given", async () => {
    // The token is checked before the wrapper runs (auth-interceptor.ts; test/hostile/auth-before-decode).
    const { error } = await serve(async () => {
      throw new LatchError("schema/not-found", "not-found", "no schema");
    })(new FakeCall(new Metadata()));
    const id = error?.metadata.get("latch-request-id")[0];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    // An id that is not a plain token is replaced rather than echoed into logs and trailers.
    const odd = await serve(async () => {
      throw new LatchError("schema/not-found", "not-found", "no schema");
    })(new FakeCall(metadata({ "x-request-id": "a b" })));
    expect(odd.error?.code).toBe(status.NOT_FOUND);
    expect(odd.error?.metadata.get("latch-request-id")[0]).toMatch(/^[0-9a-f-]{36}$/);
  });
});
