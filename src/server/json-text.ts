/**
 * JSON text read without parsing it, so that a large body is parsed a piece at a time: the
 * values of a client stream's body, and the elements of a message that is only its list (the HTTP
 * gateway, http-gateway.ts). JSON.parse stays the judge of every piece.
 *
 * Both read the body's bytes, never a decoded copy of the whole body: decoding 4 MiB and
 * scanning it a character at a time held the server for 50-115 ms. JSON's structure is ASCII and
 * every byte of a multi-byte UTF-8 sequence is 0x80 or above, so a scan of bytes cuts exactly
 * where a scan of characters would; only the pieces handed to JSON.parse are decoded. And both
 * are generators that yield every STEP_BYTES bytes, so that a caller can pace a scan of a whole
 * body over several turns (`scanned` runs one to its end at once).
 */

/** Bytes scanned between two yields: about a millisecond's work. */
const STEP_BYTES = 64 * 1024;

/** A scan run to its end at once. */
export function scanned<T>(scan: Generator<void, T>): T {
  for (;;) {
    const step = scan.next();
    if (step.done === true) return step.value;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** JSON's whitespace: space, tab, line feed, carriage return. */
function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** The length of a UTF-8 byte order mark at `at`, or 0. */
function bomAt(body: Uint8Array, at: number): number {
  return body[at] === 0xef && body[at + 1] === 0xbb && body[at + 2] === 0xbf ? 3 : 0;
}

/**
 * Where the string opened by the quote at `open` closes (before `end`), or -1. Found by the
 * native search for the next quote, one not escaped (preceded by an even number of backslashes):
 * strings are most of an import's bytes, and neither scan needs what is inside them.
 */
function stringEnd(body: Uint8Array, open: number, end: number): number {
  for (let i = open; ; ) {
    i = body.indexOf(QUOTE, i + 1);
    if (i < 0 || i >= end) return -1;
    let backslashes = 0;
    while (body[i - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
}

/** A value's bytes in the body: [start, end). */
export type Span = readonly [number, number];

/**
 * The JSON values of a body that holds several, one after another (a client stream), as spans:
 * cut where a top-level value ends, outside strings. Between values only JSON whitespace (and a
 * byte order mark first). Each is parsed by JSON.parse after.
 */
export function* splitJsonValues(body: Uint8Array): Generator<void, Span[]> {
  const out: Span[] = [];
  let depth = 0;
  let start = -1;
  let pause = STEP_BYTES;
  for (let i = bomAt(body, 0); i < body.length; i++) {
    if (i >= pause) {
      yield;
      pause = i + STEP_BYTES;
    }
    const c = body[i]!;
    if (c === QUOTE && depth > 0) {
      i = stringEnd(body, i, body.length);
      if (i < 0) throw new SyntaxError("the last JSON value is not complete");
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth === 0) start = i;
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push([start, i + 1]);
        start = -1;
      }
      if (depth < 0) throw new SyntaxError(`unexpected "${String.fromCharCode(c)}" at byte ${i}`);
    } else if (depth === 0 && !isSpace(c)) {
      throw new SyntaxError(`expected a JSON object at byte ${i}, found ${describeByte(body, i)}`);
    }
  }
  if (depth !== 0) throw new SyntaxError("the last JSON value is not complete");
  return out;
}

function describeByte(body: Uint8Array, at: number): string {
  const c = body[at]!;
  return c >= 0x20 && c < 0x7f ? `"${String.fromCharCode(c)}"` : `byte 0x${c.toString(16)}`;
}

/** A JSON object of one key whose value is an array: the key, and where each element lies. */
export interface ListText {
  readonly key: string;
  /** Each element's [start, end) in the body, flat: element k is `bounds[2k]` to `bounds[2k + 1]`. */
  readonly bounds: readonly number[];
}

/**
 * The value at `body[start, end)` read as `{"key": [e1, e2, ...]}` without parsing the
 * elements, or undefined when it is anything else (another shape, a key with escapes, text that is
 * not JSON): the caller then parses it whole, and JSON.parse judges it. An element's text is not
 * checked here: parsing it does that.
 */
export function* listElements(
  body: Uint8Array,
  start = 0,
  end = body.length,
): Generator<void, ListText | undefined> {
  // The byte at `at` within the span, -1 past its end (the body may go on with other values).
  const byteAt = (at: number) => (at < end ? body[at]! : -1);
  let i = skipSpace(body, start, end);
  if (byteAt(i) !== OPEN_BRACE) return undefined;
  i = skipSpace(body, i + 1, end);
  if (byteAt(i) !== QUOTE) return undefined;
  const keyStart = ++i;
  while (i < end && body[i] !== QUOTE) {
    if (body[i] === BACKSLASH) return undefined;
    i++;
  }
  if (i >= end) return undefined;
  const key = Buffer.from(body.buffer, body.byteOffset + keyStart, i - keyStart).toString("utf8");
  i = skipSpace(body, i + 1, end);
  if (byteAt(i) !== COLON) return undefined;
  i = skipSpace(body, i + 1, end);
  if (byteAt(i) !== OPEN_BRACKET) return undefined;
  i = skipSpace(body, i + 1, end);
  const bounds: number[] = [];
  if (byteAt(i) === CLOSE_BRACKET) i++;
  else {
    let depth = 0;
    let from = i;
    let pause = i + STEP_BYTES;
    for (; ; i++) {
      if (i >= end) return undefined;
      if (i >= pause) {
        yield;
        pause = i + STEP_BYTES;
      }
      const c = body[i]!;
      if (c === QUOTE) {
        i = stringEnd(body, i, end);
        if (i < 0) return undefined;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || (c === CLOSE_BRACKET && depth > 0)) depth--;
      else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
        bounds.push(from, i);
        from = i + 1;
        if (c === CLOSE_BRACKET) {
          i++;
          break;
        }
      }
    }
  }
  i = skipSpace(body, i, end);
  if (byteAt(i) !== CLOSE_BRACE) return undefined;
  return skipSpace(body, i + 1, end) === end ? { key, bounds } : undefined;
}

/** The first byte at or after `i` (before `end`) that is not whitespace, or `end`. */
function skipSpace(body: Uint8Array, i: number, end: number): number {
  while (i < end && isSpace(body[i]!)) i++;
  return i;
}
