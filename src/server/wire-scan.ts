/**
 * Counts the caveat context values (`google.protobuf.Value` messages) in an encoded request without
 * decoding it.
 *
 * Why: protobuf-es decodes a Struct at about 1 µs a value and cannot be interrupted, so a 4 MiB
 * CheckBulk of large contexts held the event loop for hundreds of milliseconds before any limit of
 * ours could look at it. This walk reads only tags and lengths (no allocation, no strings), skips
 * every field that is not a message, and stops as soon as the budget is passed, so a request over
 * the limit is refused after a scan instead of a decode.
 *
 * Contexts are now read by struct-codec.ts, which holds a request to the same budget as it reads;
 * the scan still refuses before anything is decoded, and it counts the contexts that protobuf-es
 * itself decodes (an odd encoding that request-decoder.ts leaves to it).
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";

const VALUE = "google.protobuf.Value";
/** protobuf-es refuses deeper messages itself; past this the scan leaves the verdict to it. */
const MAX_DEPTH = 100;

/** For each message type, the message type of each field number that holds messages. */
const nestedTypes = new WeakMap<DescMessage, ReadonlyMap<number, DescMessage>>();

function nestedOf(desc: DescMessage): ReadonlyMap<number, DescMessage> {
  let map = nestedTypes.get(desc);
  if (map !== undefined) return map;
  const built = new Map<number, DescMessage>();
  for (const field of desc.fields) {
    if (field.fieldKind === "message") built.set(field.number, field.message);
    else if (field.fieldKind === "list" && field.listKind === "message")
      built.set(field.number, field.message);
    else if (field.fieldKind === "map" && field.mapKind === "message") {
      // A map entry is a message of its own: key (1) and value (2).
      built.set(field.number, mapEntry(field.message));
    }
  }
  map = built;
  nestedTypes.set(desc, map);
  return map;
}

const entries = new WeakMap<DescMessage, DescMessage>();

/** A stand-in descriptor for a map entry whose value (field 2) is of type `value`. */
function mapEntry(value: DescMessage): DescMessage {
  let entry = entries.get(value);
  if (entry === undefined) {
    entry = { typeName: `${value.typeName}$entry`, fields: [] } as unknown as DescMessage;
    nestedTypes.set(entry, new Map([[2, value]]));
    entries.set(value, entry);
  }
  return entry;
}

/**
 * How many context values `bytes` (an encoded `desc`) holds, counting up to `budget + 1`: a result
 * above `budget` means "over". Malformed input ends the count early; decoding then reports it.
 */
export function countContextValues(desc: DescMessage, bytes: Uint8Array, budget: number): number {
  let count = 0;
  // An explicit stack of (type, end) instead of recursion: the nesting is the sender's choice.
  const types: DescMessage[] = [desc];
  const ends: number[] = [bytes.length];
  let pos = 0;
  while (types.length > 0) {
    const end = ends[ends.length - 1]!;
    if (pos >= end) {
      types.pop();
      ends.pop();
      continue;
    }
    let tag = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= end || shift > 28) return count;
      const b = bytes[pos++]!;
      tag |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    const wireType = tag & 7;
    const nested = nestedOf(types[types.length - 1]!).get(tag >>> 3);
    // protobuf-es reads a message field as length-delimited whatever its wire type says: so does
    // the count, or a context sent with another wire type would be decoded without being counted.
    if (wireType === 2 || (nested !== undefined && wireType <= 5)) {
      let length = 0;
      for (let shift = 0; ; shift += 7) {
        if (pos >= end || shift > 28) return count;
        const b = bytes[pos++]!;
        length += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
      }
      const stop = pos + length;
      if (stop > end) return count;
      if (nested === undefined || types.length >= MAX_DEPTH) pos = stop;
      else {
        if (nested.typeName === VALUE && ++count > budget) return count;
        types.push(nested);
        ends.push(stop);
      }
    } else if (wireType === 0) {
      while (pos < end && bytes[pos]! >= 0x80) pos++;
      pos++;
    } else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else return count;
  }
  return count;
}

/**
 * `bytes` (an encoded message) cut between top-level fields into parts of about `partBytes` each,
 * every part an encoded message of the same type; decoded one by one and their repeated fields
 * joined, the parts give what `bytes` gives (protobuf's concatenation rule). Undefined where the
 * bytes hold anything but length-delimited fields, or are cut short: decoding the whole message
 * then reports it.
 *
 * Why: protobuf-es decodes a message in one go, and a client stream's message of 10,000
 * relationships took 50-150 ms with its garbage collection (bench/stall-data.ts).
 */
export function splitAtFields(bytes: Buffer, partBytes: number): Buffer[] | undefined {
  const parts: Buffer[] = [];
  let start = 0;
  let pos = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos++]!;
    // One byte: field numbers up to 15, the only ones the split messages have.
    if (tag >= 0x80 || (tag & 7) !== 2) return undefined;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= bytes.length || shift > 28) return undefined;
      const b = bytes[pos++]!;
      length += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    pos += length;
    if (pos > bytes.length) return undefined;
    if (pos - start >= partBytes) {
      parts.push(bytes.subarray(start, pos));
      start = pos;
    }
  }
  if (start < pos) parts.push(bytes.subarray(start, pos));
  return parts;
}

/**
 * `desc`'s only field when it is a repeated message field (the import requests), else undefined:
 * a message of that type can be read in parts, each a message of its own.
 */
export function onlyListField(desc: DescMessage): (DescField & { fieldKind: "list" }) | undefined {
  const [field, ...others] = desc.fields;
  return field !== undefined &&
    others.length === 0 &&
    field.fieldKind === "list" &&
    field.listKind === "message"
    ? field
    : undefined;
}
