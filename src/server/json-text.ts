/**
 * JSON text read without parsing it, so that a large body is parsed a piece at a time: the
 * values of a client stream's body, and the elements of a message that is only its list (the HTTP
 * gateway, http-gateway.ts). JSON.parse stays the judge of every piece.
 */

/**
 * The JSON values of a body that holds several, one after another (a client stream): cut where a
 * top-level value ends, outside strings. Each is parsed by JSON.parse after.
 */
export function splitJsonValues(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push(text.slice(start, i + 1));
        start = -1;
      }
      if (depth < 0) throw new SyntaxError(`unexpected "${c}" at offset ${i}`);
    } else if (depth === 0 && !/\s/.test(c)) {
      throw new SyntaxError(`expected a JSON object at offset ${i}, found "${c}"`);
    }
  }
  if (depth !== 0 || inString) throw new SyntaxError("the last JSON value is not complete");
  return out;
}

/** A JSON object of one key whose value is an array: the key, and where each element lies. */
export interface ListText {
  readonly key: string;
  /** Each element's [start, end) in the text, in order. */
  readonly elements: readonly (readonly [number, number])[];
}

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);

/**
 * `text` (one JSON value) read as `{"key": [e1, e2, ...]}` without parsing the elements, or
 * undefined when it is anything else (another shape, a key with escapes, text that is not JSON):
 * the caller then parses it whole, and JSON.parse judges it. An element's text is not checked here:
 * parsing it does that.
 */
export function listElements(text: string): ListText | undefined {
  let i = 0;
  const skip = () => {
    while (i < text.length && WHITESPACE.has(text[i]!)) i++;
  };
  const expect = (c: string) => {
    skip();
    if (text[i] !== c) return false;
    i++;
    return true;
  };
  if (!expect("{") || !expect('"')) return undefined;
  const keyEnd = text.indexOf('"', i);
  if (keyEnd < 0) return undefined;
  const key = text.slice(i, keyEnd);
  if (key.includes("\\")) return undefined;
  i = keyEnd + 1;
  if (!expect(":") || !expect("[")) return undefined;
  const elements: [number, number][] = [];
  skip();
  if (text[i] === "]") i++;
  else {
    let depth = 0;
    let start = i;
    let inString = false;
    for (; ; i++) {
      if (i >= text.length) return undefined;
      const c = text[i]!;
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || (c === "]" && depth > 0)) depth--;
      else if (depth === 0 && (c === "," || c === "]")) {
        elements.push([start, i]);
        start = i + 1;
        if (c === "]") {
          i++;
          break;
        }
      }
    }
  }
  if (!expect("}")) return undefined;
  skip();
  return i === text.length ? { key, elements } : undefined;
}
