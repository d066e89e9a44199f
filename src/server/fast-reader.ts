import { isUtf8 } from "node:buffer";
/**
 * The reader behind the hand-written request codecs (check-permission-codec.ts,
 * check-bulk-codec.ts): it reads only the shapes those codecs handle and throws `NOT_HANDLED` for
 * anything else, which the codec answers by handing the message to protobuf-es. So it never
 * decides an error itself; protobuf-es stays the judge of odd input.
 */

/** Thrown inside a fast reader when a message is outside what it handles; never escapes a codec. */
export const NOT_HANDLED = Symbol("not handled");

/**
 * Up to this many bytes, an ASCII string is built in JavaScript: V8 keeps strings this short flat
 * (longer ones built by `+=` become chains to flatten later, which costs more than Buffer's decoder).
 */
const SHORT_STRING = 12;
/** The longest name `name` keeps for the next call (object type and relation names are far shorter). */
const NAME_KEPT_UP_TO = 64;

/** The last name read for one field (`FastReader.name`); one per field, module-wide. */
export interface NameSlot {
  text: string;
}

export class FastReader {
  pos: number;

  /**
   * `canonical`: also refuse what protobuf-es accepts but `toBinary` would write otherwise (a
   * varint with needless bytes, an empty string on the wire), for a codec that reuses the bytes.
   */
  constructor(
    readonly buf: Buffer,
    start: number,
    private readonly canonical: boolean,
  ) {
    this.pos = start;
  }

  /**
   * A length of up to four varint bytes (below 256 MiB, more than a request may hold); a longer
   * or truncated one is left to protobuf-es.
   */
  length(end: number): number {
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= end) throw NOT_HANDLED;
      const b = this.buf[this.pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        if (this.canonical && b === 0 && shift > 0) throw NOT_HANDLED;
        return value;
      }
    }
    throw NOT_HANDLED;
  }

  /** The end of a length-delimited field that starts here, within `end`. */
  span(end: number): number {
    const stop = this.length(end) + this.pos;
    if (stop > end) throw NOT_HANDLED;
    return stop;
  }

  /** protobuf-es decodes proto3 strings strictly (invalid UTF-8 fails the call): so do we. */
  string(end: number): string {
    return this.textTo(this.span(end));
  }

  /**
   * `string`, for a name (an object type, a permission, a relation): the string `last` holds when
   * the bytes spell it, else the string read, kept in `last` if it is ASCII. Names repeat call
   * after call, and returning the same string skips building it char by char and hashing it again
   * for each lookup by name (V8 keeps a string's hash in it); the audit capture also finds a name
   * it has seen by reference. Only ASCII is kept: then equal bytes and char codes are equal text.
   */
  name(end: number, last: NameSlot): string {
    const stop = this.span(end);
    const start = this.pos;
    const known = last.text;
    const n = stop - start;
    if (n === known.length && n > 0) {
      const buf = this.buf;
      let k = 0;
      while (k < n && buf[start + k] === known.charCodeAt(k)) k++;
      if (k === n) {
        this.pos = stop;
        return known;
      }
    }
    const text = this.textTo(stop);
    // A UTF-8 byte length equal to the UTF-16 length: every character was one byte, ASCII. Only a
    // name's length is kept: an oversized one would stay in memory until the next call.
    if (text.length === n && n <= NAME_KEPT_UP_TO) last.text = text;
    return text;
  }

  /** The UTF-8 text from `pos` to `stop` (a span's end). */
  private textTo(stop: number): string {
    const start = this.pos;
    if (this.canonical && stop === start) throw NOT_HANDLED;
    this.pos = stop;
    const buf = this.buf;
    let i = start;
    // Names and ids are ASCII in practice. Short ones are made here, char by char, for a fraction
    // of a call into Buffer's decoder; longer ones are only checked here (no view for isUtf8).
    if (stop - start <= SHORT_STRING) {
      let text = "";
      for (; i < stop; i++) {
        const b = buf[i]!;
        if (b >= 0x80) break;
        text += String.fromCharCode(b);
      }
      if (i === stop) return text;
    } else while (i < stop && buf[i]! < 0x80) i++;
    if (i < stop && !isUtf8(buf.subarray(i, stop))) throw NOT_HANDLED;
    return buf.toString("utf8", start, stop);
  }
}
