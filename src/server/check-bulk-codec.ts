/**
 * Binary codec for CheckBulkPermissions' request and response (latch.v1), beside protobuf-es.
 *
 * Why: a bulk of cached checks is decoded and encoded per item, and protobuf-es does that by
 * reflection; with the response echoing every request item, that was about 40% of the server's CPU
 * per item of a bulk of 64 cached checks (`node --cpu-prof` on bench/bulk-instructions.ts), which
 * is what batching clients send (issue 22).
 *
 * What it handles, and why the answer is exactly protobuf-es's:
 * - a request of items alone (no consistency, contextual relationships or actor token), each item
 *   with only resource, permission and subject, written canonically: each field once, in field
 *   order, no empty string, minimal varints, ASCII or valid UTF-8. Such an item is what `toBinary`
 *   writes for the message `fromBinary` reads from it, so its bytes are kept (a view of the
 *   request) and written back as they are where the response echoes the item. Anything else goes
 *   to request-decoder.ts (protobuf-es but for the contexts), which decodes it or throws as
 *   `fromBinary` always did.
 * - a response whose echoed items are such items (or none), and whose answers and errors carry no
 *   unknown fields: written here, fields in number order with proto3 defaults left out, as
 *   `toBinary` does; anything else by `toBinary`.
 * test/server/check-bulk-codec.test.ts checks both against protobuf-es (same message, same bytes).
 */

import { toBinary } from "@bufbuild/protobuf";
import type { ObjectReference, SubjectReference } from "../gen/latch/v1/core_pb.js";
import {
  type CheckBulkPermissionsPair,
  type CheckBulkPermissionsRequest,
  type CheckBulkPermissionsRequestItem,
  CheckBulkPermissionsRequestSchema,
  type CheckBulkPermissionsResponse,
  CheckBulkPermissionsResponseSchema,
} from "../gen/latch/v1/permission_service_pb.js";
import { utf8Length, varintSize, writeString, writeVarint } from "./check-permission-codec.js";
import { FastReader, type NameSlot, NOT_HANDLED } from "./fast-reader.js";
import { asBuffer, type ServerCodec } from "./grpc-definition.js";
import { requestDecoder } from "./request-decoder.js";
import { type ContextDecodeLimits, DEFAULT_CONTEXT_DECODE_LIMITS } from "./struct-codec.js";

// Tags (field number << 3 | wire type) of the fields read and written here; every one is a single
// byte. LEN = 2, VARINT = 0. Checked against the descriptors by the codec's test.
export const BULK_TAGS = {
  requestItems: (2 << 3) | 2,
  itemResource: (1 << 3) | 2,
  itemPermission: (2 << 3) | 2,
  itemSubject: (3 << 3) | 2,
  objectType: (1 << 3) | 2,
  objectId: (2 << 3) | 2,
  subjectObject: (1 << 3) | 2,
  subjectRelation: (2 << 3) | 2,
  responseCheckedAt: (1 << 3) | 2,
  responsePairs: (2 << 3) | 2,
  tokenToken: (1 << 3) | 2,
  pairRequest: (1 << 3) | 2,
  pairItem: (2 << 3) | 2,
  pairError: (3 << 3) | 2,
  itemPermissionship: (1 << 3) | 0,
  itemPartialCaveatInfo: (2 << 3) | 2,
  itemApprovalRule: (3 << 3) | 2,
  itemApprovalId: (4 << 3) | 2,
  missingContext: (1 << 3) | 2,
  errorStatusCode: (1 << 3) | 0,
  errorCode: (2 << 3) | 2,
  errorMessage: (3 << 3) | 2,
} as const;
const T = BULK_TAGS;

/** The bytes each item decoded here was read from: exactly what `toBinary` writes for it. */
const itemBytes = new WeakMap<CheckBulkPermissionsRequestItem, Buffer>();

// The last names read for each field (fast-reader.ts `name`): an item's names mostly repeat the
// item's before it, in a bulk and from one bulk to the next.
const RESOURCE_TYPE: NameSlot = { text: "" };
const SUBJECT_TYPE: NameSlot = { text: "" };
const SUBJECT_RELATION: NameSlot = { text: "" };
const PERMISSION: NameSlot = { text: "" };

function readObjectReference(r: FastReader, end: number, types: NameSlot): ObjectReference {
  const msg: ObjectReference = { $typeName: "latch.v1.ObjectReference", objectType: "", objectId: "" };
  if (r.pos < end && r.buf[r.pos] === T.objectType) {
    r.pos++;
    msg.objectType = r.name(end, types);
  }
  if (r.pos < end && r.buf[r.pos] === T.objectId) {
    r.pos++;
    msg.objectId = r.string(end);
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return msg;
}

function readSubjectReference(r: FastReader, end: number): SubjectReference {
  const msg: SubjectReference = { $typeName: "latch.v1.SubjectReference", optionalRelation: "" };
  if (r.pos < end && r.buf[r.pos] === T.subjectObject) {
    r.pos++;
    const stop = r.span(end);
    msg.object = readObjectReference(r, stop, SUBJECT_TYPE);
  }
  if (r.pos < end && r.buf[r.pos] === T.subjectRelation) {
    r.pos++;
    msg.optionalRelation = r.name(end, SUBJECT_RELATION);
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return msg;
}

function readItem(r: FastReader, end: number): CheckBulkPermissionsRequestItem {
  // The same properties, in the same order, as protobuf-es's decoded message.
  const msg: CheckBulkPermissionsRequestItem = {
    $typeName: "latch.v1.CheckBulkPermissionsRequestItem",
    permission: "",
    onBehalfOf: [],
    subjectGrants: 0,
    consumeApproval: false,
  };
  const start = r.pos;
  const buf = r.buf;
  if (r.pos < end && buf[r.pos] === T.itemResource) {
    r.pos++;
    const stop = r.span(end);
    msg.resource = readObjectReference(r, stop, RESOURCE_TYPE);
  }
  if (r.pos < end && buf[r.pos] === T.itemPermission) {
    r.pos++;
    msg.permission = r.name(end, PERMISSION);
  }
  if (r.pos < end && buf[r.pos] === T.itemSubject) {
    r.pos++;
    const stop = r.span(end);
    msg.subject = readSubjectReference(r, stop);
  }
  if (r.pos !== end) throw NOT_HANDLED;
  itemBytes.set(msg, buf.subarray(start, end));
  return msg;
}

function readRequest(buf: Buffer): CheckBulkPermissionsRequest {
  const items: CheckBulkPermissionsRequestItem[] = [];
  const r = new FastReader(buf, 0, true);
  const end = buf.length;
  while (r.pos < end) {
    if (buf[r.pos++] !== T.requestItems) throw NOT_HANDLED;
    const stop = r.span(end);
    items.push(readItem(r, stop));
  }
  return {
    $typeName: "latch.v1.CheckBulkPermissionsRequest",
    items,
    contextualRelationships: [],
    actorToken: "",
  };
}

const decodeOthers = requestDecoder(CheckBulkPermissionsRequestSchema);

/**
 * Decodes a CheckBulkPermissionsRequest exactly as `fromBinary` does (or by request-decoder.ts), but
 * for a context past `limits` (a typed error).
 */
export function decodeCheckBulkPermissionsRequest(
  bytes: Uint8Array,
  limits: ContextDecodeLimits = DEFAULT_CONTEXT_DECODE_LIMITS,
): CheckBulkPermissionsRequest {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return readRequest(buf);
  } catch (error) {
    if (error !== NOT_HANDLED) throw error;
    return decodeOthers(buf, limits);
  }
}

/** A string field's size (tag, length, bytes), 0 for "" (left off the wire); its UTF-8 length in `lengths`. */
function stringField(text: string, lengths: number[]): number {
  if (text === "") return 0;
  const n = utf8Length(text);
  lengths.push(n);
  return 1 + varintSize(n) + n;
}

/**
 * Pushes the encoded size of each pair's body, in order, with the UTF-8 lengths of its strings;
 * false when a pair is outside what is written here.
 */
function sizePairs(pairs: readonly CheckBulkPermissionsPair[], sizes: number[], lengths: number[]): boolean {
  for (const pair of pairs) {
    if (pair.$unknown !== undefined) return false;
    let size = 0;
    if (pair.request !== undefined) {
      const raw = itemBytes.get(pair.request);
      if (raw === undefined) return false;
      size += 1 + varintSize(raw.length) + raw.length;
    }
    const { response } = pair;
    if (response.case === "item") {
      const item = response.value;
      const p = item.permissionship;
      if (item.$unknown !== undefined || !(Number.isInteger(p) && p >= 0 && p < 0x80)) return false;
      let inner = p === 0 ? 0 : 2;
      const info = item.partialCaveatInfo;
      if (info !== undefined) {
        if (info.$unknown !== undefined) return false;
        const at = lengths.length;
        lengths.push(0);
        let infoBytes = 0;
        for (const name of info.missingRequiredContext) {
          const n = utf8Length(name);
          lengths.push(n);
          infoBytes += 1 + varintSize(n) + n;
        }
        lengths[at] = infoBytes;
        inner += 1 + varintSize(infoBytes) + infoBytes;
      }
      inner += stringField(item.approvalRule, lengths) + stringField(item.approvalId, lengths);
      sizes.push(inner);
      size += 1 + varintSize(inner) + inner;
    } else if (response.case === "error") {
      const error = response.value;
      const code = error.statusCode;
      if (error.$unknown !== undefined || !(Number.isInteger(code) && code >= 0 && code <= 0x7fffffff))
        return false;
      const inner =
        (code === 0 ? 0 : 1 + varintSize(code)) +
        stringField(error.errorCode, lengths) +
        stringField(error.message, lengths);
      sizes.push(inner);
      size += 1 + varintSize(inner) + inner;
    }
    sizes.push(size);
  }
  return true;
}

/** Writes a string field of `n` UTF-8 bytes (as sized by `stringField`). */
function putString(buf: Buffer, pos: number, tag: number, text: string, n: number): number {
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, n);
  return writeString(buf, pos, text, n);
}

function writePairs(
  buf: Buffer,
  start: number,
  pairs: readonly CheckBulkPermissionsPair[],
  sizes: readonly number[],
  lengths: readonly number[],
): number {
  let pos = start;
  let s = 0;
  let k = 0;
  for (const pair of pairs) {
    const { response } = pair;
    const inner = response.case === undefined ? 0 : sizes[s++]!;
    buf[pos++] = T.responsePairs;
    pos = writeVarint(buf, pos, sizes[s++]!);
    if (pair.request !== undefined) {
      const raw = itemBytes.get(pair.request)!;
      buf[pos++] = T.pairRequest;
      pos = writeVarint(buf, pos, raw.length);
      pos += raw.copy(buf, pos);
    }
    if (response.case === "item") {
      const item = response.value;
      buf[pos++] = T.pairItem;
      pos = writeVarint(buf, pos, inner);
      if (item.permissionship !== 0) {
        buf[pos++] = T.itemPermissionship;
        buf[pos++] = item.permissionship;
      }
      const info = item.partialCaveatInfo;
      if (info !== undefined) {
        buf[pos++] = T.itemPartialCaveatInfo;
        pos = writeVarint(buf, pos, lengths[k++]!);
        for (const name of info.missingRequiredContext)
          pos = putString(buf, pos, T.missingContext, name, lengths[k++]!);
      }
      if (item.approvalRule !== "")
        pos = putString(buf, pos, T.itemApprovalRule, item.approvalRule, lengths[k++]!);
      if (item.approvalId !== "") pos = putString(buf, pos, T.itemApprovalId, item.approvalId, lengths[k++]!);
    } else if (response.case === "error") {
      const error = response.value;
      buf[pos++] = T.pairError;
      pos = writeVarint(buf, pos, inner);
      if (error.statusCode !== 0) {
        buf[pos++] = T.errorStatusCode;
        pos = writeVarint(buf, pos, error.statusCode);
      }
      if (error.errorCode !== "") pos = putString(buf, pos, T.errorCode, error.errorCode, lengths[k++]!);
      if (error.message !== "") pos = putString(buf, pos, T.errorMessage, error.message, lengths[k++]!);
    }
  }
  return pos;
}

/**
 * Encodes a CheckBulkPermissionsResponse to the bytes `toBinary` gives, or by `toBinary` when it is
 * outside what is written here.
 */
export function encodeCheckBulkPermissionsResponse(msg: CheckBulkPermissionsResponse): Buffer {
  const { checkedAt, pairs } = msg;
  // Per pair: its answer's or error's body size (when it has one), then the pair's body size.
  const sizes: number[] = [];
  const lengths: number[] = [];
  if (msg.$unknown !== undefined || checkedAt?.$unknown !== undefined || !sizePairs(pairs, sizes, lengths))
    return asBuffer(toBinary(CheckBulkPermissionsResponseSchema, msg));
  let size = 0;
  let tokenBytes = 0;
  let tokenField = 0;
  if (checkedAt !== undefined) {
    tokenBytes = utf8Length(checkedAt.token);
    tokenField = tokenBytes === 0 ? 0 : 1 + varintSize(tokenBytes) + tokenBytes;
    size += 1 + varintSize(tokenField) + tokenField;
  }
  let s = 0;
  for (const pair of pairs) {
    if (pair.response.case !== undefined) s++;
    const body = sizes[s++]!;
    size += 1 + varintSize(body) + body;
  }
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (checkedAt !== undefined) {
    buf[pos++] = T.responseCheckedAt;
    pos = writeVarint(buf, pos, tokenField);
    if (tokenBytes !== 0) pos = putString(buf, pos, T.tokenToken, checkedAt.token, tokenBytes);
  }
  pos = writePairs(buf, pos, pairs, sizes, lengths);
  if (pos !== size) throw new Error(`check-bulk-codec: wrote ${pos} bytes of ${size}`);
  return buf;
}

/** For `serviceDefinition(PermissionService, { checkBulkPermissions: checkBulkPermissionsCodec })`. */
export const checkBulkPermissionsCodec: ServerCodec = {
  decodeRequest: decodeCheckBulkPermissionsRequest,
  encodeResponse: encodeCheckBulkPermissionsResponse,
};
