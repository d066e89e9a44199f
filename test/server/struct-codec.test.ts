/**
 * The caveat context reader (struct-codec.ts, through request-decoder.ts and the CheckPermission
 * codec) against protobuf-es: on random Structs (deep, wide, unicode, empty), on mangled bytes and
 * on odd but legal encodings it must give what `fromBinary` gives, or fail where it fails; past the
 * decode limits it refuses with the context errors; and through the call wrapper, bad bytes are
 * INVALID_ARGUMENT, never INTERNAL.
 */
import { EventEmitter } from "node:events";
import {
  create,
  type DescMessage,
  fromBinary,
  type JsonObject,
  type JsonValue,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Metadata, type ServerUnaryCall, status } from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { LatchError } from "../../src/core/index.js";
import {
  CheckBulkPermissionsRequestSchema,
  CheckPermissionRequestSchema,
  LookupResourcesRequestSchema,
  LookupSubjectsRequestSchema,
  PermissionService,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { WriteRelationshipsRequestSchema } from "../../src/gen/latch/v1/relationship_service_pb.js";
import {
  checkPermissionCodec,
  decodeCheckPermissionRequest,
} from "../../src/server/check-permission-codec.js";
import { serviceImplementation } from "../../src/server/grpc-adapter.js";
import { createLogger } from "../../src/server/observability.js";
import { requestDecoder } from "../../src/server/request-decoder.js";
import { DEFAULT_CONTEXT_DECODE_LIMITS } from "../../src/server/struct-codec.js";
import { useNodeTextEncoding } from "../../src/server/text-encoding.js";

// As the server runs.
beforeAll(() => useNodeTextEncoding());

/** mulberry32: the same cases on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL_NUMBERS = [0, -0, 1, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
const SPECIAL_NUMBERS_2 = [Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2, -(2 ** 31), 1e-300];
const SPECIAL_STRINGS = ["", "__proto__", "constructor", "0", "1", "10", "-1", "\uFEFFbom", "\u0000", "a b"];

class Gen {
  private readonly random: () => number;
  values = 0;
  constructor(seed: number) {
    this.random = seeded(seed);
  }
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  string(): string {
    switch (this.int(6)) {
      case 0:
        return this.pick(SPECIAL_STRINGS);
      case 1: {
        // Any code point, a lone surrogate now and then (UTF-8 makes it U+FFFD for both decoders).
        let s = "";
        for (let i = this.int(8); i > 0; i--) s += String.fromCodePoint(this.int(0x110000));
        return s;
      }
      case 2:
        return "é日本\u{1F600}".slice(0, 1 + this.int(5));
      case 3:
        return "x".repeat(13 + this.int(300));
      default: {
        let s = "";
        for (let i = this.int(12); i > 0; i--) s += String.fromCharCode(0x20 + this.int(0x5f));
        return s;
      }
    }
  }
  number(): number {
    switch (this.int(4)) {
      case 0:
        return this.pick(SPECIAL_NUMBERS);
      case 1:
        return this.pick(SPECIAL_NUMBERS_2);
      case 2:
        return this.int(100_000);
      default:
        return (this.random() - 0.5) * 10 ** this.int(30);
    }
  }
  scalar(): JsonValue {
    switch (this.int(4)) {
      case 0:
        return null;
      case 1:
        return this.random() < 0.5;
      case 2:
        return this.number();
      default:
        return this.string();
    }
  }
  /** A value up to `depth` more levels deep, with at most `width` members per level. */
  value(depth: number, width: number): JsonValue {
    if (depth <= 0 || this.values > 8_000 || this.random() < 0.3) return this.scalar();
    return this.random() < 0.5 ? this.object(depth, width) : this.list(depth, width);
  }
  list(depth: number, width: number): JsonValue[] {
    const out: JsonValue[] = [];
    for (let n = this.int(width + 1); n > 0; n--, this.values++) out.push(this.value(depth - 1, width));
    return out;
  }
  object(depth: number, width: number): JsonObject {
    const out: JsonObject = {};
    for (let n = this.int(width + 1); n > 0; n--, this.values++) {
      // `__proto__` as a plain assignment would set the prototype: protobuf-es could not encode it either.
      const key = this.string();
      if (key !== "__proto__") out[key] = this.value(depth - 1, width);
    }
    return out;
  }
  /** A context of one of the shapes: small, deep, wide, a long list, empty. */
  context(): JsonObject {
    this.values = 0;
    switch (this.int(5)) {
      case 0: {
        let deep: JsonValue = this.scalar();
        for (let i = 1 + this.int(46); i > 0; i--)
          deep = this.random() < 0.5 ? { k: deep, s: this.string() } : [deep];
        return { deep };
      }
      case 1:
        return this.object(2, 400);
      case 2:
        return { xs: Array.from({ length: this.int(3_000) }, () => this.number()) };
      case 3:
        return {};
      default:
        return this.object(4, 6);
    }
  }
}

/** A value with its object keys in order, NaN and -0 spelled out, and the prototype checked. */
function dump(value: unknown): string {
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(dump).join(",")}]`;
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${dump(v)}`)
      .join(",")}}`;
  }
  return `<${typeof value}>`;
}

/**
 * A decoded message with each context replaced by its dump: toStrictEqual then compares the
 * message strictly, and the contexts with their key order (and without its quirk of comparing the
 * values of keys named `constructor` by identity).
 */
function normalized(message: unknown): unknown {
  if (Array.isArray(message)) return message.map(normalized);
  if (typeof message !== "object" || message === null || message instanceof Uint8Array) return message;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) out[k] = k === "context" ? dump(v) : normalized(v);
  return out;
}

type Decode = (bytes: Buffer) => unknown;

const decoders: { name: string; desc: DescMessage; decode: Decode }[] = [
  {
    name: "CheckPermission (its codec)",
    desc: CheckPermissionRequestSchema,
    decode: (b) => decodeCheckPermissionRequest(b),
  },
  {
    name: "CheckBulkPermissions",
    desc: CheckBulkPermissionsRequestSchema,
    decode: requestDecoder(CheckBulkPermissionsRequestSchema),
  },
  {
    name: "LookupResources",
    desc: LookupResourcesRequestSchema,
    decode: requestDecoder(LookupResourcesRequestSchema),
  },
  {
    name: "LookupSubjects",
    desc: LookupSubjectsRequestSchema,
    decode: requestDecoder(LookupSubjectsRequestSchema),
  },
  {
    name: "WriteRelationships",
    desc: WriteRelationshipsRequestSchema,
    decode: requestDecoder(WriteRelationshipsRequestSchema),
  },
];

const ref = { objectType: "document", objectId: "d1" };
const subject = { object: { objectType: "user", objectId: "u1" } };
const relationship = (context: JsonObject) => ({
  resource: ref,
  relation: "viewer",
  subject,
  optionalCaveat: { caveatName: "c", context },
});

/** A request of the decoder's type carrying `context` (and, where it fits, a second one). */
function requestWith(desc: DescMessage, context: JsonObject, other: JsonObject = { n: 1 }): Uint8Array {
  const init: Record<string, MessageInitShape<DescMessage>> = {
    "latch.v1.CheckPermissionRequest": {
      resource: ref,
      permission: "view",
      subject,
      context,
      withTracing: true,
    },
    "latch.v1.CheckBulkPermissionsRequest": {
      consistency: { requirement: { case: "fullyConsistent", value: true } },
      items: [
        { resource: ref, permission: "view", subject, context },
        { resource: ref, permission: "edit", subject },
        { resource: ref, permission: "view", subject, context: other },
      ],
      contextualRelationships: [relationship(other)],
    },
    "latch.v1.LookupResourcesRequest": {
      resourceObjectType: "document",
      permission: "view",
      subject,
      context,
      optionalLimit: 5,
    },
    "latch.v1.LookupSubjectsRequest": {
      resource: ref,
      permission: "view",
      subjectObjectType: "user",
      context,
    },
    "latch.v1.WriteRelationshipsRequest": {
      updates: [
        { operation: 1, relationship: relationship(context) },
        { operation: 2, relationship: { resource: ref, relation: "owner", subject } },
        { operation: 1, relationship: relationship(other) },
      ],
    },
  };
  return toBinary(desc, create(desc, init[desc.typeName]!));
}

function reference(desc: DescMessage, bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: fromBinary(desc, bytes) };
  } catch {
    return { ok: false };
  }
}

/** The same message as protobuf-es (contexts in the same key order), or a failure where it fails. */
function expectSameDecoding(desc: DescMessage, decode: Decode, bytes: Uint8Array) {
  // A Buffer at an offset in a larger one, as grpc-js may hand it over; protobuf-es gets the same
  // (its unknown fields are views of it).
  const padded = Buffer.alloc(bytes.length + 7);
  padded.set(bytes, 7);
  const buf = padded.subarray(7);
  const expected = reference(desc, buf);
  if (expected.ok) {
    expect(normalized(decode(buf))).toStrictEqual(normalized(expected.value));
  } else {
    let thrown: unknown;
    try {
      decode(buf);
    } catch (error) {
      thrown = error;
    }
    // An Error that the call wrapper turns into request/malformed, not a limit's error.
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).not.toBeInstanceOf(LatchError);
  }
}

const RANDOM_CONTEXTS = Number(process.env.RANDOM_CONTEXTS ?? 120);
const MANGLED = Number(process.env.MANGLED ?? 1_500);

describe("context decoding against protobuf-es", () => {
  for (const { name, desc, decode } of decoders) {
    it(`${name}: gives what fromBinary gives on random contexts`, () => {
      const gen = new Gen(23 + name.length);
      for (let i = 0; i < RANDOM_CONTEXTS; i++) {
        const bytes = requestWith(desc, gen.context(), gen.object(2, 3));
        expectSameDecoding(desc, decode, bytes);
      }
    });

    it(`${name}: gives what fromBinary gives, or fails where it fails, on mangled bytes`, () => {
      const gen = new Gen(4242 + name.length);
      for (let i = 0; i < MANGLED; i++) {
        let bytes = requestWith(desc, gen.object(3, 4), gen.object(2, 2));
        for (let edits = 1 + gen.int(3); edits > 0; edits--) {
          const at = gen.int(bytes.length + 1);
          switch (gen.int(4)) {
            case 0:
              bytes = bytes.slice(0, at);
              break;
            case 1:
              bytes = Uint8Array.from([...bytes.slice(0, at), gen.int(256), ...bytes.slice(at)]);
              break;
            case 2:
              bytes = Uint8Array.from([...bytes.slice(0, at), ...bytes.slice(at + 1 + gen.int(3))]);
              break;
            default:
              if (at < bytes.length) {
                bytes = bytes.slice();
                // Wire types and small lengths are where the readers could part.
                bytes[at] = gen.int(2) === 0 ? gen.int(256) : (bytes[at]! & 0xf8) | gen.int(8);
              }
          }
        }
        expectSameDecoding(desc, decode, bytes);
      }
    });
  }
});

// ---- hand-encoded Structs: odd but legal encodings, and malformed ones ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const len = (no: number, body: number[]) => [...varint((no << 3) | 2), ...varint(body.length), ...body];
const utf8 = (s: string) => [...Buffer.from(s, "utf8")];
const str = (no: number, s: string) => len(no, utf8(s));
const double = (no: number, n: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return [(no << 3) | 1, ...b];
};
// Value fields: 1 null, 2 number, 3 string, 4 bool, 5 struct, 6 list. Struct: 1 entry. ListValue: 1 value.
const entry = (key: string, value: number[]) => len(1, [...str(1, key), ...len(2, value)]);
const struct = (...entries: number[][]) => entries.flat();
const list = (...values: number[][]) => values.flatMap((v) => len(1, v));
/** A CheckPermissionRequest (context is field 5) and a LookupResourcesRequest (field 5 too). */
const withContext = (...structBodies: number[][]) => Uint8Array.from(structBodies.flatMap((s) => len(5, s)));

const bothDecoders = [
  { desc: CheckPermissionRequestSchema, decode: (b: Buffer) => decodeCheckPermissionRequest(b) },
  { desc: LookupResourcesRequestSchema, decode: requestDecoder(LookupResourcesRequestSchema) },
];

function expectBoth(bytes: Uint8Array) {
  for (const { desc, decode } of bothDecoders) expectSameDecoding(desc, decode, bytes);
}

function contextOf(bytes: Uint8Array): unknown {
  return (decodeCheckPermissionRequest(Buffer.from(bytes)) as { context?: unknown }).context;
}

describe("odd but legal encodings", () => {
  it("keeps the last of duplicate keys, where the first was", () => {
    const bytes = withContext(
      struct(
        entry("a", double(2, 1)),
        entry("b", str(3, "x")),
        entry("a", [...str(3, "y")]),
        entry("1", [8, 0]),
      ),
    );
    expectBoth(bytes);
    expect(dump(contextOf(bytes))).toBe('{"1":null,"a":"y","b":"x"}');
  });

  it("drops a __proto__ key as protobuf-es does, and leaves the prototype alone", () => {
    const bytes = withContext(
      struct(entry("__proto__", len(5, entry("polluted", [32, 1]))), entry("ok", [32, 1])),
    );
    expectBoth(bytes);
    const context = contextOf(bytes) as Record<string, unknown>;
    expect(Object.getPrototypeOf(context)).toBe(Object.prototype);
    expect(dump(context)).toBe('{"ok":true}');
    expect(context.polluted).toBeUndefined();
  });

  it("reads NaN, infinities, -0, bools, null and an empty Value", () => {
    const bytes = withContext(
      struct(
        entry("nan", double(2, Number.NaN)),
        entry("inf", double(2, Number.POSITIVE_INFINITY)),
        entry("ninf", double(2, Number.NEGATIVE_INFINITY)),
        entry("nz", double(2, -0)),
        entry("t", [32, 1]),
        entry("t2", [32, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        entry("f", [32, 0]),
        entry("n", [8, 0]),
        entry("n7", [8, 7]),
        entry("empty", []),
      ),
    );
    expectBoth(bytes);
    expect(dump(contextOf(bytes))).toBe(
      '{"nan":NaN,"inf":Infinity,"ninf":-Infinity,"nz":-0,"t":true,"t2":true,"f":false,"n":null,"n7":null,"empty":null}',
    );
  });

  it("takes the last kind of a Value, and merges a repeated struct_value or list_value", () => {
    const bytes = withContext(
      struct(
        entry("last", [...double(2, 1), ...str(3, "s")]),
        entry("merged", [...len(5, entry("a", [32, 1])), ...len(5, entry("b", [32, 0]))]),
        entry("appended", [...len(6, list([32, 1])), ...len(6, list(double(2, 2)))]),
        entry("replaced", [...len(5, entry("a", [32, 1])), ...double(2, 3), ...len(5, entry("b", [32, 0]))]),
      ),
    );
    expectBoth(bytes);
    expect(dump(contextOf(bytes))).toBe(
      '{"last":"s","merged":{"a":true,"b":false},"appended":[true,2],"replaced":{"b":false}}',
    );
  });

  it("merges a context sent twice, and a context field with its entries in two parts", () => {
    const bytes = withContext(struct(entry("a", [32, 1])), struct(entry("b", [32, 0]), entry("a", [8, 0])));
    expectBoth(bytes);
    expect(dump(contextOf(bytes))).toBe('{"a":null,"b":false}');
  });

  it("gives a key-less entry the empty key and a value-less one null", () => {
    const bytes = withContext(struct(len(1, len(2, [32, 1])), len(1, str(1, "k"))));
    expectBoth(bytes);
    expect(dump(contextOf(bytes))).toBe('{"":true,"k":null}');
  });

  it("skips unknown fields of Struct, Value and ListValue, groups included", () => {
    const unknown = [
      ...varint((9 << 3) | 0),
      5,
      ...str(10, "zz"),
      (11 << 3) | 5,
      1,
      2,
      3,
      4,
      ...double(12, 1),
    ];
    const group = [(13 << 3) | 3, ...varint((1 << 3) | 0), 1, (14 << 3) | 3, (14 << 3) | 4, (13 << 3) | 4];
    const bytes = withContext(
      struct(
        unknown,
        group,
        entry("v", [...unknown, ...group, ...double(2, 4)]),
        entry("l", len(6, [...unknown, ...list([32, 1]), ...group])),
      ),
    );
    expectBoth(bytes);
    expect(dump(contextOf(bytes))).toBe('{"v":4,"l":[true]}');
  });

  it("reads an unknown field in a map entry as protobuf-es does (its bytes as tags)", () => {
    expectBoth(withContext(len(1, [...str(1, "k"), ...str(3, "\x10\x01"), ...len(2, [32, 1])])));
  });

  it("keeps unicode, and drops a leading byte order mark as protobuf-es's decoder does", () => {
    const bytes = withContext(
      struct(entry("é日本\u{1F600}", str(3, "\uFEFFbom")), entry("long", str(3, `${"a".repeat(40)}é`))),
    );
    expectBoth(bytes);
    expect(contextOf(bytes)).toStrictEqual({ "é日本\u{1F600}": "bom", long: `${"a".repeat(40)}é` });
  });

  it("reads a context sent with another wire type as protobuf-es does", () => {
    const body = struct(entry("a", [32, 1]));
    // Field 5 as a varint, fixed64, group start, group end, fixed32: protobuf-es reads a length.
    for (const wireType of [0, 1, 3, 4, 5])
      expectBoth(Uint8Array.from([(5 << 3) | wireType, ...varint(body.length), ...body]));
  });

  it("reads contexts in CheckBulk items, contextual relationships and writes", () => {
    for (const { desc, decode } of decoders) {
      expectSameDecoding(desc, decode, requestWith(desc, { a: [1, { b: "c" }] }, { other: true }));
    }
  });
});

describe("malformed contexts", () => {
  const cases: [string, number[]][] = [
    ["a truncated varint length", [(5 << 3) | 2, 0x80]],
    ["a length past the end", [...len(5, struct(entry("a", [32, 1]))).slice(0, -1)]],
    ["an entry longer than the bytes", len(5, [10, 50, ...str(1, "a")])],
    ["wire type 7", len(5, [0x0f])],
    ["wire type 6 in a Value", len(5, entry("a", [0x16]))],
    ["field number 0", len(5, [0x02, 0])],
    ["a tag over 32 bits", len(5, [0xff, 0xff, 0xff, 0xff, 0x7f])],
    ["a varint over ten bytes", len(5, entry("a", [32, ...Array(10).fill(0xff), 1]))],
    ["a double cut short", len(5, entry("a", [17, 1, 2, 3]))],
    ["invalid UTF-8 in a key", len(5, len(1, [10, 2, 0xc3, 0x28]))],
    ["invalid UTF-8 in a value", len(5, entry("a", [26, 3, 0xe2, 0x82, 0x28]))],
    ["a lone surrogate's bytes", len(5, entry("a", [26, 3, 0xed, 0xa0, 0x80]))],
    ["an end-group tag as an unknown field", len(5, [(9 << 3) | 4])],
    ["a group left open", len(5, [(9 << 3) | 3, 8, 1])],
    ["a group closed by another number", len(5, [(9 << 3) | 3, (8 << 3) | 4])],
  ];
  for (const [name, bytes] of cases) {
    it(`fails on ${name}, where protobuf-es fails`, () => {
      const input = Uint8Array.from(bytes);
      expect(reference(CheckPermissionRequestSchema, input).ok).toBe(false);
      expectBoth(input);
    });
  }
});

// ---- limits ----

/** A context nested `depth` levels, `{a: {a: ...}}` or `{a: [[...]]}`, built as bytes (Buffers: fast when deep). */
function nested(depth: number, kind: "struct" | "list"): number[] {
  const key = Buffer.from(str(1, "a"));
  const wrap = (no: number, body: Buffer) =>
    Buffer.concat([Buffer.from(varint((no << 3) | 2)), Buffer.from(varint(body.length)), body]);
  let body = Buffer.alloc(0);
  for (let i = 1; i < depth; i++) {
    // An entry "a" whose Value holds the level below: a Struct, or a list holding it.
    const inner = kind === "struct" ? wrap(5, body) : wrap(6, wrap(1, wrap(5, body)));
    body = wrap(1, Buffer.concat([key, wrap(2, inner)]));
  }
  return [...body];
}
const deepStructs = (depth: number) => nested(depth, "struct");

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof LatchError ? `${error.code} ${error.kind}` : `${error}`;
  }
}

describe("decode limits", () => {
  const { maxDepth, maxValues } = DEFAULT_CONTEXT_DECODE_LIMITS;

  it(`reads ${maxDepth} levels and refuses one more, for objects and for lists`, () => {
    for (const { decode } of bothDecoders) {
      expect(codeOf(() => decode(Buffer.from(withContext(deepStructs(maxDepth)))))).toBeUndefined();
      expect(codeOf(() => decode(Buffer.from(withContext(deepStructs(maxDepth + 1)))))).toBe(
        "request/context-too-deep invalid-argument",
      );
    }
    // Each level here is an object holding a list holding an object: twice as many levels.
    const half = Math.floor(maxDepth / 2);
    expect(codeOf(() => contextOf(withContext(nested(half, "list"))))).toBeUndefined();
    expect(codeOf(() => contextOf(withContext(nested(half + 1, "list"))))).toBe(
      "request/context-too-deep invalid-argument",
    );
    const lists = contextOf(withContext(nested(3, "list")));
    expect(lists).toStrictEqual({ a: [{ a: [{}] }] });
  });

  it("refuses a 3,000-deep Struct without running out of stack", () => {
    for (const { decode } of bothDecoders) {
      expect(codeOf(() => decode(Buffer.from(withContext(deepStructs(3_000)))))).toBe(
        "request/context-too-deep invalid-argument",
      );
    }
  });

  it("applies smaller limits when given", () => {
    const bytes = Buffer.from(withContext(deepStructs(4)));
    expect(codeOf(() => decodeCheckPermissionRequest(bytes, { maxDepth: 4, maxValues: 10 }))).toBeUndefined();
    expect(codeOf(() => decodeCheckPermissionRequest(bytes, { maxDepth: 3, maxValues: 10 }))).toBe(
      "request/context-too-deep invalid-argument",
    );
  });

  it(`reads ${maxValues} values in a request and refuses one more, counted across its contexts`, () => {
    const ints = (n: number) => Array.from({ length: n }, (_, i) => i);
    // 1 key + its list's elements.
    const single = (n: number) => requestWith(CheckPermissionRequestSchema, { xs: ints(n - 1) });
    expect(codeOf(() => decodeCheckPermissionRequest(Buffer.from(single(maxValues))))).toBeUndefined();
    expect(codeOf(() => decodeCheckPermissionRequest(Buffer.from(single(maxValues + 1))))).toBe(
      "request/context-too-large invalid-argument",
    );
    // Two items and a contextual relationship of a bulk, each a key and its n elements: 3n + 3.
    const decodeBulk = requestDecoder(CheckBulkPermissionsRequestSchema);
    const bulk = (n: number) =>
      Buffer.from(requestWith(CheckBulkPermissionsRequestSchema, { xs: ints(n) }, { ys: ints(n) }));
    expect(codeOf(() => decodeBulk(bulk(3_332)))).toBeUndefined();
    expect(codeOf(() => decodeBulk(bulk(3_333)))).toBe("request/context-too-large invalid-argument");
    expect(codeOf(() => decodeBulk(bulk(3_333), { maxDepth, maxValues: 10_002 }))).toBeUndefined();
  });
});

// ---- through the call wrapper ----

class FakeCall extends EventEmitter {
  cancelled = false;
  readonly metadata = new Metadata();
  constructor(readonly request: Buffer) {
    super();
  }
  getDeadline() {
    return Number.POSITIVE_INFINITY;
  }
}

describe("context errors through the call wrapper", () => {
  const seen: unknown[] = [];
  const handle = async (request: unknown) => {
    seen.push(request);
    return {};
  };
  const impl = serviceImplementation(
    PermissionService,
    {
      checkPermission: handle,
      checkBulkPermissions: handle,
      expandPermissionTree: handle,
      lookupResources: async function* () {},
      lookupSubjects: async function* () {},
      watchPermissions: async function* () {},
    } as never,
    { log: createLogger("silent") },
    { checkPermission: checkPermissionCodec },
  );

  function call(method: "checkPermission" | "checkBulkPermissions", bytes: Uint8Array) {
    const handler = impl[method] as (call: ServerUnaryCall<unknown, unknown>, cb: unknown) => void;
    return new Promise<{ code: status; errorCode: unknown } | null>((resolve) =>
      handler(
        new FakeCall(Buffer.from(bytes)) as unknown as ServerUnaryCall<unknown, unknown>,
        (
          error: {
            code: status;
            metadata: Metadata;
          } | null,
        ) => resolve(error && { code: error.code, errorCode: error.metadata.get("latch-error-code")[0] }),
      ),
    );
  }

  const bulkOf = (context: number[]) => Uint8Array.from(len(2, len(4, context)));

  it("answers malformed context bytes with INVALID_ARGUMENT request/malformed", async () => {
    const bad = len(1, [10, 2, 0xc3, 0x28]);
    expect(await call("checkPermission", withContext(bad))).toEqual({
      code: status.INVALID_ARGUMENT,
      errorCode: "request/malformed",
    });
    expect(await call("checkBulkPermissions", bulkOf(bad))).toEqual({
      code: status.INVALID_ARGUMENT,
      errorCode: "request/malformed",
    });
  });

  it("answers a context past the depth limit with INVALID_ARGUMENT request/context-too-deep", async () => {
    const deep = deepStructs(200);
    for (const [method, bytes] of [
      ["checkPermission", withContext(deep)],
      ["checkBulkPermissions", bulkOf(deep)],
    ] as const) {
      expect(await call(method, bytes)).toEqual({
        code: status.INVALID_ARGUMENT,
        errorCode: "request/context-too-deep",
      });
    }
  });

  it("hands a decoded context to the handler", async () => {
    seen.length = 0;
    expect(await call("checkBulkPermissions", bulkOf(struct(entry("a", double(2, 1)))))).toBeNull();
    expect(seen).toHaveLength(1);
    expect((seen[0] as { items: { context: unknown }[] }).items[0]!.context).toStrictEqual({ a: 1 });
  });
});
