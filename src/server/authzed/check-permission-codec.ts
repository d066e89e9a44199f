/**
 * authzed.api.v1 CheckPermission's request and response by latch.v1's hand codec
 * (../check-permission-codec.ts), so that SpiceDB's API costs what Latch's own does: protobuf-es's
 * reflection was the largest share of what Latch adds to a cached check.
 *
 * Why it can: the two CheckPermissionRequests number and type resource (2), permission (3),
 * subject (4), context (5) and with_tracing (6) alike, as do ObjectReference, SubjectReference,
 * ZedToken, PartialCaveatInfo and the response's checked_at (1), permissionship (2, the same enum
 * numbers) and partial_caveat_info (3). That is checked below when the module loads, from both
 * descriptors, so a change to either .proto fails at start-up, not on the wire. What the fast
 * reader does not handle (consistency, an unknown or repeated field, anything malformed) is decoded
 * by protobuf-es with authzed's schema; a response with a trace or an expiry is written by it.
 * test/server/authzed/check-permission-codec.test.ts checks both against protobuf-es.
 */
import { type DescEnum, type DescMessage, toBinary } from "@bufbuild/protobuf";
import {
  ObjectReferenceSchema,
  PartialCaveatInfoSchema,
  SubjectReferenceSchema,
  ZedTokenSchema,
} from "../../gen/authzed/api/v1/core_pb.js";
import {
  type CheckPermissionRequest,
  CheckPermissionRequestSchema,
  type CheckPermissionResponse,
  CheckPermissionResponseSchema,
} from "../../gen/authzed/api/v1/permission_service_pb.js";
import * as latchCore from "../../gen/latch/v1/core_pb.js";
import * as latch from "../../gen/latch/v1/permission_service_pb.js";
import {
  encodeCheckPermissionResponse,
  readCommonCheckPermissionRequest,
} from "../check-permission-codec.js";
import { asBuffer, type ServerCodec } from "../grpc-definition.js";
import { requestDecoder } from "../request-decoder.js";
import { type ContextDecodeLimits, DEFAULT_CONTEXT_DECODE_LIMITS } from "../struct-codec.js";

/**
 * Fails at load when a field the two APIs must share differs in number, kind or type. An enum of
 * latch.v1 may have more values than authzed's (APPROVAL_REQUIRED, which authzed's handlers never
 * send: permissions-decisions.ts), since only authzed's values go through latch.v1's writer.
 */
function sameFields(ours: DescMessage, theirs: DescMessage, names: readonly string[]): void {
  for (const name of names) {
    const a = ours.field[name];
    const b = theirs.field[name];
    const shape = (f: typeof a, values: (f: DescEnum) => readonly number[]) =>
      f === undefined
        ? "missing"
        : `${f.number} ${f.fieldKind} ${f.fieldKind === "scalar" ? f.scalar : f.fieldKind === "enum" ? values(f.enum).join(",") : ""}`;
    const all = (e: DescEnum) => e.values.map((v) => v.number);
    // latch.v1's values restricted to authzed's: equal when authzed's are all among latch.v1's.
    const shared = (e: DescEnum) => all(e).filter((n) => a?.fieldKind !== "enum" || all(a.enum).includes(n));
    if (shape(a, all) !== shape(b, shared)) {
      throw new Error(
        `authzed check-permission-codec: ${ours.typeName}.${name} (${shape(a, all)}) differs from ${theirs.typeName}.${name} (${shape(b, all)})`,
      );
    }
  }
}

sameFields(CheckPermissionRequestSchema, latch.CheckPermissionRequestSchema, [
  "resource",
  "permission",
  "subject",
  "context",
  "withTracing",
]);
sameFields(CheckPermissionResponseSchema, latch.CheckPermissionResponseSchema, [
  "checkedAt",
  "permissionship",
  "partialCaveatInfo",
]);
sameFields(ObjectReferenceSchema, latchCore.ObjectReferenceSchema, ["objectType", "objectId"]);
sameFields(SubjectReferenceSchema, latchCore.SubjectReferenceSchema, ["object", "optionalRelation"]);
sameFields(ZedTokenSchema, latchCore.ZedTokenSchema, ["token"]);
sameFields(PartialCaveatInfoSchema, latchCore.PartialCaveatInfoSchema, ["missingRequiredContext"]);

const decodeOthers = requestDecoder(CheckPermissionRequestSchema);

/** Decodes exactly as `fromBinary` does, but for a context past `limits` (a typed error). */
export function decodeAuthzedCheckPermissionRequest(
  bytes: Uint8Array,
  limits: ContextDecodeLimits = DEFAULT_CONTEXT_DECODE_LIMITS,
): CheckPermissionRequest {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = readCommonCheckPermissionRequest(buf, limits);
  if (m === undefined) return decodeOthers(buf, limits);
  // The same properties, in the same order, as protobuf-es's decoded message.
  const msg: CheckPermissionRequest = {
    $typeName: "authzed.api.v1.CheckPermissionRequest",
    permission: m.permission,
    withTracing: m.withTracing,
  };
  if (m.resource !== undefined)
    msg.resource = {
      $typeName: "authzed.api.v1.ObjectReference",
      objectType: m.resource.objectType,
      objectId: m.resource.objectId,
    };
  if (m.subject !== undefined) {
    const o = m.subject.object;
    msg.subject = {
      $typeName: "authzed.api.v1.SubjectReference",
      optionalRelation: m.subject.optionalRelation,
    };
    if (o !== undefined)
      msg.subject.object = {
        $typeName: "authzed.api.v1.ObjectReference",
        objectType: o.objectType,
        objectId: o.objectId,
      };
  }
  if (m.context !== undefined) msg.context = m.context;
  return msg;
}

/** Encodes to the bytes `toBinary` gives. */
export function encodeAuthzedCheckPermissionResponse(msg: CheckPermissionResponse): Buffer {
  const p = msg.permissionship;
  if (
    msg.debugTrace !== undefined ||
    msg.optionalExpiresAt !== undefined ||
    msg.$unknown !== undefined ||
    msg.checkedAt?.$unknown !== undefined ||
    msg.partialCaveatInfo?.$unknown !== undefined ||
    !(Number.isInteger(p) && p >= 0 && p < 0x80)
  ) {
    return asBuffer(toBinary(CheckPermissionResponseSchema, msg));
  }
  // Fields 1 to 3 only, which latch.v1's response numbers and types alike (checked above).
  return encodeCheckPermissionResponse(msg as unknown as latch.CheckPermissionResponse);
}

/** For `add(PermissionsService, impl, { checkPermission: authzedCheckPermissionCodec })`. */
export const authzedCheckPermissionCodec: ServerCodec = {
  decodeRequest: decodeAuthzedCheckPermissionRequest,
  encodeResponse: encodeAuthzedCheckPermissionResponse,
};
