/**
 * A server stream's message encoded a piece at a time (paced-encoding.ts) against protobuf-es:
 * the same bytes as toBinary where the list is the last field set (the exports), the same message
 * decoded back where it is not (latch.v1's Watch), and the pacer asked within a large message.
 */
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExportBulkRelationshipsResponseSchema } from "../../src/gen/authzed/api/v1/permission_service_pb.js";
import { WatchResponseSchema as AuthzedWatchResponseSchema } from "../../src/gen/authzed/api/v1/watch_service_pb.js";
import {
  ExportRelationshipsResponseSchema,
  WatchResponseSchema,
} from "../../src/gen/latch/v1/relationship_service_pb.js";
import { pacedEncoder } from "../../src/server/paced-encoding.js";
import { pacedMap, type StreamPacer } from "../../src/server/stream-pacing.js";

const text = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant("") },
);
const objectRef = fc.record({ objectType: text, objectId: text }, { requiredKeys: [] });
const relationship = fc.record(
  {
    resource: objectRef,
    relation: text,
    subject: fc.record({ object: objectRef, optionalRelation: text }, { requiredKeys: [] }),
    optionalCaveat: fc.record(
      {
        caveatName: text,
        context: fc.record({
          fields: fc.dictionary(
            text,
            fc.record({ kind: fc.constant({ case: "stringValue" as const, value: "v" }) }),
          ),
        }),
      },
      { requiredKeys: ["caveatName"] },
    ),
  },
  { requiredKeys: ["resource", "relation", "subject"] },
);
// Lists around the piece size (50) and past several pieces.
const list = <T>(item: fc.Arbitrary<T>) =>
  fc.oneof(fc.array(item, { maxLength: 60 }), fc.array(item, { minLength: 120, maxLength: 260 }));

/** A pacer that counts how often it is asked, and yields nothing. */
function countingPacer(): StreamPacer & { asked: number } {
  const pacer = {
    asked: 0,
    afterMessage() {
      pacer.asked++;
      return undefined;
    },
  };
  return pacer;
}

async function same(
  desc: DescMessage,
  init: MessageInitShape<DescMessage>,
  listLength: number,
  bytes: boolean,
) {
  const message = create(desc, init);
  const pacer = countingPacer();
  const paced = await pacedEncoder(desc)(message, pacer);
  if (bytes) expect(Buffer.from(paced).equals(Buffer.from(toBinary(desc, message)))).toBe(true);
  expect(equals(desc, fromBinary(desc, paced), message)).toBe(true);
  expect(pacer.asked).toBe(listLength > 50 ? Math.floor(listLength / 50) : 0);
}

describe("paced encoding of a server stream's message", () => {
  it("gives toBinary's bytes for latch.v1's and SpiceDB's exports", async () => {
    await fc.assert(
      fc.asyncProperty(list(relationship), text, async (relationships, token) => {
        await same(
          ExportRelationshipsResponseSchema,
          { readAt: { token }, relationships },
          relationships.length,
          true,
        );
        await same(
          ExportBulkRelationshipsResponseSchema,
          { afterResultCursor: { token }, relationships },
          relationships.length,
          true,
        );
      }),
      { numRuns: 60 },
    );
  });

  it("gives the same message where the list comes first (latch.v1's Watch)", async () => {
    const update = fc.record({ operation: fc.constantFrom(1, 2, 3), relationship });
    await fc.assert(
      fc.asyncProperty(list(update), text, fc.boolean(), async (updates, token, schemaUpdated) => {
        await same(
          WatchResponseSchema,
          { updates, changesThrough: { token }, schemaUpdated },
          updates.length,
          false,
        );
      }),
      { numRuns: 40 },
    );
  });

  it("gives the same message beside a list of Structs (SpiceDB's Watch), pacing the updates", async () => {
    const update = fc.record({ operation: fc.constantFrom(1, 2, 3), relationship });
    const metadata = fc.record({
      fields: fc.dictionary(
        text,
        fc.record({ kind: fc.constant({ case: "boolValue" as const, value: true }) }),
      ),
    });
    await fc.assert(
      fc.asyncProperty(
        list(update),
        fc.array(metadata, { maxLength: 30 }),
        text,
        async (updates, fullRevisionMetadata, token) => {
          await same(
            AuthzedWatchResponseSchema,
            { updates, fullRevisionMetadata, changesThrough: { token }, isCheckpoint: false },
            updates.length,
            false,
          );
        },
      ),
      { numRuns: 30 },
    );
  });

  it("converts a list a piece at a time (pacedMap)", async () => {
    const pacer = countingPacer();
    const items = Array.from({ length: 175 }, (_, k) => k);
    expect(await pacedMap(items, (k) => k * 2, pacer)).toEqual(items.map((k) => k * 2));
    expect(pacer.asked).toBe(3);
  });

  it("takes initializers as well as messages, and a message without its list", async () => {
    const encode = pacedEncoder(ExportRelationshipsResponseSchema);
    const relationships = Array.from({ length: 120 }, (_, k) => ({
      resource: { objectType: "document", objectId: `d${k}` },
      relation: "viewer",
      subject: { object: { objectType: "user", objectId: `u${k}` } },
    }));
    const init = { readAt: { token: "7" }, relationships };
    const expected = toBinary(
      ExportRelationshipsResponseSchema,
      create(ExportRelationshipsResponseSchema, init),
    );
    expect(Buffer.from(await encode(init, countingPacer())).equals(Buffer.from(expected))).toBe(true);
    const empty = await encode({ readAt: { token: "7" } }, countingPacer());
    expect(fromBinary(ExportRelationshipsResponseSchema, empty).relationships).toEqual([]);
  });
});
