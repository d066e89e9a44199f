/**
 * Issue 23, finding 2: an error built from a huge input (a 1 MiB type name, a 300-error schema)
 * must still arrive as a proper status with a bounded message, and must not break the HTTP/2
 * connection it travelled on. Before the fix, names were echoed unclipped into grpc-message and
 * the `latch-error-details-bin` trailer; past ~64 KiB (Node's default maxHeaderListSize) the
 * client never saw the status (DEADLINE_EXCEEDED) and later calls on the connection failed too.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type LatchClient, RemoteError } from "../../src/client/index.js";
import { LatchError } from "../../src/core/index.js";
import { WriteSchemaRequestSchema } from "../../src/gen/latch/v1/schema_service_pb.js";
import { RELATIONSHIPS, SCHEMA } from "../client/fixtures.js";
import { auth, failure, type Harness, startHarness, TOKEN, unary } from "../server/harness.js";

const MIB = 1024 * 1024;
/** A name that matches the name pattern, so that it travels past wire validation. */
const HUGE = "a".repeat(MIB);
/** What every clipped echo of HUGE says about its length. */
const LENGTH_NOTE = `(${MIB} characters)`;
/** The server's budget for grpc-message, plus room for the client's own additions. */
const MAX_MESSAGE = 4096 + 256;
const MAX_DETAILS_JSON = 8192;

describe("errors built from huge input arrive bounded, and the connection survives", () => {
  let h: Harness;
  let client: LatchClient;

  beforeAll(async () => {
    h = await startHarness();
    // A short deadline so that a status that never arrives fails fast instead of after 30 s.
    client = createClient({ address: h.server.address, token: TOKEN, timeoutMs: 5000, maxAttempts: 1 });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
  });

  afterAll(async () => {
    await client.close();
    await h.close();
  });

  async function rejection(promise: Promise<unknown>): Promise<RemoteError> {
    try {
      await promise;
    } catch (error) {
      expect(error).toBeInstanceOf(RemoteError);
      return error as RemoteError;
    }
    throw new Error("expected the call to fail");
  }

  /** The same client, so the same HTTP/2 connection, still answers a cheap call. */
  async function stillServing(): Promise<void> {
    const answer = await client.check({ resource: "document:memo", permission: "view", subject: "user:bob" });
    expect(answer.state).toBe("ALLOWED");
  }

  function expectBounded(error: RemoteError, grpcStatus: status, code: string, ...mentions: string[]): void {
    expect(error.status, error.message.slice(0, 300)).toBe(grpcStatus);
    expect(error.code).toBe(code);
    expect(error.message.length).toBeLessThanOrEqual(MAX_MESSAGE);
    for (const text of mentions) expect(error.message).toContain(text);
    const { requestId: _, ...details } = error.details;
    expect(JSON.stringify(details).length).toBeLessThanOrEqual(MAX_DETAILS_JSON);
  }

  it("a 1 MiB resource type", async () => {
    const error = await rejection(
      client.check({ resource: { type: HUGE, id: "x" }, permission: "view", subject: "user:bob" }),
    );
    expectBounded(
      error,
      status.INVALID_ARGUMENT,
      "request/invalid-argument",
      "not a valid type name",
      LENGTH_NOTE,
    );
    await stillServing();
  });

  it("a 1 MiB permission", async () => {
    const error = await rejection(
      client.check({ resource: "document:memo", permission: HUGE, subject: "user:bob" }),
    );
    expectBounded(
      error,
      status.INVALID_ARGUMENT,
      "request/invalid-argument",
      "not a valid permission name",
      LENGTH_NOTE,
    );
    await stillServing();
  });

  it("a 1 MiB subject type", async () => {
    const error = await rejection(
      client.check({ resource: "document:memo", permission: "view", subject: { type: HUGE, id: "bob" } }),
    );
    expectBounded(
      error,
      status.INVALID_ARGUMENT,
      "request/invalid-argument",
      "not a valid type name",
      LENGTH_NOTE,
    );
    await stillServing();
  });

  it("a 1 MiB relation in a write", async () => {
    const relationship = {
      resource: { type: "document", id: "x" },
      relation: HUGE,
      subject: { type: "user", id: "bob" },
    };
    const error = await rejection(
      client.writeRelationships({ updates: [{ operation: "touch", relationship }] }),
    );
    expectBounded(
      error,
      status.INVALID_ARGUMENT,
      "request/invalid-argument",
      "not a valid relation name",
      LENGTH_NOTE,
    );
    await stillServing();
  });

  it("a 1 MiB relation that is not even a name", async () => {
    const relationship = {
      resource: { type: "document", id: "x" },
      relation: "A".repeat(MIB),
      subject: { type: "user", id: "bob" },
    };
    const error = await rejection(
      client.writeRelationships({ updates: [{ operation: "touch", relationship }] }),
    );
    expectBounded(error, status.INVALID_ARGUMENT, "request/invalid-argument", "relation", LENGTH_NOTE);
    await stillServing();
  });

  it("a 1 MiB caveat name in a relationship string", async () => {
    const error = await rejection(
      client.writeRelationships({
        updates: [{ operation: "touch", relationship: `document:secret#viewer@user:dave[${HUGE}]` }],
      }),
    );
    expectBounded(error, status.INVALID_ARGUMENT, "request/invalid-argument", "caveat", LENGTH_NOTE);
    await stillServing();
  });

  it("a 1 MiB context key in a relationship's caveat", async () => {
    const relationship = {
      resource: { type: "document", id: "secret" },
      relation: "viewer",
      subject: { type: "user", id: "dave" },
      caveat: { name: "max_level", context: { [HUGE]: 1 } },
    };
    const error = await rejection(
      client.writeRelationships({ updates: [{ operation: "touch", relationship }] }),
    );
    expectBounded(
      error,
      status.INVALID_ARGUMENT,
      "relationship/context-too-large",
      "context",
      "1048576 characters long",
    );
    await stillServing();
  });

  it("a 1 MiB context key in a check", async () => {
    const error = await rejection(
      client.check({
        resource: "document:secret",
        permission: "view",
        subject: "user:carol",
        context: { [HUGE]: 1, level: "high" },
      }),
    );
    expect(error.status).toBe(status.INVALID_ARGUMENT);
    expect(error.message.length).toBeLessThanOrEqual(MAX_MESSAGE);
    await stillServing();
  });

  it("a 1 MiB type in a precondition", async () => {
    const error = await rejection(
      client.writeRelationships({
        updates: [{ operation: "touch", relationship: "document:memo#viewer@user:erin" }],
        preconditions: [{ operation: "must-match", filter: { resourceType: HUGE } }],
      }),
    );
    expectBounded(
      error,
      status.INVALID_ARGUMENT,
      "request/invalid-argument",
      "not a valid type name",
      LENGTH_NOTE,
    );
    await stillServing();
  });

  it("a relationship string too malformed to send stays bounded on the client", async () => {
    let local: unknown;
    try {
      await client.writeRelationships({
        updates: [{ operation: "touch", relationship: `document:secret#viewer@user:dave[${HUGE}` }],
      });
    } catch (error) {
      local = error;
    }
    expect(local).toBeInstanceOf(LatchError);
    expect((local as LatchError).message.length).toBeLessThanOrEqual(MAX_MESSAGE);
    expect(JSON.stringify((local as LatchError).details).length).toBeLessThanOrEqual(MAX_DETAILS_JSON);
    await stillServing();
  });

  it("a schema with 300 errors: the first diagnostics, and the count of all", async () => {
    const lines = ["definition user {}", "definition doc {"];
    for (let i = 0; i < 300; i++) lines.push(`  relation rel_${i}: missing_type_${i}`);
    lines.push("}");
    const error = await rejection(client.writeSchema(lines.join("\n")));
    expectBounded(error, status.INVALID_ARGUMENT, "schema/invalid", "missing_type_0", "299 more");
    const diagnostics = error.details.diagnostics as { line: number; code: string; message: string }[];
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(diagnostics.length).toBeLessThanOrEqual(20);
    expect(diagnostics[0]).toMatchObject({ line: 3, code: "schema/unknown-type" });
    expect(error.details.diagnosticCount).toBe(300);
    expect(error.details.truncated).toBe(true);
    await stillServing();
  });

  it("a schema whose one error sits on a 900 KB line", async () => {
    const error = await rejection(
      client.writeSchema(`definition user {}\ndefinition doc { relation r: ${"b".repeat(900_000)} }`),
    );
    expectBounded(error, status.INVALID_ARGUMENT, "schema/invalid", "900000 characters");
    await stillServing();
  });

  it("a schema that would orphan 400 relations", async () => {
    const relations = Array.from({ length: 400 }, (_, i) => `relation r${i}_${"x".repeat(50)}: user`);
    await client.writeSchema(`${SCHEMA}\ndefinition wide {\n  ${relations.join("\n  ")}\n}\n`);
    await client.writeRelationships({
      updates: relations.map((_, i) => ({
        operation: "touch" as const,
        relationship: `wide:w#r${i}_${"x".repeat(50)}@user:bob`,
      })),
    });
    const error = await rejection(client.writeSchema(SCHEMA));
    expectBounded(error, status.FAILED_PRECONDITION, "schema/would-orphan", "400 stored relationship");
    await stillServing();
  });

  it("the raw grpc-js client sees the same bounded status, then calls again on its connection", async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `definition d${i} { relation r: nope_${i} }`);
    const error = await failure(
      unary(h.schema, "writeSchema", WriteSchemaRequestSchema, { schema: lines.join("\n") }, auth(), {
        deadline: Date.now() + 5000,
      }),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details.length).toBeLessThanOrEqual(4096);
    const raw = error.metadata.get("latch-error-details-bin")[0] as Buffer;
    expect(raw.length).toBeLessThanOrEqual(MAX_DETAILS_JSON);
    const again = await failure(
      unary(h.schema, "writeSchema", WriteSchemaRequestSchema, { schema: "definition x {" }, auth(), {
        deadline: Date.now() + 5000,
      }),
    );
    expect(again.code).toBe(status.INVALID_ARGUMENT);
  });
});
