/**
 * A caveat context as one text however it was built: object keys in order, bigints and numbers
 * JSON has no text for (NaN, Infinity) tagged rather than turned into null or refused, undefined
 * members left out; an empty context is no context (`null`). What lookup cursors and approvals
 * are bound to (a context that is not JSON-safe must not fail the check that carries it).
 */
export function canonicalContext(context: Readonly<Record<string, unknown>> | undefined): string {
  if (context === undefined) return "null";
  const text = JSON.stringify(context, (_key, value: unknown) => {
    if (typeof value === "bigint") return { $bigint: value.toString() };
    if (typeof value === "number" && !Number.isFinite(value)) return { $number: String(value) };
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    const entries = Object.entries(value as Record<string, unknown>);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries);
  });
  return text === "{}" ? "null" : text;
}
