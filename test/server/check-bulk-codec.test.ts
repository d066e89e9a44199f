/**
 * The CheckBulkPermissions codec against protobuf-es: any request (and its bytes mangled) decodes to
 * what fromBinary gives (or fails where it fails), and any response, in particular one echoing the
 * items decoded from any such bytes (kept as received where the reader took them), encodes to the
 * bytes toBinary gives.
 */
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ObjectReferenceSchema,
  PartialCaveatInfoSchema,
  type RelationshipSchema,
  SubjectReferenceSchema,
  ZedTokenSchema,
} from "../../src/gen/latch/v1/core_pb.js";
import {
  CheckBulkPermissionsErrorSchema,
  CheckBulkPermissionsPairSchema,
  CheckBulkPermissionsRequestItemSchema,
  CheckBulkPermissionsRequestSchema,
  CheckBulkPermissionsResponseItemSchema,
  CheckBulkPermissionsResponseSchema,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import {
  BULK_TAGS,
  decodeCheckBulkPermissionsRequest,
  encodeCheckBulkPermissionsResponse,
} from "../../src/server/check-bulk-codec.js";
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
const subjectRef = fc.record({ object: objectRef, optionalRelation: text }, { requiredKeys: [] });

// Item fields the fast path leaves to protobuf-es.
const itemOthers = fc.record(
  {
    context: fc.constant({ ip: "10.0.0.1", n: 3 }),
    onBehalfOf: fc.array(subjectRef, { maxLength: 2 }),
    subjectGrants: fc.constantFrom(0, 1, 2),
    consumeApproval: fc.boolean(),
  },
  { requiredKeys: [] },
);

const item = fc
  .tuple(
    fc.record({ resource: objectRef, permission: text, subject: subjectRef }, { requiredKeys: [] }),
    fc.nat(5),
    itemOthers,
  )
  .map(([fast, pick, rest]) => (pick === 0 ? { ...fast, ...rest } : fast));

// Request fields the fast path leaves to protobuf-es.
const requestOthers = fc.record(
  {
    consistency: fc.constantFrom(
      { requirement: { case: "minimizeLatency" as const, value: true } },
      { requirement: { case: "atLeastAsFresh" as const, value: { token: "r1" } } },
    ),
    contextualRelationships: fc.constant<MessageInitShape<typeof RelationshipSchema>[]>([
      {
        resource: { objectType: "document", objectId: "d1" },
        relation: "viewer",
        subject: { object: { objectType: "user", objectId: "u1" } },
      },
    ]),
    actorToken: text,
  },
  { requiredKeys: [] },
);

const request: fc.Arbitrary<MessageInitShape<typeof CheckBulkPermissionsRequestSchema>> = fc
  .tuple(fc.array(item, { maxLength: 6 }), fc.nat(3), requestOthers)
  .map(([items, pick, rest]) => (pick === 0 ? { items, ...rest } : { items }));

const expectSameDecoding = sameDecodingAs(
  CheckBulkPermissionsRequestSchema,
  decodeCheckBulkPermissionsRequest,
);

describe("CheckBulkPermissions request decoding", () => {
  itDecodesAsProtobufEs(CheckBulkPermissionsRequestSchema, request, expectSameDecoding);

  it("reads names that repeat, change or are not ASCII as protobuf-es does, item after item", () => {
    // As in check-permission-codec.test.ts: "Ã©" as text is the char codes of the bytes of "é".
    const names = ["document", "document", "folder", "docu_ent", "Ã©", "é", "é", "", "view"];
    const items = names.map((name) => ({
      resource: { objectType: name, objectId: "d1" },
      permission: name,
      subject: { object: { objectType: name, objectId: "u1" }, optionalRelation: name },
    }));
    const bytes = toBinary(
      CheckBulkPermissionsRequestSchema,
      create(CheckBulkPermissionsRequestSchema, { items }),
    );
    expectSameDecoding(bytes);
    for (const name of names) {
      const one = toBinary(
        CheckBulkPermissionsRequestSchema,
        create(CheckBulkPermissionsRequestSchema, { items: [items[names.indexOf(name)]!] }),
      );
      expect(decodeCheckBulkPermissionsRequest(Buffer.from(one)).items[0]?.permission).toBe(name);
    }
  });

  it("reads a Uint8Array that is not a Buffer, at an offset", () => {
    const bytes = toBinary(
      CheckBulkPermissionsRequestSchema,
      create(CheckBulkPermissionsRequestSchema, {
        items: [{ permission: "view", resource: { objectType: "doc", objectId: "1" } }],
      }),
    );
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeCheckBulkPermissionsRequest(padded.subarray(3))).toStrictEqual(
      fromBinary(CheckBulkPermissionsRequestSchema, bytes),
    );
  });
});

const answer = fc.oneof(
  fc.record(
    {
      case: fc.constant("item" as const),
      value: fc.record(
        {
          permissionship: fc.oneof(
            { weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 3) },
            { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
          ),
          partialCaveatInfo: fc.record({ missingRequiredContext: fc.array(text, { maxLength: 3 }) }),
          approvalRule: text,
          approvalId: text,
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["case", "value"] },
  ),
  fc.record({
    case: fc.constant("error" as const),
    value: fc.record(
      {
        statusCode: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(0, 3, 5) },
          { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
        ),
        errorCode: text,
        message: text,
      },
      { requiredKeys: [] },
    ),
  }),
  fc.constant({ case: undefined }),
);

function expectSameEncoding(message: MessageShape<typeof CheckBulkPermissionsResponseSchema>): void {
  const got = encodeCheckBulkPermissionsResponse(message);
  expect(Buffer.isBuffer(got)).toBe(true);
  expect(Buffer.from(got).toString("hex")).toBe(
    Buffer.from(toBinary(CheckBulkPermissionsResponseSchema, message)).toString("hex"),
  );
}

/** A response echoing the items of `bytes` as the server decodes them, one answer each. */
function echoing(
  decoded: MessageShape<typeof CheckBulkPermissionsRequestSchema>,
  answers: readonly unknown[],
  token: string | undefined,
) {
  return create(CheckBulkPermissionsResponseSchema, {
    ...(token === undefined ? {} : { checkedAt: { token } }),
    pairs: decoded.items.map((request, i) =>
      create(CheckBulkPermissionsPairSchema, {
        request,
        response: answers[i % Math.max(1, answers.length)] as never,
      }),
    ),
  });
}

describe("CheckBulkPermissions response encoding", () => {
  it("gives the bytes toBinary gives for a response echoing any decoded request", () => {
    fc.assert(
      fc.property(
        request,
        fc.array(answer, { minLength: 1, maxLength: 4 }),
        fc.option(text),
        (init, answers, token) => {
          const bytes = toBinary(
            CheckBulkPermissionsRequestSchema,
            create(CheckBulkPermissionsRequestSchema, init),
          );
          const decoded = decodeCheckBulkPermissionsRequest(Buffer.from(bytes));
          expectSameEncoding(echoing(decoded, answers, token ?? undefined));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("gives the bytes toBinary gives when echoing items decoded from mangled bytes", () => {
    const edits = fc.array(
      fc.oneof(
        fc.record({
          kind: fc.constant("set" as const),
          at: fc.nat(),
          byte: fc.integer({ min: 0, max: 255 }),
        }),
        fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ maxLength: 8 }) }),
      ),
      { minLength: 1, maxLength: 3 },
    );
    let decodedSome = 0;
    fc.assert(
      fc.property(request, edits, answer, (init, list, one) => {
        let bytes = toBinary(
          CheckBulkPermissionsRequestSchema,
          create(CheckBulkPermissionsRequestSchema, init),
        );
        for (const e of list) {
          if (e.kind === "append") bytes = Uint8Array.from([...bytes, ...e.bytes]);
          else if (bytes.length > 0) {
            bytes = bytes.slice();
            bytes[e.at % bytes.length] = e.byte;
          }
        }
        let decoded: MessageShape<typeof CheckBulkPermissionsRequestSchema>;
        try {
          decoded = decodeCheckBulkPermissionsRequest(Buffer.from(bytes));
        } catch {
          return;
        }
        decodedSome++;
        expectSameEncoding(echoing(decoded, [one], "t"));
      }),
      { numRuns: 3000 },
    );
    expect(decodedSome).toBeGreaterThan(100);
  });

  it("writes items it did not decode, and unknown fields, as toBinary does", () => {
    const pair = create(CheckBulkPermissionsPairSchema, {
      request: { permission: "view", resource: { objectType: "doc", objectId: "1" } },
      response: { case: "item", value: { permissionship: 2 } },
    });
    expectSameEncoding(
      create(CheckBulkPermissionsResponseSchema, { checkedAt: { token: "t" }, pairs: [pair] }),
    );
    const withUnknown = create(CheckBulkPermissionsResponseSchema, { checkedAt: { token: "t" } });
    withUnknown.$unknown = [{ no: 9, wireType: 0, data: Uint8Array.of(5) }];
    expectSameEncoding(withUnknown);
  });

  it("names each tag as the descriptors do", () => {
    const tag = (schema: DescMessage, name: string) => {
      const field = schema.fields.find((f) => f.localName === name)!;
      const varint =
        field.fieldKind === "enum" || (field.fieldKind === "scalar" && field.scalar !== ScalarType.STRING);
      const wire = varint ? 0 : 2;
      return (field.number << 3) | wire;
    };
    expect(BULK_TAGS).toEqual({
      requestItems: tag(CheckBulkPermissionsRequestSchema, "items"),
      itemResource: tag(CheckBulkPermissionsRequestItemSchema, "resource"),
      itemPermission: tag(CheckBulkPermissionsRequestItemSchema, "permission"),
      itemSubject: tag(CheckBulkPermissionsRequestItemSchema, "subject"),
      objectType: tag(ObjectReferenceSchema, "objectType"),
      objectId: tag(ObjectReferenceSchema, "objectId"),
      subjectObject: tag(SubjectReferenceSchema, "object"),
      subjectRelation: tag(SubjectReferenceSchema, "optionalRelation"),
      responseCheckedAt: tag(CheckBulkPermissionsResponseSchema, "checkedAt"),
      responsePairs: tag(CheckBulkPermissionsResponseSchema, "pairs"),
      tokenToken: tag(ZedTokenSchema, "token"),
      pairRequest: tag(CheckBulkPermissionsPairSchema, "request"),
      pairItem: tag(CheckBulkPermissionsPairSchema, "item"),
      pairError: tag(CheckBulkPermissionsPairSchema, "error"),
      itemPermissionship: tag(CheckBulkPermissionsResponseItemSchema, "permissionship"),
      itemPartialCaveatInfo: tag(CheckBulkPermissionsResponseItemSchema, "partialCaveatInfo"),
      itemApprovalRule: tag(CheckBulkPermissionsResponseItemSchema, "approvalRule"),
      itemApprovalId: tag(CheckBulkPermissionsResponseItemSchema, "approvalId"),
      missingContext: tag(PartialCaveatInfoSchema, "missingRequiredContext"),
      errorStatusCode: tag(CheckBulkPermissionsErrorSchema, "statusCode"),
      errorCode: tag(CheckBulkPermissionsErrorSchema, "errorCode"),
      errorMessage: tag(CheckBulkPermissionsErrorSchema, "message"),
    });
  });
});
