/**
 * Lookup cursors: the revision token of the page (so a resumed lookup reads the same snapshot: no
 * duplicates, no gaps), the position of the last result returned and a digest of the request, so
 * a cursor is refused by a different lookup. LookupResources results come level by level of the
 * walk, in id order within a level: their position is the level and the id (version 2; version
 * 1, the id alone, was theirs when they came in id order after the whole walk). LookupSubjects
 * results come in id order: their position is the id (version 1).
 *
 * The digest is SHA-256 (128 bits of it) of the whole request as canonical text (everything but
 * the cursor, the limit and the consistency, which the cursor's token replaces), hashed once per
 * call. The token is signed by the store; the position is not (a mac per result would cost more
 * than the result), and it is not checked against the walk: a grant that expires between pages
 * takes the cursor's own result out of it. An edited position skips or repeats results the same
 * caller may have without a cursor, no more.
 */
import { LatchError } from "../core/index.js";
import { canonicalContext, requestDigest } from "../store/index.js";
import type { LookupResourcesRequest, LookupSubjectsRequest } from "./types.js";

export interface LookupCursor {
  readonly token: string;
  /** The walk's level of the last result returned (see lookup-resources.ts). */
  readonly level: number;
  readonly after: string;
}

/** The length of a request digest; shorter ones are the 32-bit checksums of earlier versions. */
const DIGEST_LENGTH = 22;

/** `cause` tells a cursor that does not decode from one of another lookup (SpiceDB answers them apart). */
const invalid = (why: string, cause: "malformed" | "other-lookup" = "malformed") =>
  new LatchError("lookup/invalid-cursor", "invalid-argument", `the lookup cursor is not valid: ${why}`, {
    cause,
  });

/** The digest of a request's canonical text (see the top of this file). */
export function fingerprint(text: string): string {
  return requestDigest(text);
}

/** What a LookupResources cursor is bound to. */
export function resourcesRequestPrint(request: LookupResourcesRequest): string {
  const { subject } = request;
  return fingerprint(
    JSON.stringify([
      "lookup-resources",
      request.resourceType,
      request.permission,
      subject.type,
      subject.id,
      subject.relation ?? "",
    ]) + canonicalContext(request.context),
  );
}

/** What a LookupSubjects cursor is bound to. */
export function subjectsRequestPrint(request: LookupSubjectsRequest): string {
  return fingerprint(
    JSON.stringify([
      "lookup-subjects",
      request.resource.type,
      request.resource.id,
      request.permission,
      request.subjectType,
      request.subjectRelation ?? "",
    ]) + canonicalContext(request.context),
  );
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
 * The part every cursor of one lookup shares, encoded once; each result appends its position in
 * clear (ids are plain ASCII without dots; the cursor is opaque to clients all the same).
 * LookupSubjects cursors are version 1: the position is the last subject id (they come in id
 * order). LookupResources cursors are version 2: `level.id` (see lookup-resources.ts).
 */
export function cursorPrefix(token: string, request: string, version: 1 | 2 = 1): string {
  return `${toBase64Url(JSON.stringify([version, token, request]))}.`;
}

/** The shared part of a cursor of `version` for `request`, and what follows it. */
function decodeParts(cursor: string, request: string, version: 1 | 2): { token: string; position: string } {
  const dot = cursor.indexOf(".");
  let parsed: unknown;
  try {
    parsed = dot < 0 ? undefined : JSON.parse(fromBase64Url(cursor.slice(0, dot)));
  } catch {
    throw invalid("malformed");
  }
  if (version === 2 && Array.isArray(parsed) && parsed[0] === 1 && parsed[2] === request) {
    throw invalid(
      "it comes from an earlier version of Latch, which ordered results differently; start the lookup again without a cursor",
    );
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    (parsed[0] !== 1 && parsed[0] !== 2) ||
    typeof parsed[1] !== "string" ||
    typeof parsed[2] !== "string"
  ) {
    throw invalid("malformed");
  }
  if (parsed[2] !== request && parsed[2].length < DIGEST_LENGTH) {
    throw invalid(
      "it comes from an earlier version of Latch, which bound cursors to requests differently; start the lookup again without a cursor",
    );
  }
  if (parsed[0] !== version || parsed[2] !== request) {
    throw invalid("it belongs to a different lookup", "other-lookup");
  }
  return { token: parsed[1], position: cursor.slice(dot + 1) };
}

/** A LookupSubjects cursor: the token and the last subject id. */
export function decodeCursor(cursor: string, request: string): { token: string; after: string } {
  const { token, position } = decodeParts(cursor, request, 1);
  return { token, after: position };
}

/** A LookupResources cursor: the token, and the level and id of the last result. */
export function decodeResourceCursor(cursor: string, request: string): LookupCursor {
  const { token, position } = decodeParts(cursor, request, 2);
  const split = position.indexOf(".");
  const levelText = split < 0 ? "" : position.slice(0, split);
  if (!/^(0|[1-9][0-9]{0,5})$/.test(levelText)) throw invalid("malformed");
  return { token, level: Number(levelText), after: position.slice(split + 1) };
}

/** A LookupResources result's cursor: the lookup's shared prefix, then the result's position. */
export const resourceCursorAt = (prefix: string, level: number, id: string): string =>
  `${prefix}${level}.${id}`;

/**
 * The revision token a cursor pins, or undefined when it does not decode; for a caller that must
 * ask other questions at the revision a resumed lookup will read (delegation's link checks).
 */
export function cursorToken(cursor: string): string | undefined {
  const dot = cursor.indexOf(".");
  if (dot < 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(fromBase64Url(cursor.slice(0, dot)));
    return Array.isArray(parsed) && (parsed[0] === 1 || parsed[0] === 2) && typeof parsed[1] === "string"
      ? parsed[1]
      : undefined;
  } catch {
    return undefined;
  }
}
