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
    const stop = this.span(end);
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
