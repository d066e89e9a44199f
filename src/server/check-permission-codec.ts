/**
 * Binary codec for CheckPermission's request and response, beside protobuf-es.
 *
 * Why: protobuf-es reads and writes by reflection (a field table walked per field, a wrapper
 * object per message, a writer that forks and joins). On a cached check that was the largest
 * share of what Latch adds to a bare grpc-js call (about 10 µs of ~30 µs, `node --cpu-prof` on
 * the server of `bench/grpc-bench.ts`). These two functions handle only the common shape of
 * these two messages and hand everything else to protobuf-es, so protobuf-es stays the
 * definition of the format:
 * - a request with only resource, permission, subject, context and with_tracing, each at most once
 *   (context any number of times), with single-byte tags and valid UTF-8: read here, the context by
 *   struct-codec.ts; anything else (consistency, contextual relationships, an unknown or repeated
 *   field, a malformed or truncated message) goes to request-decoder.ts (protobuf-es but for the
 *   contexts), which decodes it or throws as `fromBinary` always did;
 * - a response without a debug trace, approval fields, a witness or unknown fields: written here;
 *   else `toBinary`.
 * test/server/check-permission-codec.test.ts checks both against protobuf-es on generated
 * messages (same message, same bytes).
 */

import { type DescField, type DescMessage, type JsonObject, ScalarType, toBinary } from "@bufbuild/protobuf";
import {
  type ObjectReference,
  ObjectReferenceSchema,
  PartialCaveatInfoSchema,
  type SubjectReference,
  SubjectReferenceSchema,
  ZedTokenSchema,
} from "../gen/latch/v1/core_pb.js";
import {
  type CheckPermissionRequest,
  CheckPermissionRequestSchema,
  type CheckPermissionResponse,
  CheckPermissionResponseSchema,
} from "../gen/latch/v1/permission_service_pb.js";
import { FastReader, type NameSlot, NOT_HANDLED } from "./fast-reader.js";
import { asBuffer, type ServerCodec } from "./grpc-definition.js";
import { requestDecoder } from "./request-decoder.js";
import { type ContextDecodeLimits, ContextReader, DEFAULT_CONTEXT_DECODE_LIMITS } from "./struct-codec.js";

// Wire types of the fields read here: length-delimited and varint.
const LEN = 2;
const VARINT = 0;

/** The wire type protobuf-es writes a field with, for the kinds of field this codec handles. */
function wireTypeOf(field: DescField): number | undefined {
  if (field.fieldKind === "message") return LEN;
  if (field.fieldKind === "enum") return VARINT;
  const scalar = field.fieldKind === "scalar" || field.fieldKind === "list" ? field.scalar : undefined;
  if (scalar === ScalarType.STRING) return LEN;
  if (scalar === ScalarType.BOOL) return VARINT;
  return undefined;
}

/**
 * The tag byte of a field, from the generated descriptor, so that the .proto stays the one place
 * that numbers fields. The codec reads and writes each tag as one byte of a known wire type (the
 * `1 +` in the encoder's sizes): a field renamed, renumbered past 15 or retyped fails here, when
 * the server loads, rather than on the wire.
 */
function tagOf(message: DescMessage, localName: string): number {
  const field = message.field[localName];
  const wireType = field === undefined ? undefined : wireTypeOf(field);
  if (field === undefined || wireType === undefined || field.number > 15) {
    throw new Error(`check-permission-codec: ${message.typeName}.${localName} is not a field it can handle`);
  }
  return (field.number << 3) | wireType;
}

// Read and written in the hot path as plain numbers, derived once here.
const OBJECT_TYPE = tagOf(ObjectReferenceSchema, "objectType");
const OBJECT_ID = tagOf(ObjectReferenceSchema, "objectId");
const SUBJECT_OBJECT = tagOf(SubjectReferenceSchema, "object");
const SUBJECT_RELATION = tagOf(SubjectReferenceSchema, "optionalRelation");
const REQUEST_RESOURCE = tagOf(CheckPermissionRequestSchema, "resource");
const REQUEST_PERMISSION = tagOf(CheckPermissionRequestSchema, "permission");
const REQUEST_SUBJECT = tagOf(CheckPermissionRequestSchema, "subject");
const REQUEST_CONTEXT = tagOf(CheckPermissionRequestSchema, "context");
const REQUEST_WITH_TRACING = tagOf(CheckPermissionRequestSchema, "withTracing");
const RESPONSE_CHECKED_AT = tagOf(CheckPermissionResponseSchema, "checkedAt");
const RESPONSE_PERMISSIONSHIP = tagOf(CheckPermissionResponseSchema, "permissionship");
const RESPONSE_PARTIAL_CAVEAT_INFO = tagOf(CheckPermissionResponseSchema, "partialCaveatInfo");
const TOKEN = tagOf(ZedTokenSchema, "token");
const MISSING_CONTEXT = tagOf(PartialCaveatInfoSchema, "missingRequiredContext");

// The last names read for each field (fast-reader.ts `name`): the resource's type, the subject's
// type and relation and the permission each repeat from call to call, but differ from each other.
const RESOURCE_TYPE: NameSlot = { text: "" };
const SUBJECT_TYPE: NameSlot = { text: "" };
const SUBJECT_RELATION_NAME: NameSlot = { text: "" };
const PERMISSION: NameSlot = { text: "" };

function readObjectReference(r: FastReader, end: number, types: NameSlot): ObjectReference {
  const msg: ObjectReference = { $typeName: "latch.v1.ObjectReference", objectType: "", objectId: "" };
  let seen = 0;
  while (r.pos < end) {
    const t = r.buf[r.pos++]!;
    if (t === OBJECT_TYPE && (seen & 1) === 0) {
      seen |= 1;
      msg.objectType = r.name(end, types);
    } else if (t === OBJECT_ID && (seen & 2) === 0) {
      seen |= 2;
      msg.objectId = r.string(end);
    } else throw NOT_HANDLED;
  }
  return msg;
}

function readSubjectReference(r: FastReader, end: number): SubjectReference {
  const msg: SubjectReference = { $typeName: "latch.v1.SubjectReference", optionalRelation: "" };
  let seen = 0;
  while (r.pos < end) {
    const t = r.buf[r.pos++]!;
    if (t === SUBJECT_OBJECT && (seen & 1) === 0) {
      seen |= 1;
      const stop = r.span(end);
      msg.object = readObjectReference(r, stop, SUBJECT_TYPE);
    } else if (t === SUBJECT_RELATION && (seen & 2) === 0) {
      seen |= 2;
      msg.optionalRelation = r.name(end, SUBJECT_RELATION_NAME);
    } else throw NOT_HANDLED;
  }
  return msg;
}

function readRequest(buf: Buffer, limits: ContextDecodeLimits): CheckPermissionRequest {
  // The same properties, in the same order, as protobuf-es's decoded message.
  const msg: CheckPermissionRequest = {
    $typeName: "latch.v1.CheckPermissionRequest",
    permission: "",
    withTracing: false,
    contextualRelationships: [],
    // A chain (fields 8 and 9) and an actor token (10) are not read here: their tags fall
    // through to protobuf-es.
    onBehalfOf: [],
    subjectGrants: 0,
    actorToken: "",
    consumeApproval: false,
    // Asked for a witness (12): that tag falls through to protobuf-es too.
    withWitness: false,
  };
  const r = new FastReader(buf, 0, false);
  const end = buf.length;
  let seen = 0;
  let contexts: ContextReader | undefined;
  while (r.pos < end) {
    const t = buf[r.pos++]!;
    if (t === REQUEST_CONTEXT) {
      // As protobuf-es reads it, a second occurrence merging into the first; and where protobuf-es
      // would go on after it (past its length, if its bytes say so).
      contexts ??= new ContextReader(buf, limits);
      const context: JsonObject = msg.context ?? {};
      msg.context = context;
      r.pos = contexts.readLengthDelimitedStruct(r.pos, context, 1);
    } else if (t === REQUEST_RESOURCE && (seen & 2) === 0) {
      seen |= 2;
      const stop = r.span(end);
      msg.resource = readObjectReference(r, stop, RESOURCE_TYPE);
    } else if (t === REQUEST_PERMISSION && (seen & 4) === 0) {
      seen |= 4;
      msg.permission = r.name(end, PERMISSION);
    } else if (t === REQUEST_SUBJECT && (seen & 8) === 0) {
      seen |= 8;
      const stop = r.span(end);
      msg.subject = readSubjectReference(r, stop);
    } else if (t === REQUEST_WITH_TRACING && (seen & 16) === 0 && r.pos < end && buf[r.pos]! < 0x80) {
      seen |= 16;
      msg.withTracing = buf[r.pos++] !== 0;
    } else throw NOT_HANDLED;
  }
  return msg;
}

const decodeOthers = requestDecoder(CheckPermissionRequestSchema);

/**
 * The request read by the fast reader alone, or undefined when it is outside what the reader
 * handles. For authzed.api.v1's CheckPermissionRequest, whose fields 1 to 6 are these fields on
 * the wire (authzed/check-permission-codec.ts).
 */
export function readCommonCheckPermissionRequest(
  buf: Buffer,
  limits: ContextDecodeLimits,
): CheckPermissionRequest | undefined {
  try {
    return readRequest(buf, limits);
  } catch (error) {
    if (error !== NOT_HANDLED) throw error;
    return undefined;
  }
}

/**
 * Decodes a CheckPermissionRequest exactly as `fromBinary` does (or by request-decoder.ts), but for
 * a context past `limits` (a typed error).
 */
export function decodeCheckPermissionRequest(
  bytes: Uint8Array,
  limits: ContextDecodeLimits = DEFAULT_CONTEXT_DECODE_LIMITS,
): CheckPermissionRequest {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return readRequest(buf, limits);
  } catch (error) {
    if (error !== NOT_HANDLED) throw error;
    return decodeOthers(buf, limits);
  }
}

export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** UTF-8 length; for ASCII (revision tokens) the string's length, without calling into Buffer. */
export function utf8Length(text: string): number {
  let i = 0;
  while (i < text.length && text.charCodeAt(i) < 0x80) i++;
  return i === text.length ? i : Buffer.byteLength(text, "utf8");
}

/** Writes `text`, `bytes` long in UTF-8 (as utf8Length gave), at `pos`; returns the end. */
export function writeString(buf: Buffer, pos: number, text: string, bytes: number): number {
  if (bytes === text.length) {
    // Only ASCII has as many bytes as UTF-16 units.
    for (let i = 0; i < bytes; i++) buf[pos + i] = text.charCodeAt(i);
    return pos + bytes;
  }
  return pos + buf.write(text, pos, "utf8");
}

export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/**
 * Encodes a CheckPermissionResponse to the bytes `toBinary` gives (fields in number order, proto3
 * defaults left out; strings as Buffer writes UTF-8, as the server configures protobuf-es to).
 */
export function encodeCheckPermissionResponse(msg: CheckPermissionResponse): Buffer {
  const { checkedAt, permissionship, partialCaveatInfo } = msg;
  if (
    msg.debugTrace !== undefined ||
    // An approval gate's fields (set only on gated actions) go the general way. Truthiness, not
    // `!== ""`: authzed.api.v1's response, written here too (authzed/check-permission-codec.ts), lacks them.
    msg.approvalRule ||
    msg.approvalId ||
    // A witness, asked for by few (the console, an auditor): the general way as well.
    (msg.witness?.length ?? 0) > 0 ||
    msg.$unknown !== undefined ||
    checkedAt?.$unknown !== undefined ||
    partialCaveatInfo?.$unknown !== undefined ||
    !(Number.isInteger(permissionship) && permissionship >= 0 && permissionship < 0x80)
  ) {
    return asBuffer(toBinary(CheckPermissionResponseSchema, msg));
  }
  let size = 0;
  let tokenBytes = 0;
  if (checkedAt !== undefined) {
    tokenBytes = utf8Length(checkedAt.token);
    const inner = tokenBytes === 0 ? 0 : 1 + varintSize(tokenBytes) + tokenBytes;
    size += 1 + varintSize(inner) + inner;
  }
  if (permissionship !== 0) size += 2;
  let missing: number[] | undefined;
  let infoBytes = 0;
  if (partialCaveatInfo !== undefined) {
    missing = partialCaveatInfo.missingRequiredContext.map(utf8Length);
    for (const n of missing) infoBytes += 1 + varintSize(n) + n;
    size += 1 + varintSize(infoBytes) + infoBytes;
  }
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (checkedAt !== undefined) {
    buf[pos++] = RESPONSE_CHECKED_AT;
    pos = writeVarint(buf, pos, tokenBytes === 0 ? 0 : 1 + varintSize(tokenBytes) + tokenBytes);
    if (tokenBytes !== 0) {
      buf[pos++] = TOKEN;
      pos = writeVarint(buf, pos, tokenBytes);
      pos = writeString(buf, pos, checkedAt.token, tokenBytes);
    }
  }
  if (permissionship !== 0) {
    buf[pos++] = RESPONSE_PERMISSIONSHIP;
    buf[pos++] = permissionship;
  }
  if (partialCaveatInfo !== undefined && missing !== undefined) {
    buf[pos++] = RESPONSE_PARTIAL_CAVEAT_INFO;
    pos = writeVarint(buf, pos, infoBytes);
    const names = partialCaveatInfo.missingRequiredContext;
    for (let i = 0; i < names.length; i++) {
      buf[pos++] = MISSING_CONTEXT;
      pos = writeVarint(buf, pos, missing[i]!);
      pos = writeString(buf, pos, names[i]!, missing[i]!);
    }
  }
  return buf;
}

/** For `serviceDefinition(PermissionService, { checkPermission: checkPermissionCodec })`. */
export const checkPermissionCodec: ServerCodec = {
  decodeRequest: decodeCheckPermissionRequest,
  encodeResponse: encodeCheckPermissionResponse,
};
