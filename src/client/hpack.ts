/**
 * HPACK (RFC 7541) for the lean HTTP/2 transport (h2-session.ts): a decoder with its dynamic table
 * for the server's response headers and trailers, and an encoder of literal fields only.
 *
 * Why our own: the client sends only "literal without indexing" fields and static-table indices,
 * which need no encoder state, so a request's header block is built once per method and copied.
 * The server's encoder (nghttp2 in a Node server) does index, so decoding keeps a dynamic table.
 * The npm hpack.js (the one spdy uses) decodes bit by bit through a readable-stream Duplex and
 * pulls four packages; this file is the few tables and loops a client needs.
 */

/** RFC 7541 Appendix A: the static table (index 1 is the first entry). */
const STATIC: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ...[
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
  ].map((name): [string, string] => [name, name === "accept-encoding" ? "gzip, deflate" : ""]),
];

/** Static-table indices the encoder uses. */
export const STATIC_INDEX = {
  authority: 1,
  methodPost: 3,
  path: 4,
  schemeHttp: 6,
  schemeHttps: 7,
  authorization: 23,
  contentType: 31,
  userAgent: 58,
} as const;

/**
 * RFC 7541 Appendix B: the Huffman code's length in bits of each symbol (256 is EOS). The code is
 * canonical (codes of one length are consecutive, in symbol order), so the lengths define it.
 */
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;

/**
 * The Huffman decoding tree: node n's children are at [2n] (bit 0) and [2n+1] (bit 1); a child
 * >= 0 is a node, a child < 0 is the leaf of symbol `-child - 1`.
 */
const HUFFMAN_TREE: Int32Array = (() => {
  const order = HUFFMAN_LENGTHS.map((_, symbol) => symbol).sort(
    (a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b,
  );
  const tree = new Int32Array(2 * 512).fill(0);
  let nodes = 1;
  let code = 0;
  let previous = HUFFMAN_LENGTHS[order[0]!]!;
  for (const symbol of order) {
    const length = HUFFMAN_LENGTHS[symbol]!;
    code *= 2 ** (length - previous);
    previous = length;
    let node = 0;
    for (let bit = length - 1; bit > 0; bit--) {
      const slot = 2 * node + (Math.floor(code / 2 ** bit) & 1);
      if (tree[slot] === 0) tree[slot] = nodes++;
      node = tree[slot]!;
    }
    tree[2 * node + (code & 1)] = -symbol - 1;
    code++;
  }
  return tree;
})();

export class HpackError extends Error {
  override readonly name = "HpackError";
}

function huffmanDecode(bytes: Buffer, start: number, end: number): string {
  let out = "";
  let node = 0;
  // Bits read since the last symbol, and whether all were 1: the padding rule of RFC 7541 5.2.
  let pending = 0;
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      const next = HUFFMAN_TREE[2 * node + b]!;
      pending++;
      ones &&= b === 1;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new HpackError("a Huffman string holds EOS");
        out += String.fromCharCode(symbol);
        node = 0;
        pending = 0;
        ones = true;
      } else node = next;
    }
  }
  if (pending > 7 || !ones) throw new HpackError("a Huffman string is badly padded");
  return out;
}

/** Decoded headers: the first value of each name (gRPC sends each name once). */
export type HeaderMap = Record<string, string>;

/**
 * The decoding context of one connection: every header block the peer sends goes through it, in
 * order, including blocks of streams the client no longer tracks, so its dynamic table stays in step.
 */
export class HpackDecoder {
  /** Oldest first: dynamic index 1 is the last entry. */
  private readonly entries: [string, string][] = [];
  private size = 0;
  private maxSize: number;
  private pos = 0;
  private block: Buffer = Buffer.alloc(0);

  /** `limit`: SETTINGS_HEADER_TABLE_SIZE the client advertised (4096 by default). */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  decode(block: Buffer): HeaderMap {
    const headers: HeaderMap = Object.create(null) as HeaderMap;
    this.block = block;
    this.pos = 0;
    let fields = 0;
    while (this.pos < block.length) {
      const first = block[this.pos]!;
      if (first & 0x80) {
        this.put(headers, this.lookup(this.integer(7)));
      } else if (first & 0x40) {
        const field = this.literal(6);
        this.add(field);
        this.put(headers, field);
      } else if (first & 0x20) {
        if (fields > 0) throw new HpackError("a table size update after a header field");
        const size = this.integer(5);
        if (size > this.limit) throw new HpackError(`a table size ${size} above the limit ${this.limit}`);
        this.maxSize = size;
        this.evict(0);
        continue;
      } else {
        // Without indexing (0000) or never indexed (0001): both 4-bit prefixes.
        this.put(headers, this.literal(4));
      }
      fields++;
    }
    return headers;
  }

  private put(headers: HeaderMap, [name, value]: readonly [string, string]): void {
    if (headers[name] === undefined) headers[name] = value;
  }

  private lookup(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError("index 0");
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const entry = this.entries[this.entries.length - (index - STATIC.length)];
    if (entry === undefined) throw new HpackError(`index ${index} is past the table`);
    return entry;
  }

  private literal(prefix: number): [string, string] {
    const index = this.integer(prefix);
    const name = index === 0 ? this.string() : this.lookup(index)[0];
    return [name, this.string()];
  }

  private add(field: [string, string]): void {
    const size = field[0].length + field[1].length + 32;
    this.evict(size);
    // An entry larger than the table empties it and is not added (RFC 7541 4.4).
    if (size <= this.maxSize) {
      this.entries.push(field);
      this.size += size;
    }
  }

  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.entries.length > 0) {
      const [name, value] = this.entries.shift()!;
      this.size -= name.length + value.length + 32;
    }
  }

  private integer(prefix: number): number {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError("a header block ends inside an integer");
    const max = (1 << prefix) - 1;
    let value = block[this.pos++]! & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= block.length) throw new HpackError("a header block ends inside an integer");
      if (shift > 28) throw new HpackError("an integer too large");
      const byte = block[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
  }

  private string(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError("a header block ends inside a string");
    const huffman = (block[this.pos]! & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.pos;
    const end = start + length;
    if (end > block.length) throw new HpackError("a string runs past its header block");
    this.pos = end;
    return huffman ? huffmanDecode(block, start, end) : block.toString("latin1", start, end);
  }
}

function integerBytes(value: number, prefix: number, flags: number): number[] {
  const max = (1 << prefix) - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

/**
 * A header field "literal without indexing" (or "never indexed", for secrets a proxy must not put
 * in its table), name by static index or as a string; no Huffman.
 */
export function literalField(name: number | string, value: string, neverIndexed = false): Buffer {
  const flags = neverIndexed ? 0x10 : 0x00;
  const parts: number[] =
    typeof name === "number"
      ? integerBytes(name, 4, flags)
      : [flags, ...integerBytes(name.length, 7, 0x00), ...Buffer.from(name, "latin1")];
  return Buffer.concat([
    Buffer.from(parts),
    Buffer.from(integerBytes(value.length, 7, 0x00)),
    Buffer.from(value, "latin1"),
  ]);
}

/** A header field that is a whole static-table entry (`:method POST`, `:scheme https`). */
export function indexedField(index: number): Buffer {
  return Buffer.from(integerBytes(index, 7, 0x80));
}

/** Header values node:http2 would refuse (control characters): refused here the same way. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Throws, as node:http2 does, for a request id no header may carry. */
export function checkRequestId(requestId: string | undefined): void {
  if (requestId !== undefined && BAD_VALUE.test(requestId))
    throw new TypeError(`invalid character in the request id ${JSON.stringify(requestId)}`);
}
