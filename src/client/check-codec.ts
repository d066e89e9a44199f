/**
 * Binary codec for the client's hot messages: CheckPermission and CheckBulkPermissions, request and
 * response, on the node:http2 transport.
 *
 * Why: protobuf-es reads and writes by reflection (a field table walked per field, a wrapper per
 * message, a writer that forks and joins), and `create` copies every request before `toBinary`
 * does; per check that was a large share of the client's CPU, which capped a pipeline's checks/s
 * (issue 22). The discipline is the server's (src/server/check-permission-codec.ts): handle the
 * common shape by hand, hand everything else to protobuf-es, which stays the definition:
 * - requests are written from their init shapes straight into a framed buffer (the 5-byte gRPC
 *   prefix included, no copy after), the bytes `toBinary(create(...))` gives; a request with a
 *   context (a Struct), contextual relationships or unknown fields goes through protobuf-es;
 * - responses are read as `fromBinary(..., { readUnknownFields: false })` reads them: unknown fields
 *   skipped, open enums kept as numbers, the last of a repeated scalar winning. A debug trace is
 *   read by protobuf-es; an echoed bulk item with a context, a singular message field sent twice
 *   (protobuf merges those), a group, a wire type other than the field's, invalid UTF-8 or a
 *   truncated message send the whole message to protobuf-es, which decodes it or throws.
 * There is no packed field here: the only repeated scalar is a string list.
 * test/client/check-codec.test.ts checks both directions against protobuf-es on random messages.
 */
import { isUtf8 } from "node:buffer";
import {
  type BinaryReadOptions,
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import {
  ConsistencySchema,
  ObjectReferenceSchema,
  PartialCaveatInfoSchema,
  SubjectReferenceSchema,
  ZedTokenSchema,
} from "../gen/latch/v1/core_pb.js";
import {
  type CheckBulkPermissionsError,
  CheckBulkPermissionsErrorSchema,
  type CheckBulkPermissionsPair,
  CheckBulkPermissionsPairSchema,
  type CheckBulkPermissionsRequestItem,
  CheckBulkPermissionsRequestItemSchema,
  CheckBulkPermissionsRequestSchema,
  type CheckBulkPermissionsResponse,
  type CheckBulkPermissionsResponseItem,
  CheckBulkPermissionsResponseItemSchema,
  CheckBulkPermissionsResponseSchema,
  CheckPermissionRequestSchema,
  type CheckPermissionResponse,
  CheckPermissionResponseSchema,
  CheckTraceSchema,
} from "../gen/latch/v1/permission_service_pb.js";

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

function wireTypeOf(field: DescField): number | undefined {
  if (field.fieldKind === "message") return LEN;
  // A repeated string is never packed; a repeated number would be, and is not handled here.
  if (field.fieldKind === "list")
    return field.listKind === "message" || field.scalar === ScalarType.STRING ? LEN : undefined;
  if (field.fieldKind === "enum") return VARINT;
  if (field.fieldKind !== "scalar") return undefined;
  if (field.scalar === ScalarType.STRING) return LEN;
  if (field.scalar === ScalarType.BOOL || field.scalar === ScalarType.INT32) return VARINT;
  return undefined;
}

/**
 * A field's one-byte tag, from the generated descriptor, so the .proto stays the one place that
 * numbers fields: a field renamed, renumbered past 15 or retyped fails here, when the client loads.
 */
function tagOf(message: DescMessage, localName: string): number {
  const field = message.field[localName];
  const wireType = field === undefined ? undefined : wireTypeOf(field);
  if (field === undefined || wireType === undefined || field.number > 15)
    throw new Error(`check-codec: ${message.typeName}.${localName} is not a field it can handle`);
  return (field.number << 3) | wireType;
}

const OBJECT_TYPE = tagOf(ObjectReferenceSchema, "objectType");
const OBJECT_ID = tagOf(ObjectReferenceSchema, "objectId");
const SUBJECT_OBJECT = tagOf(SubjectReferenceSchema, "object");
const SUBJECT_RELATION = tagOf(SubjectReferenceSchema, "optionalRelation");
const TOKEN = tagOf(ZedTokenSchema, "token");
const MISSING = tagOf(PartialCaveatInfoSchema, "missingRequiredContext");
const MINIMIZE_LATENCY = tagOf(ConsistencySchema, "minimizeLatency");
const AT_LEAST_AS_FRESH = tagOf(ConsistencySchema, "atLeastAsFresh");
const AT_EXACT_SNAPSHOT = tagOf(ConsistencySchema, "atExactSnapshot");
const FULLY_CONSISTENT = tagOf(ConsistencySchema, "fullyConsistent");

const Q = (name: string) => tagOf(CheckPermissionRequestSchema, name);
const CHECK = {
  consistency: Q("consistency"),
  resource: Q("resource"),
  permission: Q("permission"),
  subject: Q("subject"),
  withTracing: Q("withTracing"),
  onBehalfOf: Q("onBehalfOf"),
  subjectGrants: Q("subjectGrants"),
  actorToken: Q("actorToken"),
  consumeApproval: Q("consumeApproval"),
  withWitness: Q("withWitness"),
};
const A = (name: string) => tagOf(CheckPermissionResponseSchema, name);
const ANSWER = {
  checkedAt: A("checkedAt"),
  permissionship: A("permissionship"),
  partialCaveatInfo: A("partialCaveatInfo"),
  debugTrace: A("debugTrace"),
  approvalRule: A("approvalRule"),
  approvalId: A("approvalId"),
  witness: A("witness"),
};
const BULK = {
  consistency: tagOf(CheckBulkPermissionsRequestSchema, "consistency"),
  items: tagOf(CheckBulkPermissionsRequestSchema, "items"),
  actorToken: tagOf(CheckBulkPermissionsRequestSchema, "actorToken"),
};
const I = (name: string) => tagOf(CheckBulkPermissionsRequestItemSchema, name);
const ITEM = {
  resource: I("resource"),
  permission: I("permission"),
  subject: I("subject"),
  context: I("context"),
  onBehalfOf: I("onBehalfOf"),
  subjectGrants: I("subjectGrants"),
  consumeApproval: I("consumeApproval"),
};
const BULK_ANSWER = {
  checkedAt: tagOf(CheckBulkPermissionsResponseSchema, "checkedAt"),
  pairs: tagOf(CheckBulkPermissionsResponseSchema, "pairs"),
};
const PAIR = {
  request: tagOf(CheckBulkPermissionsPairSchema, "request"),
  item: tagOf(CheckBulkPermissionsPairSchema, "item"),
  error: tagOf(CheckBulkPermissionsPairSchema, "error"),
};
const R = (name: string) => tagOf(CheckBulkPermissionsResponseItemSchema, name);
const RESULT = {
  permissionship: R("permissionship"),
  partialCaveatInfo: R("partialCaveatInfo"),
  approvalRule: R("approvalRule"),
  approvalId: R("approvalId"),
};
const E = (name: string) => tagOf(CheckBulkPermissionsErrorSchema, name);
const ERROR = { statusCode: E("statusCode"), errorCode: E("errorCode"), message: E("message") };

/** Thrown inside the hand-written paths for what they leave to protobuf-es; never escapes. */
const NOT_HANDLED = Symbol("not handled");

// ---------------------------------------------------------------------------------------------
// Writing: into a shared slab, each message a fresh region (never reused: a request's bytes are
// kept for its retries and may wait in HTTP/2's queue), so no buffer is allocated per call.

const SLAB = 64 * 1024;
let buf = Buffer.allocUnsafe(SLAB);
let pos = 0;
/** Where the message being written starts (its 5-byte gRPC prefix). */
let start = 0;

/** Room for `n` more bytes; a message outgrowing the slab moves to a new one (the only copy). */
function ensure(n: number): void {
  if (pos + n <= buf.length) return;
  const next = Buffer.allocUnsafe(Math.max(SLAB, (pos - start + n) * 2));
  buf.copy(next, 0, start, pos);
  pos -= start;
  start = 0;
  buf = next;
}

function writeVarint(n: number): void {
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
}

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** An int32 or enum: a negative one is ten bytes, sign-extended to 64 bits as protobuf has it. */
function writeInt32(tag: number, n: number): void {
  ensure(11);
  buf[pos++] = tag;
  if (n >= 0) {
    writeVarint(n);
    return;
  }
  let v = BigInt.asUintN(64, BigInt(n));
  for (let i = 0; i < 9; i++) {
    buf[pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  buf[pos++] = Number(v);
}

function writeBool(tag: number, value: boolean): void {
  ensure(2);
  buf[pos++] = tag;
  buf[pos++] = value ? 1 : 0;
}

/** A string field; ASCII (names, ids) is written here, char by char, anything else by Buffer. */
function writeString(tag: number, text: string): void {
  const n = text.length;
  ensure(n * 3 + 6);
  buf[pos++] = tag;
  if (n < 0x80) {
    const at = pos + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + i] = c;
    }
    if (i === n) {
      buf[pos] = n;
      pos = at + n;
      return;
    }
  }
  writeVarint(Buffer.byteLength(text, "utf8"));
  pos += buf.write(text, pos, "utf8");
}

/** Opens a length-delimited field; returns where its length goes, relative to the message start. */
function open(tag: number): number {
  ensure(2);
  buf[pos++] = tag;
  return pos++ - start;
}

/** Closes it: one length byte was kept; a longer length moves the contents up. */
function close(lengthAt: number): void {
  const at = start + lengthAt;
  const len = pos - at - 1;
  if (len < 0x80) {
    buf[at] = len;
    return;
  }
  const extra = varintSize(len) - 1;
  ensure(extra);
  const moved = start + lengthAt;
  buf.copyWithin(moved + 1 + extra, moved + 1, pos);
  pos += extra;
  const end = pos;
  pos = moved;
  writeVarint(len);
  pos = end;
}

type Init<T extends DescMessage> = MessageInitShape<T>;
interface Unknowns {
  readonly $unknown?: readonly unknown[] | undefined;
}

function noUnknowns(msg: object): void {
  if ((msg as Unknowns).$unknown !== undefined && (msg as Unknowns).$unknown!.length > 0) throw NOT_HANDLED;
}

function writeObject(tag: number, o: Init<typeof ObjectReferenceSchema> | undefined): void {
  if (o === undefined) return;
  noUnknowns(o);
  const at = open(tag);
  if (o.objectType) writeString(OBJECT_TYPE, o.objectType);
  if (o.objectId) writeString(OBJECT_ID, o.objectId);
  close(at);
}

function writeSubject(tag: number, s: Init<typeof SubjectReferenceSchema> | undefined): void {
  if (s === undefined) return;
  noUnknowns(s);
  const at = open(tag);
  writeObject(SUBJECT_OBJECT, s.object);
  if (s.optionalRelation) writeString(SUBJECT_RELATION, s.optionalRelation);
  close(at);
}

function writeToken(tag: number, t: Init<typeof ZedTokenSchema> | undefined): void {
  if (t === undefined) return;
  noUnknowns(t);
  const at = open(tag);
  if (t.token) writeString(TOKEN, t.token);
  close(at);
}

function writeConsistency(tag: number, c: Init<typeof ConsistencySchema> | undefined): void {
  if (c === undefined) return;
  noUnknowns(c);
  const at = open(tag);
  const r = c.requirement;
  // A oneof member is written even when it holds its zero value.
  if (r?.case === "minimizeLatency") writeBool(MINIMIZE_LATENCY, r.value);
  else if (r?.case === "atLeastAsFresh") writeToken(AT_LEAST_AS_FRESH, r.value);
  else if (r?.case === "atExactSnapshot") writeToken(AT_EXACT_SNAPSHOT, r.value);
  else if (r?.case === "fullyConsistent") writeBool(FULLY_CONSISTENT, r.value);
  else if (r?.case !== undefined) throw NOT_HANDLED;
  close(at);
}

function writeCheck(m: Init<typeof CheckPermissionRequestSchema>): void {
  if (m.context !== undefined || (m.contextualRelationships?.length ?? 0) > 0) throw NOT_HANDLED;
  noUnknowns(m);
  writeConsistency(CHECK.consistency, m.consistency);
  writeObject(CHECK.resource, m.resource);
  if (m.permission) writeString(CHECK.permission, m.permission);
  writeSubject(CHECK.subject, m.subject);
  if (m.withTracing) writeBool(CHECK.withTracing, true);
  for (const p of m.onBehalfOf ?? []) writeSubject(CHECK.onBehalfOf, p);
  if (m.subjectGrants) writeInt32(CHECK.subjectGrants, m.subjectGrants);
  if (m.actorToken) writeString(CHECK.actorToken, m.actorToken);
  if (m.consumeApproval) writeBool(CHECK.consumeApproval, true);
  if (m.withWitness) writeBool(CHECK.withWitness, true);
}

function writeItem(m: Init<typeof CheckBulkPermissionsRequestItemSchema>): void {
  if (m.context !== undefined) throw NOT_HANDLED;
  noUnknowns(m);
  const at = open(BULK.items);
  writeObject(ITEM.resource, m.resource);
  if (m.permission) writeString(ITEM.permission, m.permission);
  writeSubject(ITEM.subject, m.subject);
  for (const p of m.onBehalfOf ?? []) writeSubject(ITEM.onBehalfOf, p);
  if (m.subjectGrants) writeInt32(ITEM.subjectGrants, m.subjectGrants);
  if (m.consumeApproval) writeBool(ITEM.consumeApproval, true);
  close(at);
}

function writeBulk(m: Init<typeof CheckBulkPermissionsRequestSchema>): void {
  if ((m.contextualRelationships?.length ?? 0) > 0) throw NOT_HANDLED;
  noUnknowns(m);
  writeConsistency(BULK.consistency, m.consistency);
  for (const item of m.items ?? []) writeItem(item);
  if (m.actorToken) writeString(BULK.actorToken, m.actorToken);
}

/** The message framed for gRPC: a zero compression flag, its 4-byte big-endian length, itself. */
function framed<T extends DescMessage>(schema: T, init: Init<T>, write: (m: Init<T>) => void): Buffer {
  if (buf.length - pos < 512) {
    buf = Buffer.allocUnsafe(SLAB);
    pos = 0;
  }
  start = pos;
  pos += 5;
  try {
    write(init);
  } catch (error) {
    pos = start;
    if (error !== NOT_HANDLED) throw error;
    return frameOf(toBinary(schema, create(schema, init)));
  }
  const length = pos - start - 5;
  buf[start] = 0;
  buf.writeUInt32BE(length, start + 1);
  return buf.subarray(start, pos);
}

/** A message protobuf-es wrote, framed (one copy: the general path). */
export function frameOf(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** The framed bytes `toBinary(CheckPermissionRequestSchema, create(..., init))` gives. */
export function encodeCheckRequest(init: Init<typeof CheckPermissionRequestSchema>): Buffer {
  return framed(CheckPermissionRequestSchema, init, writeCheck);
}

/** The framed bytes `toBinary(CheckBulkPermissionsRequestSchema, create(..., init))` gives. */
export function encodeCheckBulkRequest(init: Init<typeof CheckBulkPermissionsRequestSchema>): Buffer {
  return framed(CheckBulkPermissionsRequestSchema, init, writeBulk);
}

// ---------------------------------------------------------------------------------------------
// Reading.

/** Up to this many bytes an ASCII string is built in JavaScript (see the server's codec). */
const SHORT_STRING = 12;
const READ_OPTIONS: Partial<BinaryReadOptions> = { readUnknownFields: false };

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  /** A varint's low 32 bits, unsigned (up to ten bytes, as int32 and enums are written). */
  varint32(end: number): number {
    const b = this.buf;
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= end) throw NOT_HANDLED;
      const byte = b[this.pos++]!;
      if (shift < 32) value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value >>> 0;
    }
    throw NOT_HANDLED;
  }

  /** True for any non-zero varint, as protobuf-es reads a bool. */
  bool(end: number): boolean {
    let any = false;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw NOT_HANDLED;
      const byte = this.buf[this.pos++]!;
      // Bits past the 64th are dropped, as protobuf-es drops them.
      if ((byte & (i === 9 ? 0x01 : 0x7f)) !== 0) any = true;
      if (byte < 0x80) return any;
    }
    throw NOT_HANDLED;
  }

  /** A tag: field number and wire type, at most five bytes. */
  tag(end: number): number {
    const first = this.buf[this.pos]!;
    if (first < 0x80 && first >= 8) {
      this.pos++;
      return first;
    }
    const start = this.pos;
    const tag = this.varint32(end);
    // Field number 0 is invalid, and so is a tag past 32 bits (a fifth byte above 0x0f): protobuf-es says so.
    const read = this.pos - start;
    if (read > 5 || (read === 5 && this.buf[this.pos - 1]! > 0x0f) || tag >>> 3 === 0) throw NOT_HANDLED;
    return tag;
  }

  /** The end of a length-delimited field that starts here, within `end`. */
  span(end: number): number {
    const len = this.varint32(end);
    const stop = this.pos + len;
    if (stop > end) throw NOT_HANDLED;
    return stop;
  }

  /** Proto3 strings decode strictly: invalid UTF-8 goes to protobuf-es, which throws. */
  string(end: number): string {
    const stop = this.span(end);
    const from = this.pos;
    this.pos = stop;
    const b = this.buf;
    let i = from;
    if (stop - from <= SHORT_STRING) {
      let text = "";
      for (; i < stop; i++) {
        const c = b[i]!;
        if (c >= 0x80) break;
        text += String.fromCharCode(c);
      }
      if (i === stop) return text;
    } else while (i < stop && b[i]! < 0x80) i++;
    if (i < stop && !isUtf8(b.subarray(i, stop))) throw NOT_HANDLED;
    return b.toString("utf8", from, stop);
  }

  /** Skips a field this codec does not know; groups (deprecated) go to protobuf-es. */
  skip(tag: number, end: number): void {
    const wireType = tag & 7;
    if (wireType === VARINT) this.varint32(end);
    else if (wireType === LEN) this.pos = this.span(end);
    else if (wireType === I64) this.pos += 8;
    else if (wireType === I32) this.pos += 4;
    else throw NOT_HANDLED;
    if (this.pos > end) throw NOT_HANDLED;
  }

  /** A known field number with another wire type than its own: protobuf-es decides. */
  known(tag: number, ...tags: readonly number[]): void {
    const fieldNo = tag >>> 3;
    for (const t of tags) if (t >>> 3 === fieldNo) throw NOT_HANDLED;
  }
}

/**
 * A field read by protobuf-es alone. One it cannot read alone may still read within the whole
 * message (protobuf-es bounds a nested read by the buffer, not the field): protobuf-es decides.
 */
function delegated<S extends DescMessage>(schema: S, bytes: Buffer): MessageShape<S> {
  try {
    return fromBinary(schema, bytes, READ_OPTIONS);
  } catch {
    throw NOT_HANDLED;
  }
}

function readToken(r: Reader, end: number): { $typeName: "latch.v1.ZedToken"; token: string } {
  const msg = { $typeName: "latch.v1.ZedToken" as const, token: "" };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === TOKEN) msg.token = r.string(end);
    else {
      r.known(t, TOKEN);
      r.skip(t, end);
    }
  }
  return msg;
}

function readMissing(
  r: Reader,
  end: number,
): { $typeName: "latch.v1.PartialCaveatInfo"; missingRequiredContext: string[] } {
  const msg = { $typeName: "latch.v1.PartialCaveatInfo" as const, missingRequiredContext: [] as string[] };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === MISSING) msg.missingRequiredContext.push(r.string(end));
    else {
      r.known(t, MISSING);
      r.skip(t, end);
    }
  }
  return msg;
}

function readObject(r: Reader, end: number) {
  const msg = { $typeName: "latch.v1.ObjectReference" as const, objectType: "", objectId: "" };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === OBJECT_TYPE) msg.objectType = r.string(end);
    else if (t === OBJECT_ID) msg.objectId = r.string(end);
    else {
      r.known(t, OBJECT_TYPE, OBJECT_ID);
      r.skip(t, end);
    }
  }
  return msg;
}

function readSubject(r: Reader, end: number) {
  const msg: {
    $typeName: "latch.v1.SubjectReference";
    object?: ReturnType<typeof readObject>;
    optionalRelation: string;
  } = { $typeName: "latch.v1.SubjectReference", optionalRelation: "" };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === SUBJECT_OBJECT) {
      if (msg.object !== undefined) throw NOT_HANDLED;
      msg.object = readObject(r, r.span(end));
    } else if (t === SUBJECT_RELATION) msg.optionalRelation = r.string(end);
    else {
      r.known(t, SUBJECT_OBJECT, SUBJECT_RELATION);
      r.skip(t, end);
    }
  }
  return msg;
}

function readCheckAnswer(r: Reader, end: number): CheckPermissionResponse {
  const msg: CheckPermissionResponse = {
    $typeName: "latch.v1.CheckPermissionResponse",
    permissionship: 0,
    approvalRule: "",
    approvalId: "",
    witness: [],
  };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === ANSWER.permissionship) msg.permissionship = r.varint32(end) | 0;
    else if (t === ANSWER.checkedAt) {
      if (msg.checkedAt !== undefined) throw NOT_HANDLED;
      msg.checkedAt = readToken(r, r.span(end));
    } else if (t === ANSWER.partialCaveatInfo) {
      if (msg.partialCaveatInfo !== undefined) throw NOT_HANDLED;
      msg.partialCaveatInfo = readMissing(r, r.span(end));
    } else if (t === ANSWER.approvalRule) msg.approvalRule = r.string(end);
    else if (t === ANSWER.approvalId) msg.approvalId = r.string(end);
    else if (t === ANSWER.witness) msg.witness.push(r.string(end));
    else if (t === ANSWER.debugTrace) {
      if (msg.debugTrace !== undefined) throw NOT_HANDLED;
      const stop = r.span(end);
      msg.debugTrace = delegated(CheckTraceSchema, r.buf.subarray(r.pos, stop));
      r.pos = stop;
    } else {
      r.known(t, ...Object.values(ANSWER));
      r.skip(t, end);
    }
  }
  return msg;
}

/** An echoed request item; undefined for one with a context (a Struct), which protobuf-es reads. */
function readItem(r: Reader, end: number): CheckBulkPermissionsRequestItem | undefined {
  const msg: CheckBulkPermissionsRequestItem = {
    $typeName: "latch.v1.CheckBulkPermissionsRequestItem",
    permission: "",
    onBehalfOf: [],
    subjectGrants: 0,
    consumeApproval: false,
  };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === ITEM.resource) {
      if (msg.resource !== undefined) throw NOT_HANDLED;
      msg.resource = readObject(r, r.span(end));
    } else if (t === ITEM.permission) msg.permission = r.string(end);
    else if (t === ITEM.subject) {
      if (msg.subject !== undefined) throw NOT_HANDLED;
      msg.subject = readSubject(r, r.span(end));
    } else if (t === ITEM.onBehalfOf) msg.onBehalfOf.push(readSubject(r, r.span(end)));
    else if (t === ITEM.subjectGrants) msg.subjectGrants = r.varint32(end) | 0;
    else if (t === ITEM.consumeApproval) msg.consumeApproval = r.bool(end);
    else if (t === ITEM.context) return undefined;
    else {
      r.known(t, ...Object.values(ITEM));
      r.skip(t, end);
    }
  }
  return msg;
}

function readResult(r: Reader, end: number): CheckBulkPermissionsResponseItem {
  const msg: CheckBulkPermissionsResponseItem = {
    $typeName: "latch.v1.CheckBulkPermissionsResponseItem",
    permissionship: 0,
    approvalRule: "",
    approvalId: "",
  };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === RESULT.permissionship) msg.permissionship = r.varint32(end) | 0;
    else if (t === RESULT.partialCaveatInfo) {
      if (msg.partialCaveatInfo !== undefined) throw NOT_HANDLED;
      msg.partialCaveatInfo = readMissing(r, r.span(end));
    } else if (t === RESULT.approvalRule) msg.approvalRule = r.string(end);
    else if (t === RESULT.approvalId) msg.approvalId = r.string(end);
    else {
      r.known(t, ...Object.values(RESULT));
      r.skip(t, end);
    }
  }
  return msg;
}

function readError(r: Reader, end: number): CheckBulkPermissionsError {
  const msg: CheckBulkPermissionsError = {
    $typeName: "latch.v1.CheckBulkPermissionsError",
    statusCode: 0,
    errorCode: "",
    message: "",
  };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === ERROR.statusCode) msg.statusCode = r.varint32(end) | 0;
    else if (t === ERROR.errorCode) msg.errorCode = r.string(end);
    else if (t === ERROR.message) msg.message = r.string(end);
    else {
      r.known(t, ...Object.values(ERROR));
      r.skip(t, end);
    }
  }
  return msg;
}

function readPair(r: Reader, end: number): CheckBulkPermissionsPair {
  const msg: CheckBulkPermissionsPair = {
    $typeName: "latch.v1.CheckBulkPermissionsPair",
    response: { case: undefined },
  };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === PAIR.item || t === PAIR.error) {
      // The same member twice merges in protobuf; leave that to protobuf-es.
      if ((t === PAIR.item ? "item" : "error") === msg.response.case) throw NOT_HANDLED;
      const stop = r.span(end);
      msg.response =
        t === PAIR.item
          ? { case: "item", value: readResult(r, stop) }
          : { case: "error", value: readError(r, stop) };
    } else if (t === PAIR.request) {
      if (msg.request !== undefined) throw NOT_HANDLED;
      const stop = r.span(end);
      const from = r.pos;
      msg.request =
        readItem(r, stop) ?? delegated(CheckBulkPermissionsRequestItemSchema, r.buf.subarray(from, stop));
      r.pos = stop;
    } else {
      r.known(t, ...Object.values(PAIR));
      r.skip(t, end);
    }
  }
  return msg;
}

function readBulkAnswer(r: Reader, end: number): CheckBulkPermissionsResponse {
  const msg: CheckBulkPermissionsResponse = { $typeName: "latch.v1.CheckBulkPermissionsResponse", pairs: [] };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === BULK_ANSWER.pairs) msg.pairs.push(readPair(r, r.span(end)));
    else if (t === BULK_ANSWER.checkedAt) {
      if (msg.checkedAt !== undefined) throw NOT_HANDLED;
      msg.checkedAt = readToken(r, r.span(end));
    } else {
      r.known(t, ...Object.values(BULK_ANSWER));
      r.skip(t, end);
    }
  }
  return msg;
}

function decoded<T>(schema: DescMessage, bytes: Buffer, read: (r: Reader, end: number) => T): T {
  try {
    return read(new Reader(bytes, 0), bytes.length);
  } catch (error) {
    if (error !== NOT_HANDLED) throw error;
    return fromBinary(schema, bytes, READ_OPTIONS) as T;
  }
}

/** A CheckPermissionResponse as `fromBinary(..., { readUnknownFields: false })` reads it. */
export function decodeCheckResponse(bytes: Buffer): CheckPermissionResponse {
  return decoded(CheckPermissionResponseSchema, bytes, readCheckAnswer);
}

/** A CheckBulkPermissionsResponse as `fromBinary(..., { readUnknownFields: false })` reads it. */
export function decodeCheckBulkResponse(bytes: Buffer): CheckBulkPermissionsResponse {
  return decoded(CheckBulkPermissionsResponseSchema, bytes, readBulkAnswer);
}
