/**
 * A call's request id: the client's `x-request-id` when it is a plausible one, else one made here.
 *
 * Made ids are UUID-shaped (RFC 9562's version 8, the custom layout) and unique without a random
 * draw per call: Node's `randomUUID` refilling its entropy cache was a visible share of a recorded
 * cached Check on the server's thread (the audit record asks every call's id). Each process draws
 * 16 random bytes once; an id is that prefix and a counter passed through a bijection of 32 bits,
 * so ids never repeat within a prefix and do not count the server's calls in the open. After 2^32
 * ids, a new prefix.
 */
import { randomBytes } from "node:crypto";

const GIVEN = /^[\w.:-]{1,128}$/;
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** `given` if it is 1 to 128 of `[A-Za-z0-9_.:-]`, else a new id. */
export function requestIdOr(given: unknown): string {
  return typeof given === "string" && GIVEN.test(given) ? given : nextId();
}

/** A maker of ids from `draw` (16 random bytes a prefix); tests pass their own. */
export function requestIds(draw: () => Buffer = () => randomBytes(16)): () => string {
  let prefix = "";
  let key = 0;
  let count = 0x1_0000_0000;
  return () => {
    if (count === 0x1_0000_0000) {
      const bytes = draw();
      bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8
      bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
      const hex = bytes.toString("hex");
      prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 24)}`;
      key = bytes.readUInt32BE(12);
      count = 0;
    }
    const h = mix32(count++ ^ key);
    // The suffix joined first: strings under 13 characters are joined into flat copies, so the id
    // is one pair (prefix, suffix) instead of a chain of four, which the audit capture's text of
    // ids copies out cheaper and which holds fewer objects while its batch waits (25-35 ns an id
    // less in CPU time, in a loop that also joins 500 ids at a time as the capture does).
    return prefix + (HEX[h >>> 24]! + HEX[(h >>> 16) & 0xff]! + HEX[(h >>> 8) & 0xff]! + HEX[h & 0xff]!);
  };
}

/**
 * A bijection of 32-bit integers that scatters neighbours (xor-shifts and odd multipliers, each
 * invertible; the constants are those of a well-studied 32-bit integer hash).
 */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x21f0aaad);
  h ^= h >>> 15;
  h = Math.imul(h, 0x735a2d97);
  h ^= h >>> 15;
  return h;
}

const nextId = requestIds();
