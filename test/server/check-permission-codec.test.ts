/**
 * The CheckPermission codec against protobuf-es: for generated messages, and for their bytes
 * mangled, it must decode to the same message (or fail where fromBinary fails) and encode to the
 * same bytes as toBinary.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CheckPermissionRequestSchema,
  CheckPermissionResponseSchema,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import {
  decodeCheckPermissionRequest,
  encodeCheckPermissionResponse,
} from "../../src/server/check-permission-codec.js";
import { useNodeTextEncoding } from "../../src/server/text-encoding.js";
import { itDecodesAsProtobufEs, sameDecodingAs } from "./codec-properties.js";

// As the server runs.
beforeAll(() => useNodeTextEncoding());

// Mostly names and ids as clients send them; sometimes any text, long text or nothing.
const text = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 120, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constant("") },
);

const objectRef = fc.record({ objectType: text, objectId: text }, { requiredKeys: [] });

const fastShaped = fc.record(
  {
    resource: objectRef,
    permission: text,
    subject: fc.record({ object: objectRef, optionalRelation: text }, { requiredKeys: [] }),
    withTracing: fc.boolean(),
  },
  { requiredKeys: [] },
);

// Fields the fast path leaves to protobuf-es.
const others = fc.record(
  {
    consistency: fc.constantFrom(
      { requirement: { case: "minimizeLatency" as const, value: true } },
      { requirement: { case: "atLeastAsFresh" as const, value: { token: "r1" } } },
    ),
    context: fc.constant({ ip: "10.0.0.1", n: 3 }),
    contextualRelationships: fc.constant([
      {
        resource: { objectType: "document", objectId: "d1" },
        relation: "viewer",
        subject: { object: { objectType: "user", objectId: "u1" } },
      },
    ]),
  },
  { requiredKeys: [] },
);

// Half of them only of fields the fast path reads.
const request: fc.Arbitrary<MessageInitShape<typeof CheckPermissionRequestSchema>> = fc
  .tuple(fastShaped, fc.boolean(), others)
  .map(([fast, withOthers, rest]) => (withOthers ? { ...fast, ...rest } : fast));

const expectSameDecoding = sameDecodingAs(CheckPermissionRequestSchema, decodeCheckPermissionRequest);

describe("CheckPermission request decoding", () => {
  itDecodesAsProtobufEs(CheckPermissionRequestSchema, request, expectSameDecoding);

  it("leaves repeated fields (merged or last-wins in protobuf) to protobuf-es", () => {
    const once = toBinary(
      CheckPermissionRequestSchema,
      create(CheckPermissionRequestSchema, {
        resource: { objectType: "document", objectId: "d1" },
        permission: "view",
        subject: { object: { objectType: "user", objectId: "u1" } },
      }),
    );
    const twice = Uint8Array.from([...once, ...once]);
    expectSameDecoding(twice);
    expect(decodeCheckPermissionRequest(Buffer.from(twice)).permission).toBe("view");
  });

  it("hands a request asking for a witness to protobuf-es, which reads it", () => {
    const bytes = toBinary(
      CheckPermissionRequestSchema,
      create(CheckPermissionRequestSchema, {
        resource: { objectType: "document", objectId: "d1" },
        permission: "view",
        subject: { object: { objectType: "user", objectId: "u1" } },
        withWitness: true,
      }),
    );
    expectSameDecoding(bytes);
    expect(decodeCheckPermissionRequest(Buffer.from(bytes)).withWitness).toBe(true);
  });

  it("reads names that repeat, change or are not ASCII as protobuf-es does, one request after another", () => {
    // The reader hands back the last string read for a field when the bytes spell it again: a
    // name of the same length, a name whose bytes are another string's char codes ("Ã©" read
    // as text is two chars, 0xC3 0xA9, the UTF-8 bytes of "é") and the empty name must not match.
    const names = [
      "document",
      "document",
      "folder",
      "document",
      "docu_ent",
      "Ã©",
      "é",
      "é",
      "",
      "view",
      "view",
    ];
    for (const name of names) {
      const bytes = toBinary(
        CheckPermissionRequestSchema,
        create(CheckPermissionRequestSchema, {
          resource: { objectType: name, objectId: "d1" },
          permission: name,
          subject: { object: { objectType: name, objectId: "u1" }, optionalRelation: name },
        }),
      );
      expectSameDecoding(bytes);
      const decoded = decodeCheckPermissionRequest(Buffer.from(bytes));
      expect([decoded.resource?.objectType, decoded.permission, decoded.subject?.optionalRelation]).toEqual([
        name,
        name,
        name,
      ]);
    }
  });

  it("reads a Uint8Array that is not a Buffer, at an offset", () => {
    const bytes = toBinary(
      CheckPermissionRequestSchema,
      create(CheckPermissionRequestSchema, { permission: "view", resource: { objectType: "doc" } }),
    );
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeCheckPermissionRequest(padded.subarray(3))).toStrictEqual(
      fromBinary(CheckPermissionRequestSchema, bytes),
    );
  });
});

const response: fc.Arbitrary<MessageInitShape<typeof CheckPermissionResponseSchema>> = fc
  .tuple(
    fc.record(
      {
        checkedAt: fc.record({ token: text }, { requiredKeys: [] }),
        permissionship: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 3) },
          { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
        ),
        partialCaveatInfo: fc.record({ missingRequiredContext: fc.array(text, { maxLength: 4 }) }),
      },
      { requiredKeys: [] },
    ),
    fc.option(
      fc
        .record({ label: text, permissionship: fc.constantFrom(1, 2, 3), cached: fc.boolean() })
        .map((node) => ({ nodes: [node, { ...node, parent: 1 }] })),
      { nil: undefined },
    ),
  )
  .map(([fields, debugTrace]) => (debugTrace === undefined ? fields : { ...fields, debugTrace }));

describe("CheckPermission response encoding", () => {
  it("gives the bytes toBinary gives for any response", () => {
    fc.assert(
      fc.property(response, (init) => {
        const message = create(CheckPermissionResponseSchema, init);
        const got = encodeCheckPermissionResponse(message);
        expect(Buffer.isBuffer(got)).toBe(true);
        expect(Buffer.from(got).equals(Buffer.from(toBinary(CheckPermissionResponseSchema, message)))).toBe(
          true,
        );
      }),
      { numRuns: 2000 },
    );
  });

  it("writes a witness as toBinary does", () => {
    const message = create(CheckPermissionResponseSchema, {
      permissionship: 2,
      checkedAt: { token: "t" },
      witness: ["doc:1#viewer@user:a[ip]"],
    });
    const got = Buffer.from(encodeCheckPermissionResponse(message));
    expect(got).toEqual(Buffer.from(toBinary(CheckPermissionResponseSchema, message)));
    expect(fromBinary(CheckPermissionResponseSchema, got).witness).toEqual(["doc:1#viewer@user:a[ip]"]);
  });

  it("writes unknown fields as toBinary does", () => {
    const message = create(CheckPermissionResponseSchema, { permissionship: 2, checkedAt: { token: "t" } });
    message.$unknown = [{ no: 9, wireType: 0, data: Uint8Array.of(5) }];
    expect(Buffer.from(encodeCheckPermissionResponse(message))).toEqual(
      Buffer.from(toBinary(CheckPermissionResponseSchema, message)),
    );
  });
});
