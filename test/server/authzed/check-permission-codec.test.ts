/**
 * authzed.api.v1 CheckPermission's codec (latch.v1's hand codec under authzed's names) against
 * protobuf-es with authzed's schema: the same message for any request, for its bytes mangled and
 * for latch.v1-only fields (unknown to authzed); the same bytes for any response.
 */
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
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
import { itDecodesAsProtobufEs, sameDecodingAs } from "../codec-properties.js";

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

const expectSameDecoding = sameDecodingAs(CheckPermissionRequestSchema, decodeAuthzedCheckPermissionRequest);

describe("authzed CheckPermission request decoding", () => {
  itDecodesAsProtobufEs(CheckPermissionRequestSchema, request, expectSameDecoding);

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
