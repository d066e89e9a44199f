/**
 * A rough size of a value in bytes, for a byte bound when the caller gives no `sizeOf`. It walks
 * plain data only (bounded depth) and counts what V8 roughly spends; exactness is not the point,
 * proportionality is.
 */
export function estimateSize(value: unknown, depth = 0): number {
  switch (typeof value) {
    case "string":
      return 16 + 2 * value.length;
    case "number":
      return 8;
    case "boolean":
      return 4;
    case "bigint":
      return 16;
    case "undefined":
      return 0;
    case "object":
      break;
    default:
      return 16;
  }
  if (value === null) return 0;
  if (depth > 8) return 64;
  let size = 32;
  if (Array.isArray(value)) {
    for (const item of value) size += 8 + estimateSize(item, depth + 1);
    return size;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) size += 16 + estimateSize(k, depth + 1) + estimateSize(v, depth + 1);
    return size;
  }
  if (value instanceof Set) {
    for (const v of value) size += 8 + estimateSize(v, depth + 1);
    return size;
  }
  if (value instanceof Date) return 48;
  if (ArrayBuffer.isView(value)) return size + value.byteLength;
  for (const [k, v] of Object.entries(value)) size += 8 + 2 * k.length + estimateSize(v, depth + 1);
  return size;
}
