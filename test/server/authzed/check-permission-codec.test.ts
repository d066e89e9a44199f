/**
 * authzed.api.v1 CheckPermission's codec (latch.v1's hand codec under authzed's names) against
 * protobuf-es with authzed's schema: the same message for any request, for its bytes mangled and
 * for latch.v1-only fields (unknown to authzed); the same bytes for any response.
 */
import { create, equals, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CheckPermissionRequestSchema,
  CheckPermissionResponseSchema,
} from "../../../src/gen/authzed/api/v1/permission_service_pb.js";
import * as latch from "../../../src/gen/latch/v1/permission_service_pb.js";
import {
  decodeAuthzedCheckPermissionRequest,
  encodeAuthzedCheckPermissionResponse,
} from "../../../src/server/authzed/check-permission-codec.js";
import { useNodeTextEncoding } from "../../../src/server/text-encoding.js";

beforeAll(() => useNodeTextEncoding());

const text = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 120, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constant("") },
);
const objectRef = fc.record({ objectType: text, objectId: text }, { requiredKeys: [] });

const request: fc.Arbitrary<MessageInitShape<typeof CheckPermissionRequestSchema>> = fc.record(
  {
    consistency: fc.constantFrom(
      { requirement: { case: "minimizeLatency" as const, value: true } },
      { requirement: { case: "atLeastAsFresh" as const, value: { token: "r1" } } },
    ),
    resource: objectRef,
    permission: text,
    subject: fc.record({ object: objectRef, optionalRelation: text }, { requiredKeys: [] }),
    context: fc.constantFrom({ ip: "10.0.0.1", n: 3 }, { nested: { list: [1, "a", null, true] } }),
    withTracing: fc.boolean(),
  },
  { requiredKeys: [] },
);

function expectSameDecoding(bytes: Uint8Array) {
  let expected: unknown;
  try {
    expected = fromBinary(CheckPermissionRequestSchema, Buffer.from(bytes));
  } catch {
    expect(() => decodeAuthzedCheckPermissionRequest(Buffer.from(bytes))).toThrow();
    return;
  }
  const got = decodeAuthzedCheckPermissionRequest(Buffer.from(bytes));
  expect(got).toStrictEqual(expected);
  expect(equals(CheckPermissionRequestSchema, got, expected as never)).toBe(true);
}

describe("authzed CheckPermission request decoding", () => {
  it("gives what fromBinary gives for any request", () => {
    fc.assert(
      fc.property(request, (init) => {
        expectSameDecoding(
          toBinary(CheckPermissionRequestSchema, create(CheckPermissionRequestSchema, init)),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it("gives what fromBinary gives, or fails where it fails, on mangled bytes", () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({
        kind: fc.constant("append" as const),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
    );
    fc.assert(
      fc.property(request, fc.array(edit, { minLength: 1, maxLength: 3 }), (init, edits) => {
        let bytes = toBinary(CheckPermissionRequestSchema, create(CheckPermissionRequestSchema, init));
        for (const e of edits) {
          if (e.kind === "truncate") bytes = bytes.slice(0, e.at % (bytes.length + 1));
          else if (e.kind === "append") bytes = Uint8Array.from([...bytes, ...e.bytes]);
          else if (bytes.length > 0) {
            bytes = bytes.slice();
            bytes[e.at % bytes.length] = e.byte;
          }
        }
        expectSameDecoding(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps latch.v1's own fields (contextual relationships, chains, actor tokens) as unknown fields", () => {
    const bytes = toBinary(
      latch.CheckPermissionRequestSchema,
      create(latch.CheckPermissionRequestSchema, {
        resource: { objectType: "document", objectId: "d1" },
        permission: "view",
        subject: { object: { objectType: "user", objectId: "u1" } },
        contextualRelationships: [
          {
            resource: { objectType: "document", objectId: "d1" },
            relation: "viewer",
            subject: { object: { objectType: "user", objectId: "u1" } },
          },
        ],
        onBehalfOf: [{ object: { objectType: "user", objectId: "boss" } }],
        actorToken: "jwt",
      }),
    );
    expectSameDecoding(bytes);
    expect(decodeAuthzedCheckPermissionRequest(Buffer.from(bytes)).$unknown?.length).toBe(3);
  });
});

describe("authzed CheckPermission response encoding", () => {
  const response: fc.Arbitrary<MessageInitShape<typeof CheckPermissionResponseSchema>> = fc.record(
    {
      checkedAt: fc.record({ token: text }, { requiredKeys: [] }),
      permissionship: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 3) },
        { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
      ),
      partialCaveatInfo: fc.record({ missingRequiredContext: fc.array(text, { maxLength: 4 }) }),
      debugTrace: fc.constant({ schemaUsed: "definition user {}", check: { permission: "view", result: 2 } }),
      optionalExpiresAt: fc.constant({ seconds: 1_900_000_000n, nanos: 5 }),
    },
    { requiredKeys: [] },
  );

  it("gives the bytes toBinary gives for any response", () => {
    fc.assert(
      fc.property(response, (init) => {
        const message = create(CheckPermissionResponseSchema, init);
        const got = encodeAuthzedCheckPermissionResponse(message);
        expect(Buffer.isBuffer(got)).toBe(true);
        expect(Buffer.from(got).equals(Buffer.from(toBinary(CheckPermissionResponseSchema, message)))).toBe(
          true,
        );
      }),
      { numRuns: 2000 },
    );
  });
});
