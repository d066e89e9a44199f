/**
 * Issue 23, finding 1: a caveat, its context or a bulk of them must not hold the server. Regular
 * expressions run with RE2 (linear time), each evaluation has a cost budget counted while it runs,
 * request and stored contexts are bounded, and a long CheckBulk honours its deadline.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createClient,
  createEmbedded,
  type EmbeddedClient,
  type LatchClient,
} from "../../src/client/index.js";
import { LatchError } from "../../src/core/index.js";
import { CheckPermissionRequestSchema } from "../../src/gen/latch/v1/permission_service_pb.js";
import { auth, failure, type Harness, startHarness, TOKEN, unary } from "../server/harness.js";

const SCHEMA = `
caveat fixed_pattern(s string) {
  s.matches("^(a+)+$")
}

caveat given_pattern(s string, p string) {
  s.matches(p)
}

caveat all_pairs(xs list<int>) {
  xs.all(x, xs.exists(y, y == x))
}

caveat pairs_then_true(xs list<int>) {
  xs.all(x, xs.exists(y, y == x)) || true
}

caveat exists_late(xs list<int>) {
  xs.exists(x, xs.all(y, y < 0) || x == xs[size(xs) - 1])
}

caveat small_loop(xs list<int>) {
  xs.exists(x, x == 3) && xs.all(x, x < 100)
}

caveat anything(m map<any>) {
  true
}

definition user {}

definition document {
  relation fixed: user with fixed_pattern
  relation given: user with given_pattern
  relation pairs: user with all_pairs
  relation pairs_or: user with pairs_then_true
  relation late: user with exists_late
  relation small: user with small_loop
  relation ctx: user with anything
  relation plain: user
  permission view_fixed = fixed
  permission view_given = given
  permission view_pairs = pairs
  permission view_pairs_or = pairs_or
  permission view_late = late
  permission view_small = small
  permission view_ctx = ctx
  permission view_plain = plain
}
`;

const RELATIONSHIPS = [
  "document:d#fixed@user:u[fixed_pattern]",
  "document:d#given@user:u[given_pattern]",
  "document:d#pairs@user:u[all_pairs]",
  "document:d#pairs_or@user:u[pairs_then_true]",
  "document:d#late@user:u[exists_late]",
  "document:d#small@user:u[small_loop]",
  "document:d#ctx@user:u[anything]",
  "document:d#plain@user:u",
];

const CATASTROPHIC = `${"a".repeat(30)}b`;
/** Under the request context limit of 10,000 values, and far over the cost budget when paired. */
const INTS = Array.from({ length: 9_000 }, (_, i) => i);

function nest(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field. */
function field(no: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
}

/** A google.protobuf.Struct `{"a": {"a": ... {}}}` nested `depth` times, in protobuf binary. */
function deepStruct(depth: number): Buffer {
  let struct: Buffer = Buffer.alloc(0);
  const key = field(1, Buffer.from("a"));
  // fields entry {key: "a", value: Value{struct_value: struct}}
  for (let i = 0; i < depth; i++) struct = field(1, Buffer.concat([key, field(2, field(5, struct))]));
  return struct;
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; kind: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LatchError) return { code: error.code, kind: error.kind, message: error.message };
    throw error;
  }
  throw new Error("expected the call to fail");
}

const check = (client: LatchClient, permission: string, context?: Record<string, unknown>) =>
  client.check({
    resource: "document:d",
    permission,
    subject: "user:u",
    ...(context === undefined ? {} : { context }),
  });

describe("hostile caveats, embedded", () => {
  let client: EmbeddedClient;

  beforeAll(async () => {
    client = await createEmbedded({ database: ":memory:", schema: SCHEMA });
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
  });

  afterAll(async () => {
    await client.close();
  });

  it("answers a catastrophic regular expression with RE2 semantics", async () => {
    expect((await check(client, "view_fixed", { s: CATASTROPHIC })).state).toBe("DENIED");
    expect((await check(client, "view_fixed", { s: "aaaa" })).state).toBe("ALLOWED");
  });

  it("answers a catastrophic pattern taken from the request", async () => {
    expect((await check(client, "view_given", { s: CATASTROPHIC, p: "^(a+)+$" })).state).toBe("DENIED");
    expect((await check(client, "view_given", { s: CATASTROPHIC, p: "(x+x+)+y" })).state).toBe("DENIED");
    // RE2 syntax, which JavaScript's RegExp does not have.
    expect((await check(client, "view_given", { s: "ABC", p: "(?i)^abc$" })).state).toBe("ALLOWED");
  });

  it("fails on a pattern that is not RE2, and never allows", async () => {
    // Lookahead is valid JavaScript, but not RE2.
    const error = await codeOf(check(client, "view_given", { s: "ab", p: "a(?=b)" }));
    expect(error.code).toBe("check/caveat-error");
    expect(error.message).toMatch(/RE2/);
    expect((await codeOf(check(client, "view_given", { s: "ab", p: "(" }))).code).toBe("check/caveat-error");
  });

  it("stops a nested comprehension at the cost budget", async () => {
    const error = await codeOf(check(client, "view_pairs", { xs: INTS }));
    expect(error.code).toBe("check/caveat-cost-exceeded");
    expect(error.kind).toBe("resource-exhausted");
  });

  it("never allows once the budget ran out, even when the expression would end true", async () => {
    // `|| true` absorbs the left side's error; `exists` would find its element at the end.
    expect((await codeOf(check(client, "view_pairs_or", { xs: INTS }))).code).toBe(
      "check/caveat-cost-exceeded",
    );
    expect((await codeOf(check(client, "view_late", { xs: INTS }))).code).toBe("check/caveat-cost-exceeded");
    // Within budget the same expressions answer.
    expect((await check(client, "view_pairs_or", { xs: [1, 2, 3] })).state).toBe("ALLOWED");
    expect((await check(client, "view_late", { xs: [1, 2, 3] })).state).toBe("ALLOWED");
  });

  it("evaluates a small comprehension within budget correctly", async () => {
    expect((await check(client, "view_small", { xs: [1, 2, 3] })).state).toBe("ALLOWED");
    expect((await check(client, "view_small", { xs: [1, 2, 4] })).state).toBe("DENIED");
    expect((await check(client, "view_small", { xs: [3, 200] })).state).toBe("DENIED");
    expect((await check(client, "view_pairs", { xs: [5, 6, 7] })).state).toBe("ALLOWED");
  });

  it("honours a smaller budget given to the engine", async () => {
    const tight = await createEmbedded({
      database: ":memory:",
      schema: SCHEMA,
      engine: { maxCaveatCost: 50 },
    });
    try {
      await tight.writeRelationships({
        updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
      });
      const xs = Array.from({ length: 30 }, (_, i) => i);
      expect((await codeOf(check(tight, "view_pairs", { xs }))).code).toBe("check/caveat-cost-exceeded");
      expect((await check(client, "view_pairs", { xs })).state).toBe("ALLOWED");
    } finally {
      await tight.close();
    }
  });

  it("refuses an oversize or overdeep request context, naming the field", async () => {
    const many = await codeOf(
      check(client, "view_ctx", { m: { list: Array.from({ length: 10_001 }, () => 1) } }),
    );
    expect(many.code).toBe("request/context-too-large");
    expect(many.kind).toBe("invalid-argument");
    expect(many.message).toMatch(/context/);

    const keys = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i]));
    expect((await codeOf(check(client, "view_ctx", { m: keys }))).code).toBe("request/context-too-large");

    const long = await codeOf(check(client, "view_ctx", { m: { s: "x".repeat(64 * 1024 + 1) } }));
    expect(long.code).toBe("request/context-too-large");

    const deep = await codeOf(check(client, "view_ctx", { m: nest(20) }));
    expect(deep.code).toBe("request/context-too-deep");
    expect(deep.message).toMatch(/context/);

    // A cyclic object from an embedding program stops at the depth limit too.
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect((await codeOf(check(client, "view_ctx", { m: cyclic }))).code).toBe("request/context-too-deep");

    // Within the limits it is evaluated.
    expect((await check(client, "view_ctx", { m: nest(10) })).state).toBe("ALLOWED");
  });

  it("refuses an oversize or overdeep stored caveat context", async () => {
    const big = JSON.stringify({ m: { list: Array.from({ length: 10_001 }, () => 1) } });
    const large = await codeOf(
      client.writeRelationships({
        updates: [{ operation: "touch", relationship: `document:e#ctx@user:u[anything:${big}]` }],
      }),
    );
    expect(large.code).toBe("relationship/context-too-large");
    const deep = JSON.stringify({ m: nest(20) });
    const tooDeep = await codeOf(
      client.writeRelationships({
        updates: [{ operation: "touch", relationship: `document:e#ctx@user:u[anything:${deep}]` }],
      }),
    );
    expect(tooDeep.code).toBe("relationship/context-too-deep");
  });

  it("answers each hostile item of a bulk with its own error, and a cheap item beside them", async () => {
    const hostile = {
      resource: "document:d",
      permission: "view_pairs",
      subject: "user:u",
      context: { xs: INTS },
    };
    const items = [
      ...Array.from({ length: 20 }, () => hostile),
      { resource: "document:d", permission: "view_plain", subject: "user:u" },
      ...Array.from({ length: 20 }, () => hostile),
    ];
    const answer = await client.checkBulk({ items });
    expect(answer.results).toHaveLength(41);
    answer.results.forEach((r, i) => {
      if (i === 20) expect(r).toMatchObject({ ok: true, state: "ALLOWED" });
      else expect(r).toMatchObject({ ok: false, error: { code: "check/caveat-cost-exceeded" } });
    });
  });

  it("stops a long bulk when its deadline passes", async () => {
    // The hostile context is stored, so a bulk of 1,000 items is a small request.
    await client.writeRelationships({
      updates: [
        {
          operation: "touch",
          relationship: `document:s#pairs@user:u[all_pairs:${JSON.stringify({ xs: INTS })}]`,
        },
      ],
    });
    const items = Array.from({ length: 1000 }, () => ({
      resource: { type: "document", id: "s" },
      permission: "view_pairs",
      subject: { type: "user", id: "u" },
    }));
    let calls = 0;
    // Aborted after a few polls: the engine must look between items, not only before the bulk.
    const signal = {
      get aborted() {
        calls += 1;
        return calls > 3;
      },
    };
    const error = await codeOf(client.engine.checkBulk({ items }, { signal }));
    expect(error.code).toBe("request/deadline-exceeded");
  });
});

describe("hostile caveats over gRPC", () => {
  let h: Harness;
  let client: LatchClient;

  beforeAll(async () => {
    h = await startHarness();
    client = createClient({ address: h.server.address, token: TOKEN });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
  });

  afterAll(async () => {
    await client.close();
    await h.close();
  });

  const grpcCheck = (permission: string, context: Record<string, unknown>) =>
    unary(h.permission, "checkPermission", CheckPermissionRequestSchema, {
      resource: { objectType: "document", objectId: "d" },
      permission,
      subject: { object: { objectType: "user", objectId: "u" } },
      context: context as never,
    });

  it("answers the catastrophic regular expression", async () => {
    expect((await check(client, "view_fixed", { s: CATASTROPHIC })).state).toBe("DENIED");
    expect((await check(client, "view_given", { s: CATASTROPHIC, p: "^(a+)+$" })).state).toBe("DENIED");
  });

  it("gives RESOURCE_EXHAUSTED when the cost budget runs out", async () => {
    const error = await failure(grpcCheck("view_pairs", { xs: INTS }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.metadata.get("latch-error-code")).toEqual(["check/caveat-cost-exceeded"]);
    const pairsOr = await failure(grpcCheck("view_pairs_or", { xs: INTS }));
    expect(pairsOr.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("gives INVALID_ARGUMENT naming the context when it is too large or too deep", async () => {
    const large = await failure(
      grpcCheck("view_ctx", { m: { list: Array.from({ length: 10_001 }, () => 1) } }),
    );
    expect(large.code).toBe(status.INVALID_ARGUMENT);
    expect(large.details).toMatch(/context/);
    expect(large.metadata.get("latch-error-code")).toEqual(["request/context-too-large"]);
    const deep = await failure(grpcCheck("view_ctx", { m: nest(20) }));
    expect(deep.code).toBe(status.INVALID_ARGUMENT);
    expect(deep.details).toMatch(/context/);
    expect(deep.metadata.get("latch-error-code")).toEqual(["request/context-too-deep"]);
  });

  it("refuses a 10,000-deep Struct without overflowing the stack, and keeps serving", async () => {
    // Encoded by hand: the client's own encoder would recurse as deep.
    const bytes = field(5, deepStruct(10_000));
    const error = await failure(
      new Promise((resolve, reject) =>
        h.permission.makeUnaryRequest(
          "/latch.v1.PermissionService/CheckPermission",
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          auth(),
          {},
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      ),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/context|deep|recursion/i);
    expect((await check(client, "view_plain")).state).toBe("ALLOWED");
  });

  it("answers each hostile bulk item with its own error", async () => {
    const hostile = {
      resource: "document:d",
      permission: "view_pairs",
      subject: "user:u",
      context: { xs: INTS.slice(0, 3000) },
    };
    const answer = await client.checkBulk({
      items: [hostile, { resource: "document:d", permission: "view_plain", subject: "user:u" }, hostile],
    });
    expect(answer.results[0]).toMatchObject({ ok: false, error: { code: "check/caveat-cost-exceeded" } });
    expect(answer.results[1]).toMatchObject({ ok: true, state: "ALLOWED" });
    expect(answer.results[2]).toMatchObject({ ok: false, error: { code: "check/caveat-cost-exceeded" } });
  });

  it("refuses a request whose contexts hold too many values in all, before decoding them", async () => {
    // 40 items of 9,000 values: each context is within its own limit, the request is not.
    const item = {
      resource: "document:d",
      permission: "view_pairs",
      subject: "user:u",
      context: { xs: INTS },
    };
    const error = await client.checkBulk({ items: Array.from({ length: 40 }, () => item) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ status: status.INVALID_ARGUMENT, code: "request/context-too-large" });
    expect((error as Error).message).toContain("10000 caveat context values in all");
    expect((await check(client, "view_plain")).state).toBe("ALLOWED");
  });
});
