/**
 * Reads a caveat context, a `google.protobuf.Struct` on the wire, straight into the plain JSON
 * object that protobuf-es gives for a Struct field.
 *
 * Why: protobuf-es builds a message per Value, Struct and ListValue (through reflection) and then
 * converts the tree to JSON: about 1.4 µs a value warm, and 71 ms for 9,000 values the first time
 * after a start, all of it holding the event loop before any limit of ours can look at the context
 * (bench/README.md, "Hostile caveats"). This reader makes the JSON values as it reads the bytes.
 *
 * It is protobuf-es's own reading (2.13, `from-binary.ts` and `BinaryReader`) specialized to these
 * three messages, including what protobuf-es does with odd bytes, so that both give the same value
 * or both fail on any input: a known field is read as its declared type whatever its wire type;
 * a nested message may run past its parent's end (only the end of the buffer is checked); a map
 * entry's unknown fields are not skipped; the last of a oneof's fields wins, and a repeated
 * struct_value or list_value merges; the last of duplicate keys wins; a `__proto__` key is lost
 * (protobuf-es's map object takes it as its prototype); strings are strict UTF-8 through the same
 * decoder protobuf-es is configured with. test/server/struct-codec.test.ts compares the two on
 * random Structs and on mangled bytes.
 *
 * What it adds: the context limits, enforced while reading, as typed errors: more than
 * `maxValues` values in all (`request/context-too-large`), or a Struct or list nested deeper than
 * `maxDepth` (`request/context-too-deep`). Malformed bytes throw a plain `Error` saying what was
 * wrong with them, as protobuf-es does; the call wrapper makes that `request/malformed`.
 */
import type { DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import { getTextEncoding } from "@bufbuild/protobuf/wire";
import { ListValueSchema, StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { DEFAULT_CONTEXT_LIMITS, LatchError } from "../core/index.js";

export interface ContextDecodeLimits {
  /** Most context values (object keys and list elements, at every level) in one request. */
  readonly maxValues: number;
  /** Deepest nesting of objects and lists in a context; the context itself is depth 1. */
  readonly maxDepth: number;
}

/**
 * The values limit is a context's (the wire scan, wire-scan.ts, already holds a request to it in
 * all). The depth is not the engine's limit (16) but what protobuf-es could decode in every request
 * type before this reader (its 100 nested messages: 48 levels of a relationship's context). The
 * engine still applies its own limits with their paths, and in CheckBulk to the one item, to
 * anything between the two; past 48 the decoder stops, so its recursion stays shallow.
 */
export const DEFAULT_CONTEXT_DECODE_LIMITS: ContextDecodeLimits = Object.freeze({
  maxValues: DEFAULT_CONTEXT_LIMITS.maxValues,
  maxDepth: 48,
});

/** The number of a field, from the generated descriptor (so the .proto stays the one place). */
function numberOf(message: DescMessage, localName: string): number {
  const field = message.field[localName];
  if (field === undefined) throw new Error(`struct-codec: ${message.typeName} has no field ${localName}`);
  return field.number;
}

const STRUCT_FIELDS = numberOf(StructSchema, "fields");
const LIST_VALUES = numberOf(ListValueSchema, "values");
const NULL_VALUE = numberOf(ValueSchema, "nullValue");
const NUMBER_VALUE = numberOf(ValueSchema, "numberValue");
const STRING_VALUE = numberOf(ValueSchema, "stringValue");
const BOOL_VALUE = numberOf(ValueSchema, "boolValue");
const STRUCT_VALUE = numberOf(ValueSchema, "structValue");
const LIST_VALUE = numberOf(ValueSchema, "listValue");
// A map entry's key and value are fields 1 and 2, for every map: the protobuf spec fixes them.
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

/** protobuf-es's default limit of nested messages (and groups skipped), which it counts from the request. */
const RECURSION_LIMIT = 100;

const WIRE_VARINT = 0;
const WIRE_BIT64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_BIT32 = 5;

/** Up to this many bytes an ASCII string is built here; longer ones by Buffer (see check-permission-codec.ts). */
const SHORT_STRING = 12;

/** The error a request over the values limit gets, from the wire scan or from this reader. */
export function tooManyContextValues(limit: number): LatchError {
  return new LatchError(
    "request/context-too-large",
    "invalid-argument",
    `the request holds more than ${limit} caveat context values in all (object keys and list elements of every context): send fewer items per request, or smaller contexts`,
    { field: "context", limit },
  );
}

function tooDeep(limit: number): LatchError {
  return new LatchError(
    "request/context-too-deep",
    "invalid-argument",
    `context is too deep: it nests objects or lists more than ${limit} levels, more than the server decodes (a caveat context may nest at most ${DEFAULT_CONTEXT_LIMITS.maxDepth} levels); send only the values the caveats read`,
    { field: "context", limit },
  );
}

/** protobuf-es's own limit; within the default decode limits no request type reaches it. */
function recursion(depth: number): void {
  if (depth > RECURSION_LIMIT) throw new Error(`maximum recursion depth of ${RECURSION_LIMIT} reached`);
}

// The kinds of a Value read so far, for the oneof's merge rule.
const KIND_NONE = 0;
const KIND_STRUCT = 1;
const KIND_LIST = 2;
const KIND_OTHER = 3;

/**
 * Reads the Structs of one request message, all sharing its values budget. Positions are in the
 * whole request's bytes: like protobuf-es, a nested message is only held to the buffer's end.
 */
export class ContextReader {
  pos = 0;
  private values = 0;
  private readonly len: number;
  private view: DataView | undefined;

  constructor(
    private readonly buf: Buffer,
    private readonly limits: ContextDecodeLimits = DEFAULT_CONTEXT_DECODE_LIMITS,
  ) {
    this.len = buf.length;
  }

  /**
   * Reads a length-delimited Struct field's value at `pos` (its length, then its fields) into
   * `into` (an object from an earlier occurrence of the same field merges, as in protobuf).
   * `depth` is protobuf-es's count of nested messages for the message holding the field (the
   * request is 1). Returns where protobuf-es would go on reading that message: the Struct's end,
   * unless its bytes ran past it.
   */
  readLengthDelimitedStruct(pos: number, into: JsonObject, depth: number): number {
    this.pos = pos;
    const length = this.uint32();
    this.struct(this.pos + length, into, 1, depth + 1);
    return this.pos;
  }

  private count(): void {
    if (++this.values > this.limits.maxValues) throw tooManyContextValues(this.limits.maxValues);
  }

  /** A Struct or list at `level` of the context, `depth` messages deep in the request. */
  private enter(level: number, depth: number): void {
    if (level > this.limits.maxDepth) throw tooDeep(this.limits.maxDepth);
    recursion(depth);
  }

  /** google.protobuf.Struct: map<string, Value> fields. */
  private struct(end: number, into: JsonObject, level: number, depth: number): void {
    this.enter(level, depth);
    while (this.pos < end) {
      const tag = this.tag();
      if (tag >>> 3 === STRUCT_FIELDS) this.entry(into, level, depth);
      else this.skip(tag & 7, tag >>> 3, RECURSION_LIMIT - depth);
    }
  }

  /** One map entry (key 1, Value 2), read as protobuf-es's readMapEntry does. */
  private entry(into: JsonObject, level: number, depth: number): void {
    this.count();
    const length = this.uint32();
    const end = this.pos + length;
    let key = "";
    let value: JsonValue = null;
    while (this.pos < end) {
      // Other field numbers are not skipped: their bytes are read as the next tag, as protobuf-es does.
      const fieldNo = this.tag() >>> 3;
      if (fieldNo === ENTRY_KEY) key = this.string();
      else if (fieldNo === ENTRY_VALUE) value = this.valueMessage(level, depth + 1);
    }
    // Kept as protobuf-es keeps it: assigning `__proto__` would set the object's prototype.
    if (key !== "__proto__") into[key] = value;
  }

  /** A google.protobuf.Value field: its length, then the message. */
  private valueMessage(level: number, depth: number): JsonValue {
    const length = this.uint32();
    return this.value(this.pos + length, level, depth);
  }

  /** google.protobuf.Value: the last of its kinds wins; a Struct or list after the same merges. */
  private value(end: number, level: number, depth: number): JsonValue {
    recursion(depth);
    let kind = KIND_NONE;
    let result: JsonValue = null;
    while (this.pos < end) {
      const tag = this.tag();
      const fieldNo = tag >>> 3;
      if (fieldNo === NUMBER_VALUE) {
        result = this.double();
        kind = KIND_OTHER;
      } else if (fieldNo === STRING_VALUE) {
        result = this.string();
        kind = KIND_OTHER;
      } else if (fieldNo === BOOL_VALUE) {
        result = this.bool();
        kind = KIND_OTHER;
      } else if (fieldNo === NULL_VALUE) {
        this.uint32();
        result = null;
        kind = KIND_OTHER;
      } else if (fieldNo === STRUCT_VALUE) {
        const length = this.uint32();
        const into: JsonObject = kind === KIND_STRUCT ? (result as JsonObject) : {};
        this.struct(this.pos + length, into, level + 1, depth + 1);
        result = into;
        kind = KIND_STRUCT;
      } else if (fieldNo === LIST_VALUE) {
        const length = this.uint32();
        const into: JsonValue[] = kind === KIND_LIST ? (result as JsonValue[]) : [];
        this.list(this.pos + length, into, level + 1, depth + 1);
        result = into;
        kind = KIND_LIST;
      } else this.skip(tag & 7, fieldNo, RECURSION_LIMIT - depth);
    }
    return result;
  }

  /** google.protobuf.ListValue: repeated Value values. */
  private list(end: number, into: JsonValue[], level: number, depth: number): void {
    this.enter(level, depth);
    while (this.pos < end) {
      const tag = this.tag();
      if (tag >>> 3 === LIST_VALUES) {
        this.count();
        into.push(this.valueMessage(level, depth + 1));
      } else this.skip(tag & 7, tag >>> 3, RECURSION_LIMIT - depth);
    }
  }

  // ---- BinaryReader's primitives, with its checks ----

  private assertBounds(): void {
    if (this.pos > this.len) throw new RangeError("premature EOF");
  }

  /** A tag (field number << 3 | wire type), refused as BinaryReader.tag() refuses it. */
  private tag(): number {
    const start = this.pos;
    const tag = this.uint32();
    const bytesRead = this.pos - start;
    if (bytesRead > 5 || (bytesRead === 5 && this.buf[this.pos - 1]! > 0x0f)) {
      throw new Error("illegal tag: varint overflows uint32");
    }
    if (tag >>> 3 <= 0 || (tag & 7) > 5) {
      throw new Error(`illegal tag: field no ${tag >>> 3} wire type ${tag & 7}`);
    }
    return tag;
  }

  /** varint32read: up to ten bytes, the low 32 bits kept. Past the buffer a byte reads as 0. */
  private uint32(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    let result = b & 0x7f;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return result;
    }
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 7;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return result;
    }
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 14;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return result;
    }
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 21;
    if ((b & 0x80) === 0) {
      this.assertBounds();
      return result;
    }
    b = buf[this.pos++]!;
    result |= (b & 0x0f) << 28;
    for (let readBytes = 5; (b & 0x80) !== 0 && readBytes < 10; readBytes++) b = buf[this.pos++]!;
    if ((b & 0x80) !== 0) throw new Error("invalid varint");
    this.assertBounds();
    return result >>> 0;
  }

  /** BinaryReader.bool(): a 64-bit varint, true unless its 64 bits are all zero. */
  private bool(): boolean {
    const buf = this.buf;
    let low = 0;
    let high = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = buf[this.pos++]!;
      low |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        this.assertBounds();
        return low !== 0;
      }
    }
    const middle = buf[this.pos++]!;
    low |= (middle & 0x0f) << 28;
    high = (middle & 0x70) >> 4;
    if ((middle & 0x80) === 0) {
      this.assertBounds();
      return low !== 0 || high !== 0;
    }
    for (let shift = 3; shift <= 31; shift += 7) {
      const b = buf[this.pos++]!;
      high |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        this.assertBounds();
        return low !== 0 || high !== 0;
      }
    }
    throw new Error("invalid varint");
  }

  /** Eight bytes, little-endian; DataView throws past the buffer's end. */
  private double(): number {
    const buf = this.buf;
    this.view ??= new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos += 8;
    return this.view.getFloat64(this.pos - 8, true);
  }

  /** A length-delimited string, strict UTF-8 as protobuf-es reads proto3 strings. */
  private string(): string {
    const length = this.uint32();
    const start = this.pos;
    this.pos += length;
    this.assertBounds();
    const stop = this.pos;
    const buf = this.buf;
    let i = start;
    // Keys and most values are ASCII, which decodes the same by any decoder.
    if (stop - start <= SHORT_STRING) {
      let text = "";
      for (; i < stop; i++) {
        const b = buf[i]!;
        if (b >= 0x80) break;
        text += String.fromCharCode(b);
      }
      if (i === stop) return text;
    } else {
      while (i < stop && buf[i]! < 0x80) i++;
      if (i === stop) return buf.toString("latin1", start, stop);
    }
    // The decoder protobuf-es uses (TextDecoder, fatal): the same verdict on invalid UTF-8, and
    // the same handling of a leading byte order mark (dropped).
    return getTextEncoding().decodeUtf8(buf.subarray(start, stop), true);
  }

  /** BinaryReader.skip() for an unknown field, groups included, within `recursionLimit`. */
  private skip(wireType: number, fieldNo: number, recursionLimit: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        while (this.buf[this.pos++]! & 0x80) {
          // the varint's bytes
        }
        break;
      case WIRE_BIT64:
        this.pos += 8;
        break;
      case WIRE_BIT32:
        this.pos += 4;
        break;
      case WIRE_LEN: {
        const length = this.uint32();
        this.pos += length;
        break;
      }
      case WIRE_START_GROUP:
        if (recursionLimit <= 0) throw new Error("maximum recursion depth reached");
        for (;;) {
          const tag = this.tag();
          if ((tag & 7) === WIRE_END_GROUP) {
            if (tag >>> 3 !== fieldNo) throw new Error("invalid end group tag");
            break;
          }
          this.skip(tag & 7, tag >>> 3, recursionLimit - 1);
        }
        break;
      default:
        throw new Error(`cant skip wire type ${wireType}`);
    }
    this.assertBounds();
  }
}
