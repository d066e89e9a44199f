/**
 * The one place where Latch's typed errors become gRPC status codes. Everything inside the server
 * throws LatchError (or lets something unexpected escape); this module decides what the caller sees.
 */
import { Metadata, status } from "@grpc/grpc-js";
import {
  clip,
  type ErrorCode,
  type ErrorDetails,
  type ErrorKind,
  isLatchError,
  type LatchError,
} from "../core/index.js";

const STATUS_BY_KIND: Readonly<Record<ErrorKind, status>> = {
  "invalid-argument": status.INVALID_ARGUMENT,
  "failed-precondition": status.FAILED_PRECONDITION,
  "not-found": status.NOT_FOUND,
  "already-exists": status.ALREADY_EXISTS,
  "resource-exhausted": status.RESOURCE_EXHAUSTED,
  "deadline-exceeded": status.DEADLINE_EXCEEDED,
  unavailable: status.UNAVAILABLE,
  unauthenticated: status.UNAUTHENTICATED,
  "permission-denied": status.PERMISSION_DENIED,
  internal: status.INTERNAL,
};

export function statusForKind(kind: ErrorKind): status {
  return STATUS_BY_KIND[kind] ?? status.INTERNAL;
}

/** What a failed call answers: code, message and trailing metadata. */
export interface WireError {
  readonly code: status;
  readonly details: string;
  readonly metadata: Metadata;
  /** Whether this was an unexpected failure whose real cause must be logged, not sent. */
  readonly unexpected: boolean;
  /** Latch's stable error code, for logs and metrics. */
  readonly errorCode: string;
  /** The details as the metadata carries them (JSON within MAX_ERROR_DETAILS_BYTES), for HTTP. */
  readonly detailsJson?: string | undefined;
}

/*
 * Size budgets of a failed call. The status message (grpc-message) and the error details
 * (`latch-error-details-bin`) travel in HTTP/2 trailers, and the receiving side refuses a header
 * list over its SETTINGS_MAX_HEADER_LIST_SIZE: grpc-js sets none, so Node's http2 default of
 * 65535 octets applies on both ends (checked in grpc-js 1.14.7: it only raises
 * maxSendHeaderBlockLength). A trailer over it never reaches the client, whose call then ends in
 * DEADLINE_EXCEEDED, and the connection it came on is left broken. grpc-js percent-encodes the
 * message with encodeURI (up to 9 octets per UTF-16 unit) and base64-encodes `-bin` values (4/3),
 * so the budgets below keep the worst case near 12 + 11 KiB: a third of the limit.
 */
/** Characters of the status message. */
export const MAX_STATUS_MESSAGE_CHARS = 4096;
/** Octets of the status message once percent-encoded as grpc-js sends it. */
export const MAX_STATUS_MESSAGE_OCTETS = 12 * 1024;
/** Octets of the JSON in `latch-error-details-bin`, before base64. */
export const MAX_ERROR_DETAILS_BYTES = 8 * 1024;
/** Schema diagnostics listed in the message and the details; `diagnosticCount` gives all. */
export const MAX_WIRE_DIAGNOSTICS = 20;
/** When details must shrink: items kept of an array, keys of an object, levels of nesting. */
const SHRINK_ITEMS = 20;
const SHRINK_DEPTH = 4;

interface Diagnostic {
  readonly code?: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly message?: string;
}

function diagnosticsOf(error: LatchError): readonly Diagnostic[] {
  const own = (error as { diagnostics?: unknown }).diagnostics;
  const list = Array.isArray(own) ? own : error.details.diagnostics;
  return Array.isArray(list) ? (list as Diagnostic[]) : [];
}

/** How many diagnostics there were in all: a SchemaError may keep fewer than it counted. */
function diagnosticCountOf(error: LatchError, kept: number): number {
  const own = (error as { diagnosticCount?: unknown }).diagnosticCount ?? error.details.diagnosticCount;
  return typeof own === "number" && own > kept ? own : kept;
}

function formatDiagnostic(d: Diagnostic): string {
  const where = [d.file ?? "schema", d.line, d.column].filter((x) => x !== undefined).join(":");
  return `${where}: ${clip(d.message ?? "error", 512)}`;
}

/** What the details carry of one diagnostic: where and what, without the source excerpt. */
function wireDiagnostic(d: Diagnostic): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof d.code === "string") out.code = clip(d.code);
  if (typeof d.file === "string") out.file = clip(d.file);
  if (typeof d.line === "number") out.line = d.line;
  if (typeof d.column === "number") out.column = d.column;
  out.message = clip(typeof d.message === "string" ? d.message : "error", 512);
  return out;
}

/** Makes an error message that says which field was wrong and why, and where in a schema. */
function describe(error: LatchError): string {
  let text = error.message;
  const field = error.details.field;
  if (typeof field === "string" && !text.includes(field)) text = `${clip(field)}: ${text}`;
  const diagnostics = diagnosticsOf(error);
  const shown = diagnostics.slice(0, MAX_WIRE_DIAGNOSTICS);
  const lines = shown.map(formatDiagnostic).filter((line) => !text.includes(line));
  if (lines.length > 0) text = `${text}\n${lines.join("\n")}`;
  const total = diagnosticCountOf(error, diagnostics.length);
  if (total > shown.length) text = `${text}\n… and ${total - shown.length} more`;
  return boundStatusMessage(text);
}

/** Characters encodeURI leaves as they are; any other is sent as %XX per UTF-8 octet. */
const URI_SAFE = /[A-Za-z0-9;,/?:@&=+$\-_.!~*'()#]/;

function encodedOctets(char: string): number {
  if (URI_SAFE.test(char)) return 1;
  const cp = char.codePointAt(0) ?? 0;
  return 3 * (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
}

/** Lone surrogates make encodeURI throw inside grpc-js; a replacement character says the same. */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** Room for the note that says how much was cut: ` … (N more characters)`, percent-encoded. */
const NOTE_CHARS = 40;
const NOTE_OCTETS = 160;

/**
 * The status message within both budgets: at most MAX_STATUS_MESSAGE_CHARS characters and
 * MAX_STATUS_MESSAGE_OCTETS once percent-encoded, cut with a note of how much is missing.
 */
export function boundStatusMessage(message: string): string {
  const sample = wellFormed(message.slice(0, MAX_STATUS_MESSAGE_CHARS + 1));
  let octets = 0;
  let end = 0;
  let cut = -1;
  for (const char of sample) {
    octets += encodedOctets(char);
    if (
      cut < 0 &&
      (end + char.length > MAX_STATUS_MESSAGE_CHARS - NOTE_CHARS ||
        octets > MAX_STATUS_MESSAGE_OCTETS - NOTE_OCTETS)
    )
      cut = end;
    if (end + char.length > MAX_STATUS_MESSAGE_CHARS || octets > MAX_STATUS_MESSAGE_OCTETS) break;
    end += char.length;
  }
  if (end === message.length) return sample;
  const head = sample.slice(0, cut < 0 ? end : cut);
  return `${head} … (${message.length - head.length} more characters)`;
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? "null",
  );
}

/** A JSON value cut down: strings clipped, arrays and objects to their first items, depth bounded. */
function shrink(value: unknown, depth: number): unknown {
  if (typeof value === "string") return clip(value);
  if (value === null || typeof value !== "object") return value;
  if (depth >= SHRINK_DEPTH) return Array.isArray(value) ? [] : {};
  if (Array.isArray(value)) return value.slice(0, SHRINK_ITEMS).map((v) => shrink(v, depth + 1));
  const out: Record<string, unknown> = {};
  let kept = 0;
  for (const [k, v] of Object.entries(value)) {
    if (kept++ >= SHRINK_ITEMS) break;
    out[clip(k)] = shrink(v, depth + 1);
  }
  return out;
}

function fits(json: string): boolean {
  return Buffer.byteLength(json, "utf8") <= MAX_ERROR_DETAILS_BYTES;
}

/**
 * The details as JSON of at most MAX_ERROR_DETAILS_BYTES. Details over it are shrunk (and marked
 * `truncated: true`); if even that is too large, only their short top-level values are kept.
 */
export function boundDetails(details: unknown): string {
  const safe = jsonSafe(details);
  const whole = JSON.stringify(safe);
  if (fits(whole)) return whole;
  const shrunk = JSON.stringify({ ...(shrink(safe, 0) as object), truncated: true });
  if (fits(shrunk)) return shrunk;
  const scalars: Record<string, unknown> = {};
  if (safe !== null && typeof safe === "object" && !Array.isArray(safe)) {
    for (const [k, v] of Object.entries(safe).slice(0, SHRINK_ITEMS)) {
      if (typeof v === "number" || typeof v === "boolean") scalars[clip(k, 64)] = v;
      else if (typeof v === "string") scalars[clip(k, 64)] = clip(v);
    }
  }
  const last = JSON.stringify({ ...scalars, truncated: true });
  return fits(last) ? last : JSON.stringify({ truncated: true });
}

/** The details as bounded JSON, or undefined when they do not serialise. */
function detailsJsonOf(details: unknown): string | undefined {
  try {
    return boundDetails(details);
  } catch {
    // Details that do not serialise are only a convenience; the message already says enough.
    return undefined;
  }
}

/** Grpc metadata values must be ASCII; strings with anything else travel in a `-bin` key. */
function errorMetadata(code: string, detailsJson: string | undefined, requestId: string): Metadata {
  const metadata = new Metadata();
  metadata.set("latch-error-code", clip(code));
  metadata.set("latch-request-id", requestId);
  if (detailsJson !== undefined) metadata.set("latch-error-details-bin", Buffer.from(detailsJson, "utf8"));
  return metadata;
}

/** The details of a schema error: the first diagnostics, compact, and how many there were. */
function wireDetails(error: LatchError): ErrorDetails {
  const diagnostics = diagnosticsOf(error);
  if (diagnostics.length === 0) return error.details;
  const total = diagnosticCountOf(error, diagnostics.length);
  const shown = diagnostics.slice(0, MAX_WIRE_DIAGNOSTICS).map(wireDiagnostic);
  return { ...error.details, diagnostics: shown, diagnosticCount: total, truncated: total > shown.length };
}

export function toWireError(error: unknown, requestId: string): WireError {
  if (isLatchError(error) && error.kind !== "internal") {
    const detailsJson = detailsJsonOf(wireDetails(error));
    return {
      code: statusForKind(error.kind),
      details: describe(error),
      metadata: errorMetadata(error.code, detailsJson, requestId),
      unexpected: false,
      errorCode: error.code,
      detailsJson,
    };
  }
  const code: ErrorCode = isLatchError(error) ? error.code : "internal/unexpected";
  return {
    code: status.INTERNAL,
    details: `internal error (request id ${requestId})`,
    metadata: errorMetadata(code, "{}", requestId),
    unexpected: true,
    errorCode: code,
    detailsJson: "{}",
  };
}

// Raised by the service layer's validation; re-exported so the edge keeps one import for errors.
export { invalidArgument, overLimit, RequestError } from "../service/index.js";
