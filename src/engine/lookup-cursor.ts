/**
 * LookupResources cursors: the revision token of the page (so a resumed lookup reads the same
 * snapshot: no duplicates, no gaps), the last resource id returned (results come in id order) and
 * a fingerprint of the request, so a cursor is refused by a different lookup.
 */
import { LatchError } from "../core/index.js";

export interface LookupCursor {
  readonly token: string;
  readonly after: string;
}

/** `cause` tells a cursor that does not decode from one of another lookup (SpiceDB answers them apart). */
const invalid = (why: string, cause: "malformed" | "other-lookup" = "malformed") =>
  new LatchError("lookup/invalid-cursor", "invalid-argument", `the lookup cursor is not valid: ${why}`, {
    cause,
  });

/** FNV-1a, 32 bits: enough to tell one request from another, not a security boundary. */
export function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

/**
 * The part every cursor of one lookup shares, encoded once; each result appends its id in clear
 * (ids are plain ASCII; the cursor is opaque to clients all the same).
 */
export function cursorPrefix(token: string, request: string): string {
  return `${toBase64Url(JSON.stringify([1, token, request]))}.`;
}

export function decodeCursor(cursor: string, request: string): LookupCursor {
  const dot = cursor.indexOf(".");
  let parsed: unknown;
  try {
    parsed = dot < 0 ? undefined : JSON.parse(fromBase64Url(cursor.slice(0, dot)));
  } catch {
    throw invalid("malformed");
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    parsed[0] !== 1 ||
    typeof parsed[1] !== "string" ||
    typeof parsed[2] !== "string"
  ) {
    throw invalid("malformed");
  }
  if (parsed[2] !== request) throw invalid("it belongs to a different lookup", "other-lookup");
  return { token: parsed[1], after: cursor.slice(dot + 1) };
}

/**
 * The revision token a cursor pins, or undefined when it does not decode; for a caller that must
 * ask other questions at the revision a resumed lookup will read (delegation's link checks).
 */
export function cursorToken(cursor: string): string | undefined {
  const dot = cursor.indexOf(".");
  if (dot < 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(fromBase64Url(cursor.slice(0, dot)));
    return Array.isArray(parsed) && parsed[0] === 1 && typeof parsed[1] === "string" ? parsed[1] : undefined;
  } catch {
    return undefined;
  }
}
