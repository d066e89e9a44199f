/**
 * Bounds on what an error echoes back. Names, ids, relationship strings and context keys come from
 * callers and can be megabytes long; an error that repeats them whole becomes a gRPC trailer too
 * large for HTTP/2 (the status never arrives and the connection breaks), a log line of megabytes,
 * or a terminal full of one name. Every value a message or its details quote goes through `clip`.
 */

/** Longest echo of one value: longer than any valid name (64) or a readable id. */
export const CLIP_LENGTH = 128;

/** `value` itself when short; else its start, an ellipsis and its length: `aaaa… (1048576 characters)`. */
export function clip(value: string, max = CLIP_LENGTH): string {
  if (value.length <= max) return value;
  return `${headOf(value, max)}… (${value.length} characters)`;
}

/**
 * Bounds a whole text (a message built of many parts, not one quoted value) to `max` characters,
 * the note included: its start, then `… (N more characters)`.
 */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  // The note's length depends on N; the longest N is text.length, so reserve for that.
  const reserve = ` … (${text.length} more characters)`.length;
  const head = headOf(text, Math.max(0, max - reserve));
  return `${head} … (${text.length - head.length} more characters)`;
}

/** The first `max` UTF-16 units, one fewer when that would split a surrogate pair. */
function headOf(text: string, max: number): string {
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** A `JSON.stringify` replacer that clips every string value and writes bigints as strings. */
export function clipJson(_key: string, value: unknown): unknown {
  if (typeof value === "string") return clip(value);
  return typeof value === "bigint" ? value.toString() : value;
}
