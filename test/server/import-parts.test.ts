/**
 * An import's request message is decoded in parts (grpc-adapter.ts, wire-scan.ts `splitAtFields`)
 * so that one large message does not hold the server; these tests hold the parts to what the
 * whole message means: every relationship in order, one context budget for the message, and the
 * stream's bound on what is held until it commits.
 */
import { create, type JsonObject, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ImportRelationshipsRequestSchema } from "../../src/gen/latch/v1/relationship_service_pb.js";
import { latestReader } from "../../src/store/index.js";
import { auth, type Harness, startHarness } from "./harness.js";

const SCHEMA = `caveat small(n int, tags list<string>) { n < 10 && tags.size() < 5 }
definition user {}
definition document { relation viewer: user | user with small }`;

type Message = MessageInitShape<typeof ImportRelationshipsRequestSchema>;

function relationships(from: number, count: number, context?: (i: number) => JsonObject) {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return {
      resource: { objectType: "document", objectId: `doc-${i}` },
      relation: "viewer",
      subject: { object: { objectType: "user", objectId: `user-${i % 97}` } },
      ...(context === undefined ? {} : { optionalCaveat: { caveatName: "small", context: context(i) } }),
    };
  });
}

/** Sends each message as its own encoded bytes; resolves with the answer or the error. */
function importStream(h: Harness, messages: readonly Message[]) {
  const client = new grpc.Client(h.server.address, grpc.credentials.createInsecure());
  const bytes = (b: Buffer) => b;
  return new Promise<{ error: grpc.ServiceError | null; answer: Buffer | undefined }>((resolve) => {
    const call = client.makeClientStreamRequest(
      "/latch.v1.RelationshipService/ImportRelationships",
      bytes,
      bytes,
      auth(),
      (error, answer) => resolve({ error, answer }),
    );
    call.on("error", () => {});
    for (const m of messages) {
      call.write(
        Buffer.from(toBinary(ImportRelationshipsRequestSchema, create(ImportRelationshipsRequestSchema, m))),
      );
    }
    call.end();
  }).finally(() => client.close());
}

async function stored(h: Harness) {
  const read = await (await latestReader(h.store)).readRelationships(
    { resourceType: "document" },
    { limit: 100_000 },
  );
  return read.relationships;
}

describe("an import message decoded in parts", () => {
  let h: Harness;
  afterEach(() => h.close());

  it("imports every relationship of a large message with its context, as one message would", async () => {
    h = await startHarness();
    await h.store.writeSchema(SCHEMA);
    // About 70 bytes a relationship: several parts of 16 KiB.
    const big = relationships(0, 3_000, (i) => ({ n: i % 10, tags: [`t${i}`] }));
    const { error } = await importStream(h, [
      { relationships: big },
      { relationships: relationships(3_000, 5) },
    ]);
    expect(error).toBeNull();
    const rows = await stored(h);
    expect(rows).toHaveLength(3_005);
    const byId = new Map(rows.map((r) => [r.resource.id, r]));
    for (const i of [0, 1, 250, 1_499, 2_999]) {
      expect(byId.get(`doc-${i}`)?.caveat).toEqual({
        name: "small",
        context: { n: i % 10, tags: [`t${i}`] },
      });
      expect(byId.get(`doc-${i}`)?.subject.id).toBe(`user-${i % 97}`);
    }
    expect(byId.get("doc-3004")?.caveat).toBeUndefined();
  });

  it("holds the message's context values to one budget across its parts", async () => {
    h = await startHarness();
    await h.store.writeSchema(SCHEMA);
    // Four values a relationship (two keys, two list elements): 12,000 in the message, over the
    // 10,000 a request message may hold, though no part holds more than a few hundred.
    const big = relationships(0, 3_000, (i) => ({ n: 1, tags: [`a${i}`, "b"] }));
    const { error } = await importStream(h, [{ relationships: big }]);
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.metadata.get("latch-error-code")).toEqual(["request/context-too-large"]);
    expect(await stored(h)).toEqual([]);
  });

  it("refuses a bad relationship in a late part, writing nothing", async () => {
    h = await startHarness();
    await h.store.writeSchema(SCHEMA);
    const big = relationships(0, 3_000);
    big[2_800] = { ...big[2_800]!, relation: "owner" };
    const { error } = await importStream(h, [{ relationships: big }]);
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toContain("document:doc-2800#owner@user:user-84");
    expect(await stored(h)).toEqual([]);
  });
});

describe("an import stream's bound", () => {
  let h: Harness;
  afterEach(() => h.close());

  it("refuses a stream past the relationships it may hold until it commits, writing nothing", async () => {
    h = await startHarness({ limits: { maxImportRelationships: 2_500 } });
    await h.store.writeSchema(SCHEMA);
    const { error } = await importStream(h, [
      { relationships: relationships(0, 2_000) },
      { relationships: relationships(2_000, 1_000) },
    ]);
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error?.metadata.get("latch-error-code")).toEqual(["request/over-limit"]);
    expect(error?.details).toContain("at most 2500 relationships");
    expect(await stored(h)).toEqual([]);
  });

  it("takes a stream up to the bound, in messages of any size", async () => {
    h = await startHarness({ limits: { maxImportRelationships: 2_500 } });
    await h.store.writeSchema(SCHEMA);
    const { error } = await importStream(h, [{ relationships: relationships(0, 2_500) }]);
    expect(error).toBeNull();
    expect(await stored(h)).toHaveLength(2_500);
  });
});
