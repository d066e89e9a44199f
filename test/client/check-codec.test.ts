/**
 * The client's hand-written Check codec against protobuf-es, on random messages: requests encode to
 * the bytes `toBinary(create(...))` gives (and decode back equal), responses decode to what
 * `fromBinary(..., { readUnknownFields: false })` gives, unknown fields, long and negative varints,
 * long strings and any UTF-8 included; mangled response bytes decode the same or fail alike.
 */
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  decodeCheckBulkResponse,
  decodeCheckResponse,
  encodeCheckBulkRequest,
  encodeCheckRequest,
  frameOf,
} from "../../src/client/check-codec.js";
import {
  CheckBulkPermissionsRequestSchema,
  CheckBulkPermissionsResponseSchema,
  CheckPermissionRequestSchema,
  CheckPermissionResponseSchema,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { useNodeTextEncoding } from "../../src/server/text-encoding.js";

// As the client runs.
beforeAll(() => useNodeTextEncoding());

// Names and ids as clients send them, and sometimes any text, long text (lengths past one
// varint byte) or nothing.
const text = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 40, maxLength: 90 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 120, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constant("") },
);
// Enum and int32 values: known ones, and any int32 (negative ones are ten varint bytes).
const int32 = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));

/** Unknown fields of every wire type, numbers past the one-byte tags, varints up to 64 bits. */
const unknown = fc.oneof(
  fc.record({
    no: fc.integer({ min: 16, max: 2 ** 29 - 1 }),
    wireType: fc.constant(0),
    data: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => {
      const out: number[] = [];
      while (v > 0x7fn) {
        out.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      out.push(Number(v));
      return Uint8Array.from(out);
    }),
  }),
  fc.record({
    no: fc.integer({ min: 16, max: 5000 }),
    wireType: fc.constant(2),
    // A packed-looking run of varints is only bytes to a reader that does not know the field.
    data: fc.uint8Array({ maxLength: 200 }).map((b) => {
      const len = b.length < 0x80 ? [b.length] : [(b.length & 0x7f) | 0x80, b.length >> 7];
      return Uint8Array.from([...len, ...b]);
    }),
  }),
  fc.record({
    no: fc.integer({ min: 16, max: 5000 }),
    wireType: fc.constant(1),
    data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
  fc.record({
    no: fc.integer({ min: 16, max: 5000 }),
    wireType: fc.constant(5),
    data: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  }),
);
const unknowns = fc.option(fc.array(unknown, { minLength: 1, maxLength: 3 }), { nil: undefined });
const withUnknown = <T extends object>(arb: fc.Arbitrary<T>) =>
  fc.tuple(arb, unknowns).map(([m, u]) => (u === undefined ? m : { ...m, $unknown: u }));

const objectRef = fc.record({ objectType: text, objectId: text }, { requiredKeys: [] });
const subjectRef = fc.record({ object: objectRef, optionalRelation: text }, { requiredKeys: [] });
const consistency = fc.oneof(
  fc.constant({}),
  fc.boolean().map((value) => ({ requirement: { case: "minimizeLatency" as const, value } })),
  fc.boolean().map((value) => ({ requirement: { case: "fullyConsistent" as const, value } })),
  text.map((token) => ({ requirement: { case: "atLeastAsFresh" as const, value: { token } } })),
  text.map((token) => ({ requirement: { case: "atExactSnapshot" as const, value: { token } } })),
);
// What the hand-written writer leaves to protobuf-es: a context, contextual relationships.
const rare = fc.record(
  {
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

const checkRequest = fc
  .tuple(
    fc.record(
      {
        consistency,
        resource: objectRef,
        permission: text,
        subject: subjectRef,
        withTracing: fc.boolean(),
        onBehalfOf: fc.array(subjectRef, { maxLength: 3 }),
        subjectGrants: int32,
        actorToken: text,
        consumeApproval: fc.boolean(),
        withWitness: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    fc.option(rare, { nil: undefined, freq: 8 }),
  )
  .map(([m, r]) => ({ ...m, ...r }) as unknown as MessageInitShape<typeof CheckPermissionRequestSchema>);

const bulkItem = fc.record(
  {
    resource: objectRef,
    permission: text,
    subject: subjectRef,
    onBehalfOf: fc.array(subjectRef, { maxLength: 2 }),
    subjectGrants: int32,
    consumeApproval: fc.boolean(),
  },
  { requiredKeys: [] },
);
const bulkRequest = fc
  .tuple(
    fc.record(
      { consistency, items: fc.array(bulkItem, { maxLength: 20 }), actorToken: text },
      { requiredKeys: [] },
    ),
    fc.option(
      fc.constantFrom(
        { context: { a: true } },
        { contextualRelationships: [{ relation: "viewer", resource: { objectType: "d", objectId: "1" } }] },
      ),
      { nil: undefined, freq: 8 },
    ),
  )
  .map(([m, r]) => {
    if (r !== undefined && "context" in r)
      return { ...m, items: [...(m.items ?? []), { ...r, permission: "p" }] };
    return { ...m, ...r } as unknown as MessageInitShape<typeof CheckBulkPermissionsRequestSchema>;
  });

const token = withUnknown(fc.record({ token: text }, { requiredKeys: [] }));
const missing = withUnknown(fc.record({ missingRequiredContext: fc.array(text, { maxLength: 4 }) }));
const trace = fc.constant({
  nodes: [
    { label: "document:d1#view@user:u1", permissionship: 2, parent: 0 },
    { label: "viewer", permissionship: 2, cached: true, parent: 1 },
  ],
});
const checkResponse = withUnknown(
  fc.record(
    {
      checkedAt: token,
      permissionship: int32,
      partialCaveatInfo: missing,
      debugTrace: trace,
      approvalRule: text,
      approvalId: text,
      witness: fc.array(text, { maxLength: 3 }),
    },
    { requiredKeys: [] },
  ),
);
const responseItem = withUnknown(
  fc.record(
    { permissionship: int32, partialCaveatInfo: missing, approvalRule: text, approvalId: text },
    { requiredKeys: [] },
  ),
);
const itemError = withUnknown(
  fc.record({ statusCode: int32, errorCode: text, message: text }, { requiredKeys: [] }),
);
const echoed = fc.oneof(
  withUnknown(bulkItem),
  bulkItem.map((i) => ({ ...i, context: { region: "eu", n: 2 } })),
);
const pair = withUnknown(
  fc.record(
    {
      request: echoed,
      response: fc.oneof(
        responseItem.map((value) => ({ case: "item" as const, value })),
        itemError.map((value) => ({ case: "error" as const, value })),
      ),
    },
    { requiredKeys: [] },
  ),
);
const bulkResponse = withUnknown(
  fc.record({ checkedAt: token, pairs: fc.array(pair, { maxLength: 12 }) }, { requiredKeys: [] }),
);

/** Truncations, overwritten bytes and trailing garbage: one to three of them. */
const edits = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  ),
  { minLength: 1, maxLength: 3 },
);

type Edits = typeof edits extends fc.Arbitrary<infer E> ? E : never;

function mangle(bytes: Uint8Array, list: Edits): Uint8Array {
  let out = bytes;
  for (const e of list) {
    if (e.kind === "truncate") out = out.slice(0, e.at % (out.length + 1));
    else if (e.kind === "append") out = Uint8Array.from([...out, ...e.bytes]);
    else if (out.length > 0) {
      out = out.slice();
      out[e.at % out.length] = e.byte;
    }
  }
  return out;
}

function decodesAsProtobufEs<S extends DescMessage>(
  schema: S,
  decode: (bytes: Buffer) => MessageShape<S>,
  bytes: Uint8Array,
): void {
  let expected: MessageShape<S>;
  try {
    expected = fromBinary(schema, bytes, { readUnknownFields: false });
  } catch {
    expect(() => decode(Buffer.from(bytes))).toThrow();
    return;
  }
  const got = decode(Buffer.from(bytes));
  expect(got).toEqual(expected);
  expect(equals(schema, got, expected)).toBe(true);
}

function encodesAsProtobufEs<S extends DescMessage>(
  schema: S,
  encode: (init: MessageInitShape<S>) => Buffer,
  init: MessageInitShape<S>,
): void {
  const message = create(schema, init);
  const expected = frameOf(toBinary(schema, message));
  const got = encode(init);
  expect(got.toString("hex")).toBe(expected.toString("hex"));
  // And back: protobuf-es reads the hand-written bytes as the message they came from.
  expect(equals(schema, fromBinary(schema, got.subarray(5)), message)).toBe(true);
}

describe("check codec: requests", () => {
  it("CheckPermissionRequest: the bytes toBinary writes", () => {
    fc.assert(
      fc.property(checkRequest, (init) =>
        encodesAsProtobufEs(CheckPermissionRequestSchema, encodeCheckRequest, init),
      ),
      { numRuns: 1000 },
    );
  });

  it("CheckBulkPermissionsRequest: the bytes toBinary writes", () => {
    fc.assert(
      fc.property(bulkRequest, (init) =>
        encodesAsProtobufEs(CheckBulkPermissionsRequestSchema, encodeCheckBulkRequest, init),
      ),
      { numRuns: 1000 },
    );
  });

  it("a bulk past the slab's size is written whole", () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({
      resource: { objectType: "document", objectId: `d${i}-${"x".repeat(100)}` },
      permission: "view",
      subject: { object: { objectType: "user", objectId: `ü${i}` } },
    }));
    encodesAsProtobufEs(CheckBulkPermissionsRequestSchema, encodeCheckBulkRequest, { items });
  });
});

describe("check codec: responses", () => {
  it("CheckPermissionResponse: what fromBinary reads", () => {
    fc.assert(
      fc.property(checkResponse, (init) =>
        decodesAsProtobufEs(
          CheckPermissionResponseSchema,
          decodeCheckResponse,
          toBinary(CheckPermissionResponseSchema, create(CheckPermissionResponseSchema, init as never)),
        ),
      ),
      { numRuns: 1000 },
    );
  });

  it("CheckBulkPermissionsResponse: what fromBinary reads", () => {
    fc.assert(
      fc.property(bulkResponse, (init) =>
        decodesAsProtobufEs(
          CheckBulkPermissionsResponseSchema,
          decodeCheckBulkResponse,
          toBinary(CheckBulkPermissionsResponseSchema, create(CheckBulkPermissionsResponseSchema, init)),
        ),
      ),
      { numRuns: 1000 },
    );
  });

  it("mangled bytes: what fromBinary reads, or a failure where it fails", () => {
    fc.assert(
      fc.property(checkResponse, bulkResponse, edits, (one, bulk, list) => {
        decodesAsProtobufEs(
          CheckPermissionResponseSchema,
          decodeCheckResponse,
          mangle(
            toBinary(CheckPermissionResponseSchema, create(CheckPermissionResponseSchema, one as never)),
            list,
          ),
        );
        decodesAsProtobufEs(
          CheckBulkPermissionsResponseSchema,
          decodeCheckBulkResponse,
          mangle(
            toBinary(CheckBulkPermissionsResponseSchema, create(CheckBulkPermissionsResponseSchema, bulk)),
            list,
          ),
        );
      }),
      { numRuns: 1500 },
    );
  });

  it("a tag whose fifth byte carries bits past 32 is refused, as protobuf-es refuses it", () => {
    // A five-byte tag with 0x11 in its last byte: its low 32 bits read as a valid tag of a 64-bit
    // field (eight bytes follow), so only the fifth byte's high bits say it is out of range.
    const bytes = Buffer.from([0xa9, 0x80, 0x80, 0x80, 0x11, 0, 0, 0, 0, 0, 0, 0, 0]);
    decodesAsProtobufEs(CheckPermissionResponseSchema, decodeCheckResponse, bytes);
    decodesAsProtobufEs(CheckBulkPermissionsResponseSchema, decodeCheckBulkResponse, bytes);
  });

  it("a singular field sent twice merges, as protobuf-es merges it", () => {
    const first = toBinary(
      CheckPermissionResponseSchema,
      create(CheckPermissionResponseSchema, {
        partialCaveatInfo: { missingRequiredContext: ["a"] },
        permissionship: 3,
      }),
    );
    const second = toBinary(
      CheckPermissionResponseSchema,
      create(CheckPermissionResponseSchema, {
        partialCaveatInfo: { missingRequiredContext: ["b"] },
        permissionship: 2,
      }),
    );
    const bytes = Buffer.concat([first, second]);
    const got = decodeCheckResponse(bytes);
    expect(got.partialCaveatInfo?.missingRequiredContext).toEqual(["a", "b"]);
    expect(got.permissionship).toBe(2);
  });
});
