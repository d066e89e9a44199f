/**
 * Text a datastore cannot keep as given: U+0000 and lone surrogates. PostgreSQL's jsonb refuses
 * both (`\u0000` and an unpaired surrogate escape), where SQLite keeps their JSON escapes: a stored
 * caveat context or write metadata holding one would be refused by one datastore with an internal
 * error and kept by the other. Both refuse it up front instead, as invalid input.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding U+0000 is the point
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The index of the first character of `text` no datastore keeps as given, or -1. */
export function unstorableIndex(text: string): number {
  return text.search(UNSTORABLE);
}

/**
 * Where in `value` (a JSON-like value: strings, numbers, lists, maps, plain objects) a string or
 * key holds text no datastore keeps as given: its path (`""` for the value itself), or undefined.
 */
export function unstorableTextAt(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return UNSTORABLE.test(value) ? path : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorableTextAt(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const entries = value instanceof Map ? [...value] : Object.entries(value);
  for (const [k, v] of entries) {
    const key = String(k);
    if (UNSTORABLE.test(key)) return at(key);
    const found = unstorableTextAt(v, at(key));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** How to name a path from `unstorableTextAt` in a message. */
export const describeTextPath = (path: string): string => (path === "" ? "the top" : `\`${path}\``);
