import { create, fromBinary, type JsonObject, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { measureContext } from "../../src/core/index.js";
import { CheckBulkPermissionsRequestSchema } from "../../src/gen/latch/v1/permission_service_pb.js";
import {
  ImportRelationshipsRequestSchema,
  WriteRelationshipsRequestSchema,
} from "../../src/gen/latch/v1/relationship_service_pb.js";
import { countContextValues, splitAtFields } from "../../src/server/wire-scan.js";

/** Object keys plus list elements at every level: what the context limits count. */
function valuesIn(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + 1 + valuesIn(v), 0);
  if (typeof value === "object" && value !== null)
    return Object.values(value).reduce((n: number, v) => n + 1 + valuesIn(v), 0);
  return 0;
}

// protobuf-es's `create` drops a `__proto__` key, so a context holding one would count one less.
const key = fc.string().filter((k) => k !== "__proto__");

const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  ),
  context: fc.dictionary(key, tie("value"), { maxKeys: 5 }),
}));

describe("countContextValues", () => {
  it("counts what the context limits count, across every item, without decoding", () => {
    fc.assert(
      fc.property(fc.array(json.context, { maxLength: 4 }), (contexts) => {
        const items = contexts.map((context, i) => ({
          resource: { objectType: "document", objectId: `d${i}` },
          permission: "view",
          subject: { object: { objectType: "user", objectId: "alice" } },
          context: context as JsonObject,
        }));
        const bytes = toBinary(
          CheckBulkPermissionsRequestSchema,
          create(CheckBulkPermissionsRequestSchema, { items }),
        );
        const expected = contexts.reduce((n, c) => n + valuesIn(c), 0);
        expect(countContextValues(CheckBulkPermissionsRequestSchema, bytes, 1e9)).toBe(expected);
        for (const c of contexts)
          expect(
            measureContext(c, { maxValues: valuesIn(c), maxDepth: 100, maxStringLength: 1e9 }),
          ).toBeUndefined();
      }),
    );
  });

  it("stops counting past the budget", () => {
    const context = { xs: Array.from({ length: 1000 }, (_, i) => i) };
    const bytes = toBinary(
      WriteRelationshipsRequestSchema,
      create(WriteRelationshipsRequestSchema, {
        updates: [
          {
            relationship: {
              resource: { objectType: "document", objectId: "d" },
              relation: "viewer",
              subject: { object: { objectType: "user", objectId: "u" } },
              optionalCaveat: { caveatName: "c", context },
            },
          },
        ],
      }),
    );
    expect(countContextValues(WriteRelationshipsRequestSchema, bytes, 1e9)).toBe(1001);
    expect(countContextValues(WriteRelationshipsRequestSchema, bytes, 10)).toBe(11);
  });

  it("ends early on malformed bytes, leaving the verdict to the decoder", () => {
    for (const bytes of [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x22, 0x7f], [0x0b]]) {
      expect(countContextValues(CheckBulkPermissionsRequestSchema, Uint8Array.from(bytes), 10)).toBe(0);
    }
  });
});

describe("splitAtFields", () => {
  const relationship = fc.record({
    id: fc.string({ minLength: 1, maxLength: 40 }),
    user: fc.string({ minLength: 1, maxLength: 300 }),
    context: fc.option(json.context, { nil: undefined }),
  });

  it("cuts a message into messages whose decoded lists, joined, are the message's", () => {
    fc.assert(
      fc.property(
        fc.array(relationship, { maxLength: 60 }),
        fc.integer({ min: 1, max: 2_000 }),
        (rs, partBytes) => {
          const whole = create(ImportRelationshipsRequestSchema, {
            relationships: rs.map((r) => ({
              resource: { objectType: "document", objectId: r.id },
              relation: "viewer",
              subject: { object: { objectType: "user", objectId: r.user } },
              ...(r.context === undefined
                ? {}
                : { optionalCaveat: { caveatName: "c", context: r.context as JsonObject } }),
            })),
          });
          const bytes = Buffer.from(toBinary(ImportRelationshipsRequestSchema, whole));
          const parts = splitAtFields(bytes, partBytes)!;
          expect(Buffer.concat(parts)).toEqual(bytes);
          // Each part holds whole fields, reaching its size only with its last one.
          for (const part of parts.slice(0, -1)) expect(part.length).toBeGreaterThanOrEqual(partBytes);
          const joined = parts.flatMap(
            (part) => fromBinary(ImportRelationshipsRequestSchema, part).relationships,
          );
          expect(joined).toEqual(fromBinary(ImportRelationshipsRequestSchema, bytes).relationships);
        },
      ),
    );
  });

  it("leaves anything but whole length-delimited fields to the decoder", () => {
    for (const bytes of [
      [0x0a, 0x05, 0x01], // cut short
      [0x08, 0x01], // a varint field
      [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // a length past 2^35
      [0x82, 0x01, 0x00], // a field number past 15
    ]) {
      expect(splitAtFields(Buffer.from(bytes), 1)).toBeUndefined();
    }
    expect(splitAtFields(Buffer.alloc(0), 1)).toEqual([]);
  });
});
