/**
 * Automatic batching against a real server: for random interleavings of concurrent checks, bulk
 * checks, cancellations and deadlines, every caller gets exactly what the same call gives unbatched
 * (a cancelled or timed-out caller may instead get its cancellation or deadline error, whichever
 * comes first, as unbatched), and a bad item never fails its neighbours.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCheckBatcher } from "../../src/client/check-batcher.js";
import type { CallOptions, CheckParams, LatchClient } from "../../src/client/index.js";
import { createClient, RemoteError } from "../../src/client/index.js";
import { createEngine } from "../../src/engine/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { RELATIONSHIPS, SCHEMA } from "./fixtures.js";

const TOKEN = "batching-token-0123456789";

/** What a call ended with, comparable across calls (a request id differs from call to call). */
type Outcome =
  | { readonly ok: unknown }
  | { readonly error: { name: string; code?: unknown; kind?: unknown; status?: unknown; message: string } };

async function outcomeOf(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await call() };
  } catch (e) {
    const error = e as Error & { code?: unknown; kind?: unknown; status?: unknown };
    return {
      error: {
        name: error.name,
        message: error.message,
        ...(error.code === undefined ? {} : { code: error.code }),
        ...(error.kind === undefined ? {} : { kind: error.kind }),
        ...(error.status === undefined ? {} : { status: error.status }),
      },
    };
  }
}

function isTimingError(outcome: Outcome, status: "cancelled" | "deadline"): boolean {
  if (!("error" in outcome)) return false;
  const { kind, code } = outcome.error;
  if (kind !== "deadline-exceeded") return false;
  if (status === "cancelled") return code === "grpc/cancelled";
  // The client's own timer, or the server's (it gets the deadline as `grpc-timeout`): over a fast
  // transport the server's answer may arrive before a 1 ms client timer fires.
  return code === "grpc/deadline_exceeded" || code === "request/deadline-exceeded";
}

const resources = [
  "document:q3",
  "document:memo",
  "document:secret",
  "document:public",
  "nosuchtype:x",
  "document",
];
const permissions = ["view", "view", "view", "nosuchperm"];
const subjects = ["user:alice", "user:bob", "user:carol", "user:mallory", "user:zed", "group:eng#member"];
const contexts = [undefined, { level: 2 }, { level: 5 }];

interface CheckOp {
  readonly kind: "check";
  readonly params: CheckParams;
  /** none; aborted before the call; aborted a turn after it starts. */
  readonly cancel: "none" | "before" | "soon";
  readonly timeoutMs: number | undefined;
  /** Event-loop turns to wait before calling (0: the same turn as the run's start). */
  readonly delay: number;
}

interface BulkOp {
  readonly kind: "bulk";
  readonly items: CheckParams[];
  readonly delay: number;
}

function arbitraries(seeded: string) {
  const consistency = fc.constantFrom<CheckParams["consistency"]>(
    undefined,
    { kind: "minimize-latency" },
    { kind: "fully-consistent" },
    { kind: "at-least-as-fresh", token: seeded },
    // Not a token: the whole bulk fails, and each item must still get its own single answer.
    { kind: "at-least-as-fresh", token: "not-a-token" },
  );
  const item = fc.record({
    resource: fc.constantFrom(...resources),
    permission: fc.constantFrom(...permissions),
    subject: fc.constantFrom(...subjects),
    context: fc.constantFrom(...contexts),
  });
  const check = fc.record({
    kind: fc.constant("check" as const),
    params: fc
      .record({ item, consistency, explain: fc.constantFrom(false, false, false, false, true) })
      .map(({ item: i, consistency: c, explain }) => ({
        resource: i.resource,
        permission: i.permission,
        subject: i.subject,
        ...(i.context === undefined ? {} : { context: i.context }),
        ...(c === undefined ? {} : { consistency: c }),
        ...(explain ? { explain: true } : {}),
      })),
    cancel: fc.constantFrom("none", "none", "none", "before", "soon"),
    timeoutMs: fc.constantFrom(undefined, undefined, undefined, 1, 5_000),
    delay: fc.constantFrom(0, 0, 0, 1, 2),
  });
  const bulk = fc.record({
    kind: fc.constant("bulk" as const),
    items: fc
      .array(item, { minLength: 1, maxLength: 4 })
      .map((items) =>
        items.map(
          (i) => ({ ...i, ...(i.context === undefined ? {} : { context: i.context }) }) as CheckParams,
        ),
      ),
    delay: fc.constantFrom(0, 1),
  });
  return fc.array(fc.oneof({ arbitrary: check, weight: 5 }, { arbitrary: bulk, weight: 1 }), {
    minLength: 1,
    maxLength: 24,
  });
}

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Runs `op` through `client`, starting after its delay; cancellation and deadline as it says. */
async function run(client: Pick<LatchClient, "check" | "checkBulk">, op: CheckOp | BulkOp): Promise<Outcome> {
  await turns(op.delay);
  if (op.kind === "bulk") {
    const items = op.items.map(({ resource, permission, subject, context }) => ({
      resource,
      permission,
      subject,
      ...(context === undefined ? {} : { context }),
    }));
    return outcomeOf(() => client.checkBulk({ items }));
  }
  const controller = new AbortController();
  if (op.cancel === "before") controller.abort();
  const options = {
    ...(op.cancel === "none" ? {} : { signal: controller.signal }),
    ...(op.timeoutMs === undefined ? {} : { timeoutMs: op.timeoutMs }),
  };
  const pending = outcomeOf(() => client.check(op.params, options));
  if (op.cancel === "soon") setImmediate(() => controller.abort());
  return pending;
}

describe("automatic batching", () => {
  let server: RunningServer;
  let close: () => Promise<void>;
  let plain: LatchClient;
  let seeded = "";

  beforeAll(async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    server = await startServer({
      store,
      engine: createEngine({ store }),
      tokens: [TOKEN],
      listen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
    plain = createClient({ address: server.address, token: TOKEN, batch: false });
    await plain.writeSchema(SCHEMA);
    seeded = (
      await plain.writeRelationships({
        updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
      })
    ).token;
    close = async () => {
      await plain.close();
      await server.shutdown(1000);
      await store.close();
    };
  });

  afterAll(async () => {
    await close();
  });

  it("gives every caller exactly the unbatched answer or error, whatever the interleaving", async () => {
    let bulks = 0;
    await fc.assert(
      fc.asyncProperty(
        arbitraries(seeded),
        fc.constantFrom(2, 3, 256),
        fc.constantFrom(0, 1000),
        async (ops, maxItems, windowUs) => {
          // The batcher over the unbatched client's own calls, counting the bulks it sends.
          const batcher = createCheckBatcher(
            {
              check: (p, o) => plain.check(p, o),
              checkBulk: (p, o) => {
                bulks++;
                return plain.checkBulk(p, o);
              },
              timeoutMs: 30_000,
            },
            { maxItems, windowUs },
          );
          const batched = { check: batcher.check, checkBulk: plain.checkBulk };
          const outcomes = await Promise.all(ops.map((op) => run(batched, op)));
          for (const [i, op] of ops.entries()) {
            // Alone, without its cancellation or deadline: what the call itself answers.
            const alone =
              op.kind === "bulk"
                ? await run(plain, op)
                : // A signal aborted before the call is no race: refused before anything is sent.
                  await run(plain, {
                    ...op,
                    cancel: op.cancel === "before" ? "before" : "none",
                    timeoutMs: undefined,
                    delay: 0,
                  });
            const got = outcomes[i]!;
            const timing =
              op.kind === "check" &&
              ((op.cancel === "soon" && isTimingError(got, "cancelled")) ||
                (op.timeoutMs === 1 && isTimingError(got, "deadline")));
            if (!timing) expect(got).toEqual(alone);
          }
        },
      ),
      { numRuns: 40 },
    );
    // The property ran through bulks, not only single checks.
    expect(bulks).toBeGreaterThan(0);
  });

  it("asks identical concurrent checks once", async () => {
    let singles = 0;
    let items = 0;
    const batcher = createCheckBatcher({
      check: (p, o) => {
        singles++;
        return plain.check(p, o);
      },
      checkBulk: (p, o) => {
        items += p.items.length;
        return plain.checkBulk(p, o);
      },
      timeoutMs: 30_000,
    });
    const ask = (subject: string) =>
      batcher.check({ resource: "document:q3", permission: "view", subject }, undefined);
    const answers = await Promise.all([
      ask("user:alice"),
      ask("user:alice"),
      ask("user:bob"),
      ask("user:alice"),
    ]);
    expect(answers.map((a) => a.state)).toEqual(["ALLOWED", "ALLOWED", "DENIED", "ALLOWED"]);
    expect({ singles, items }).toEqual({ singles: 0, items: 2 });
  });

  it("cancels a lone check's request when its caller aborts, and gives it no signal when none can", async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const batcher = createCheckBatcher({
      check: (p, o) => {
        signals.push(o.signal);
        return plain.check(p, o);
      },
      checkBulk: (p, o) => plain.checkBulk(p, o),
      timeoutMs: 30_000,
    });
    const check = { resource: "document:q3", permission: "view", subject: "user:alice" } as const;
    // No caller signal: nobody can leave before the request's own deadline, so nothing to cancel.
    expect((await batcher.check(check, undefined)).state).toBe("ALLOWED");
    expect(signals).toEqual([undefined]);
    // With one, the caller's abort ends its wait and the request it alone was waiting for.
    const controller = new AbortController();
    const asked = batcher.check(check, { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    expect(signals).toHaveLength(2);
    expect(signals[1]?.aborted).toBe(false);
    controller.abort();
    await expect(asked).rejects.toMatchObject({ code: "grpc/cancelled" });
    expect(signals[1]?.aborted).toBe(true);
  });

  it("sends a lone check with its caller's deadline, and lets an identical check join it in flight", async () => {
    const sent: CallOptions[] = [];
    const batcher = createCheckBatcher({
      check: (p, o) => {
        sent.push(o);
        return plain.check(p, o);
      },
      checkBulk: (p, o) => plain.checkBulk(p, o),
      timeoutMs: 30_000,
    });
    const check = { resource: "document:q3", permission: "view", subject: "user:alice" } as const;
    const first = batcher.check(check, { timeoutMs: 5_000 });
    // The window closed: the first check is on its way alone.
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toHaveLength(1);
    // Its own deadline, never a later one, and no signal (nobody can leave before that deadline).
    expect(sent[0]!.timeoutMs).toBeLessThanOrEqual(5_000);
    expect(sent[0]!.timeoutMs).toBeGreaterThan(0);
    expect(sent[0]!.signal).toBeUndefined();
    // Same check, earlier deadline: joins the request in flight. A later deadline asks again.
    const joined = batcher.check(check, { timeoutMs: 1_000 });
    const later = batcher.check(check, { timeoutMs: 10_000 });
    expect((await first).state).toBe("ALLOWED");
    expect((await joined).state).toBe("ALLOWED");
    expect((await later).state).toBe("ALLOWED");
    expect(sent).toHaveLength(2);
  });

  it("fails a lone check whose deadline passed while it waited for the window, without sending it", async () => {
    let singles = 0;
    const batcher = createCheckBatcher(
      {
        check: (p, o) => {
          singles++;
          return plain.check(p, o);
        },
        checkBulk: (p, o) => plain.checkBulk(p, o),
        timeoutMs: 30_000,
      },
      { windowUs: 1_000 },
    );
    const check = { resource: "document:q3", permission: "view", subject: "user:alice" } as const;
    const asked = batcher.check(check, { timeoutMs: 1 });
    // Busy until its deadline is behind it: the window cannot close before.
    const start = Date.now();
    while (Date.now() < start + 2);
    await expect(asked).rejects.toMatchObject({ code: "grpc/deadline_exceeded", status: 4 });
    expect(singles).toBe(0);
  });

  it("answers every check alone, and stops gathering, when the server has no CheckBulk", async () => {
    let bulks = 0;
    const batcher = createCheckBatcher({
      check: (p, o) => plain.check(p, o),
      checkBulk: async () => {
        bulks++;
        throw new RemoteError("grpc/unimplemented", "failed-precondition", "no such method", 12, {});
      },
      timeoutMs: 30_000,
    });
    const ask = (subject: string) =>
      batcher.check({ resource: "document:q3", permission: "view", subject }, undefined);
    for (let round = 0; round < 2; round++) {
      const answers = await Promise.all([ask("user:alice"), ask("user:bob")]);
      expect(answers.map((a) => a.state)).toEqual(["ALLOWED", "DENIED"]);
    }
    expect(bulks).toBe(1);
  });

  it("accepts a deadline longer than Node's longest timer, batched or not", async () => {
    const batched = createClient({ address: server.address, token: TOKEN });
    try {
      const check = { resource: "document:memo", permission: "view", subject: "user:bob" } as const;
      // 40 days: past setTimeout's 24.8 days (which Node fires at once) and 8 digits of milliseconds.
      const timeoutMs = 40 * 24 * 3_600_000;
      expect((await batched.check(check, { timeoutMs })).state).toBe("ALLOWED");
      expect((await plain.check(check, { timeoutMs })).state).toBe("ALLOWED");
      // The grpc-js transport keeps its timer within Node's limit too.
      const legacy = createClient({
        address: server.address,
        token: TOKEN,
        transport: "grpc-js",
        batch: false,
      });
      try {
        expect((await legacy.check(check, { timeoutMs })).state).toBe("ALLOWED");
      } finally {
        await legacy.close();
      }
    } finally {
      await batched.close();
    }
  });

  it("keeps a bad item from failing its neighbours, with the error a single check gives", async () => {
    const batched = createClient({ address: server.address, token: TOKEN });
    try {
      const good = batched.check({ resource: "document:memo", permission: "view", subject: "user:bob" });
      const bad = batched.check({ resource: "document:memo", permission: "nosuchperm", subject: "user:bob" });
      const alsoGood = batched.check({ resource: "document:q3", permission: "view", subject: "user:alice" });
      expect((await good).state).toBe("ALLOWED");
      expect((await alsoGood).state).toBe("ALLOWED");
      const error = await bad.catch((e: unknown) => e);
      const alone = await plain
        .check({ resource: "document:memo", permission: "nosuchperm", subject: "user:bob" })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({
        code: (alone as RemoteError).code,
        status: (alone as RemoteError).status,
        message: (alone as RemoteError).message,
      });
    } finally {
      await batched.close();
    }
  });
});
