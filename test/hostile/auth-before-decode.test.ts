/**
 * Issue 23, finding 6 and 7a: the token is checked before a request's message is read or decoded,
 * and a malformed message is the caller's error (INVALID_ARGUMENT, `request/malformed`), not an
 * INTERNAL from grpc-js. Raw bytes go over a real grpc-js client to a real server.
 */

import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latestReader } from "../../src/store/index.js";
import { auth, type Harness, startHarness } from "../server/harness.js";

const CHECK = "/latch.v1.PermissionService/CheckPermission";
const WRITE_SCHEMA = "/latch.v1.SchemaService/WriteSchema";
const READ_RELATIONSHIPS = "/latch.v1.RelationshipService/ReadRelationships";
const IMPORT = "/latch.v1.RelationshipService/ImportRelationships";

const bytes = (b: Buffer) => b;

/** Bytes no protobuf decoder accepts: field 0 is invalid, and wire type 7 does not exist. */
function garbage(size: number): Buffer {
  return Buffer.alloc(size, 0xff);
}

interface Answer {
  readonly code: grpc.status;
  readonly details: string;
  readonly errorCode: string | undefined;
}

function answerOf(error: grpc.ServiceError | null): Answer {
  if (error === null) return { code: grpc.status.OK, details: "", errorCode: undefined };
  const errorCode = error.metadata?.get("latch-error-code")[0];
  return { code: error.code, details: error.details, errorCode: errorCode?.toString() };
}

function rawUnary(client: grpc.Client, path: string, body: Buffer, metadata: grpc.Metadata): Promise<Answer> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, bytes, bytes, body, metadata, (error) => resolve(answerOf(error)));
  });
}

function rawServerStream(
  client: grpc.Client,
  path: string,
  body: Buffer,
  metadata: grpc.Metadata,
): Promise<Answer> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, bytes, bytes, body, metadata);
    call.on("data", () => {});
    call.on("error", (error: grpc.ServiceError) => resolve(answerOf(error)));
    call.on("end", () => resolve(answerOf(null)));
  });
}

function rawClientStream(
  client: grpc.Client,
  path: string,
  messages: readonly Buffer[],
  metadata: grpc.Metadata,
): Promise<Answer> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(path, bytes, bytes, metadata, (error) =>
      resolve(answerOf(error)),
    );
    // The server may answer and close before everything is written.
    call.on("error", () => {});
    for (const m of messages) call.write(m);
    call.end();
  });
}

let h: Harness;
let client: grpc.Client;
const MAX_MESSAGE = 1024 * 1024;

beforeAll(async () => {
  h = await startHarness({ limits: { maxMessageBytes: MAX_MESSAGE } });
  await h.store.writeSchema("definition user {}\ndefinition document { relation viewer: user }");
  client = new grpc.Client(h.server.address, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": -1,
  });
});

afterAll(async () => {
  client.close();
  await h.close();
});

const noToken = () => new grpc.Metadata();

describe("a caller without a valid token", () => {
  it("gets UNAUTHENTICATED for a large malformed CheckPermission body: nothing was decoded", async () => {
    const answer = await rawUnary(client, CHECK, garbage(900 * 1024), noToken());
    expect(answer.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(answer.errorCode).toBe("auth/missing-token");
  });

  it("gets UNAUTHENTICATED with a wrong token, whatever the body", async () => {
    for (const path of [CHECK, WRITE_SCHEMA]) {
      const answer = await rawUnary(client, path, garbage(1000), auth("not-the-token-at-all"));
      expect(answer.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(answer.errorCode).toBe("auth/invalid-token");
    }
  });

  it("gets UNAUTHENTICATED for a body over the size limit: the message was never read", async () => {
    const answer = await rawUnary(client, CHECK, garbage(2 * MAX_MESSAGE), noToken());
    expect(answer.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it("gets UNAUTHENTICATED on a server stream and a client stream of garbage", async () => {
    const read = await rawServerStream(client, READ_RELATIONSHIPS, garbage(5000), noToken());
    expect(read.code).toBe(grpc.status.UNAUTHENTICATED);
    const imported = await rawClientStream(client, IMPORT, [garbage(5000), garbage(5000)], noToken());
    expect(imported.code).toBe(grpc.status.UNAUTHENTICATED);
  });
});

describe("a caller with a valid token and a malformed message", () => {
  it("gets INVALID_ARGUMENT request/malformed on CheckPermission (the hand-written codec's path)", async () => {
    const answer = await rawUnary(client, CHECK, garbage(64), auth());
    expect(answer.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(answer.errorCode).toBe("request/malformed");
    expect(answer.details).toContain("latch.v1.CheckPermissionRequest");
  });

  it("gets INVALID_ARGUMENT request/malformed for a truncated message", async () => {
    // Field 2 (resource), length 100, but only 3 bytes follow.
    const answer = await rawUnary(client, WRITE_SCHEMA, Buffer.from([0x0a, 100, 1, 2, 3]), auth());
    expect(answer.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(answer.errorCode).toBe("request/malformed");
  });

  it("gets INVALID_ARGUMENT request/malformed on a server stream", async () => {
    const answer = await rawServerStream(client, READ_RELATIONSHIPS, garbage(64), auth());
    expect(answer.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(answer.errorCode).toBe("request/malformed");
  });

  it("gets INVALID_ARGUMENT request/malformed on a client stream, and nothing is imported", async () => {
    const answer = await rawClientStream(client, IMPORT, [garbage(64)], auth());
    expect(answer.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(answer.errorCode).toBe("request/malformed");
    const stored = await (await latestReader(h.store)).readRelationships({ resourceType: "document" });
    expect(stored.relationships).toEqual([]);
  });

  it("still gets answers for well-formed messages", async () => {
    // An empty CheckPermissionRequest decodes; it then fails validation, as the caller's error.
    const answer = await rawUnary(client, CHECK, Buffer.alloc(0), auth());
    expect(answer.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(answer.errorCode).not.toBe("request/malformed");
  });
});
