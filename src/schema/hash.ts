/** A stable 64-bit FNV-1a hash, pure JS so the schema module runs anywhere. */

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;

export function fnv1a64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let hash = OFFSET;
  for (const byte of bytes) {
    hash ^= BigInt(byte);
    hash = BigInt.asUintN(64, hash * PRIME);
  }
  return hash.toString(16).padStart(16, "0");
}
