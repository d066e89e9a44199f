/**
 * What SpiceDB's relationship calls check and answer beyond Latch's own: filter names against the
 * schema, its limits, the metadata of its precondition, recreate and transactional-delete errors,
 * and the export cursor. See docs/spicedb-relationships.md for the behaviour matched.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { clip, isLatchError, parseRelationship, type Relationship, type Revision } from "../../core/index.js";
import type { Cancellation } from "../../engine/index.js";
import type { CompiledSchema } from "../../schema/index.js";
import { readRevision } from "../../service/index.js";
import {
  cursorEncoder,
  decodeCursor,
  describeRelationship,
  type Precondition,
  type RelationshipFilter,
  type RelationshipUpdate,
  relationshipKey,
  type Store,
  StoreError,
} from "../../store/index.js";
import { AuthzedError } from "./errors.js";

/** SpiceDB's defaults for the most a read, a delete and an export batch may ask for. */
export const MAX_READ_LIMIT = 1_000;
export const MAX_DELETE_LIMIT = 1_000;
export const MAX_EXPORT_BATCH = 100_000;
/** Export batch when the request gives none (SpiceDB sends up to 100,000; see the docs). */
export const DEFAULT_EXPORT_BATCH = 1_000;
/** Largest `optional_transaction_metadata`, as JSON bytes (SpiceDB's, set by MySQL's BLOB). */
const MAX_METADATA_BYTES = 65_000;

export function limitTooLarge(provided: number, maximum: number, field: string): AuthzedError {
  return new AuthzedError(
    status.INVALID_ARGUMENT,
    `${field} ${provided} is greater than the maximum allowed, ${maximum}; ask for at most ${maximum}.`,
    "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT",
    { limit_provided: String(provided), maximum_limit_allowed: String(maximum) },
  );
}

export function importTooLarge(maximum: number): AuthzedError {
  return new AuthzedError(
    status.INVALID_ARGUMENT,
    `an ImportBulkRelationships stream may hold at most ${maximum} relationships (it is one transaction, held in memory until it commits); nothing was written. Split the load into several imports.`,
    "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT",
    { maximum_limit_allowed: String(maximum) },
  );
}

export function tooMany(what: "updates" | "preconditions", count: number, maximum: number): AuthzedError {
  return new AuthzedError(
    status.INVALID_ARGUMENT,
    `${count} ${what} in one request, more than the ${maximum} allowed; split the request.`,
    what === "updates"
      ? "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST"
      : "ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST",
    what === "updates"
      ? { update_count: String(count), maximum_updates_allowed: String(maximum) }
      : { precondition_count: String(count), maximum_updates_allowed: String(maximum) },
  );
}

/** Transaction metadata is accepted when its JSON fits SpiceDB's bound. */
export function checkTransactionMetadata(metadata: JsonObject | undefined): void {
  if (metadata === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(metadata), "utf8");
  if (size > MAX_METADATA_BYTES) {
    throw new AuthzedError(
      status.INVALID_ARGUMENT,
      `optional_transaction_metadata is ${size} bytes as JSON, more than the ${MAX_METADATA_BYTES} allowed; send less.`,
      "ERROR_REASON_TRANSACTION_METADATA_TOO_LARGE",
      { metadata_byte_size: String(size), maximum_allowed_metadata_byte_size: String(MAX_METADATA_BYTES) },
    );
  }
}

function unknownDefinition(type: string, field: string, schema: CompiledSchema | undefined): AuthzedError {
  const known = schema === undefined ? [] : [...schema.definitions.keys()];
  const hint =
    known.length === 0
      ? "no schema defines any yet: write one with WriteSchema first."
      : `defined: ${known.slice(0, 12).join(", ")}${known.length > 12 ? ", ..." : ""}.`;
  return new AuthzedError(
    status.FAILED_PRECONDITION,
    `${field}: object definition \`${clip(type)}\` is not found in the schema; ${hint}`,
    "ERROR_REASON_UNKNOWN_DEFINITION",
    { definition_name: clip(type) },
  );
}

/** As SpiceDB: a named type must be defined, a named relation must be one of its relations or permissions. */
function checkComponent(
  schema: CompiledSchema | undefined,
  type: string,
  relation: string | undefined,
  field: string,
): void {
  const definition = schema?.definitions.get(type);
  if (definition === undefined) throw unknownDefinition(type, field, schema);
  if (relation === undefined || relation === "" || definition.members.has(relation)) return;
  throw new AuthzedError(
    status.FAILED_PRECONDITION,
    `${field}: \`${clip(type)}\` has no relation or permission \`${clip(relation)}\`; use one of ${[...definition.members.keys()].slice(0, 12).join(", ")}.`,
    "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
    { definition_name: clip(type), relation_or_permission_name: clip(relation) },
  );
}

export function checkFilterNames(
  schema: CompiledSchema | undefined,
  filter: RelationshipFilter,
  field: string,
): void {
  if (filter.resourceType !== undefined) checkComponent(schema, filter.resourceType, filter.relation, field);
  if (filter.subject !== undefined)
    checkComponent(schema, filter.subject.type, filter.subject.relation, `${field}.optional_subject_filter`);
}

/** SpiceDB's metadata for a filter, each key prefixed (`precondition_`, `filter_`). */
function filterMetadata(filter: RelationshipFilter, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (key: string, value: string | undefined) => {
    if (value !== undefined && value !== "") out[`${prefix}${key}`] = clip(value);
  };
  put("resource_type", filter.resourceType);
  put("resource_id", filter.resourceId);
  put("resource_id_prefix", filter.resourceIdPrefix);
  put("relation", filter.relation);
  if (filter.subject !== undefined) {
    put("subject_type", filter.subject.type);
    put("subject_id", filter.subject.id);
    if (filter.subject.relation !== undefined)
      out[`${prefix}subject_relation`] = clip(filter.subject.relation);
  }
  return out;
}

function spiceRelationshipString(r: Relationship): string {
  const s = r.subject;
  return `${r.resource.type}:${r.resource.id}#${r.relation}@${s.type}:${s.id}${s.relation === undefined ? "" : `#${s.relation}`}`;
}

/**
 * A store failure of a write or delete, in SpiceDB's shape where SpiceDB's metadata says more than
 * the generic mapping can: which precondition failed, which relationship CREATE met.
 */
export function spiceWriteError(
  error: unknown,
  preconditions: readonly Precondition[],
  updates: readonly RelationshipUpdate[] = [],
): unknown {
  if (!isLatchError(error)) return error;
  if (error.code === "write/precondition-failed") {
    const index = typeof error.details.index === "number" ? error.details.index : -1;
    const pre = preconditions[index];
    if (pre === undefined) return error;
    return new AuthzedError(
      status.FAILED_PRECONDITION,
      error.message,
      "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE",
      {
        precondition_operation:
          pre.operation === "must-match" ? "OPERATION_MUST_MATCH" : "OPERATION_MUST_NOT_MATCH",
        ...filterMetadata(pre.filter, "precondition_"),
      },
    );
  }
  if (error.code === "relationship/already-exists") {
    const described = error.details.relationship;
    const found = updates.find(
      (u) => u.operation === "create" && describeRelationship(u.relationship) === described,
    )?.relationship;
    if (found === undefined) return error;
    return new AuthzedError(
      status.ALREADY_EXISTS,
      error.message,
      "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP",
      {
        relationship: clip(spiceRelationshipString(found), 1_000),
        resource_type: clip(found.resource.type),
        resource_object_id: clip(found.resource.id),
        resource_relation: clip(found.relation),
        subject_type: clip(found.subject.type),
        subject_object_id: clip(found.subject.id),
        subject_relation: clip(found.subject.relation ?? ""),
      },
    );
  }
  return error;
}

/**
 * Latch refuses a subject of an undefined type, or a subject relation its type lacks, as a subject
 * the relation does not allow (INVALID_SUBJECT_TYPE); SpiceDB checks that the names exist first
 * and answers FAILED_PRECONDITION (UNKNOWN_DEFINITION, UNKNOWN_RELATION_OR_PERMISSION). Refined
 * only on failure, with the schema read then, so a write that succeeds reads nothing more.
 */
export async function refineSubjectError(
  error: unknown,
  schema: () => Promise<CompiledSchema | undefined>,
): Promise<unknown> {
  if (!isLatchError(error) || error.code !== "relationship/subject-not-allowed") return error;
  const described = error.details.relationship;
  let subject: Relationship["subject"];
  try {
    subject = parseRelationship(String(described)).subject;
  } catch {
    return error;
  }
  const compiled = await schema();
  const definition = compiled?.definitions.get(subject.type);
  if (definition === undefined) return unknownDefinition(subject.type, String(described), compiled);
  if (subject.relation === undefined || definition.members.has(subject.relation)) return error;
  return new AuthzedError(
    status.FAILED_PRECONDITION,
    `${String(described)}: \`${clip(subject.type)}\` has no relation or permission \`${clip(subject.relation)}\`; use one of ${[...definition.members.keys()].slice(0, 12).join(", ")}.`,
    "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
    { definition_name: clip(subject.type), relation_or_permission_name: clip(subject.relation) },
  );
}

export function transactionalDeleteError(error: unknown, filter: RelationshipFilter, limit: number): unknown {
  if (!isLatchError(error) || error.code !== "delete/over-limit") return error;
  return new AuthzedError(
    status.INVALID_ARGUMENT,
    `more than ${limit} relationships match relationship_filter and optional_allow_partial_deletions is not set; nothing was deleted. Raise optional_limit (at most ${MAX_DELETE_LIMIT}), narrow the filter, or allow partial deletions and repeat until deletion_progress is COMPLETE.`,
    "ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE",
    // SpiceDB always names the resource type, empty when the filter has none.
    { limit: String(limit), filter_resource_type: "", ...filterMetadata(filter, "filter_") },
  );
}

/**
 * Cursors after single relationships of a read: the store's own, so the store resumes from them,
 * carrying the store's signed token for the revision (`token`), since a SpiceDB cursor pins the
 * read whatever the request's consistency says (cursorRevision). Made once per read, as every
 * result of a read gets one.
 */
export function cursorsAfter(
  filter: RelationshipFilter,
  revision: Revision,
  token: string,
): (r: Relationship) => string {
  const encode = cursorEncoder(filter);
  return (r) => encode({ revision, after: relationshipKey(r), token });
}

/** Token errors that mean the cursor was not issued by this store as it stands. */
const FOREIGN_OR_ALTERED = new Set<string>([
  "revision/foreign-token",
  "revision/malformed-token",
  "revision/invalid-token",
]);

function untrustedCursor(why: string, cause?: unknown): StoreError {
  return new StoreError(
    "cursor/malformed",
    "invalid-argument",
    `read cursor is not valid: ${why}. Pass back the cursor of a previous response of this server unchanged.`,
    {},
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The revision a read cursor was issued at (it pins the read, as in SpiceDB). The cursor names it
 * twice: as a number, which the store's read checks, and as the store's signed token, resolved
 * here as an `at_exact_snapshot` token is: one of another store, or altered, is refused
 * (INVALID_ARGUMENT); one ahead of the store is waited for, then `revision/not-reached`; one
 * behind the history horizon is `revision/compacted`. The two must agree, so an edited number
 * cannot move the read to a revision the store never reached, nor sign a token for it.
 */
export async function cursorRevision(
  store: Store,
  token: string,
  filter: RelationshipFilter,
  signal: Cancellation | undefined,
): Promise<Revision> {
  const cursor = decodeCursor(token, filter);
  if (cursor.token === undefined) {
    throw untrustedCursor("it carries no revision token of this store (it may come from an earlier version)");
  }
  let revision: Revision;
  try {
    revision = await readRevision(store, { kind: "at-exact-snapshot", token: cursor.token }, signal);
  } catch (error) {
    if (isLatchError(error) && FOREIGN_OR_ALTERED.has(error.code)) {
      throw untrustedCursor(
        error.code === "revision/foreign-token" ? "it was issued by another store" : "it was altered",
        error,
      );
    }
    throw error;
  }
  if (revision !== cursor.revision) throw untrustedCursor("it was altered");
  return revision;
}

/**
 * An export cursor: the resource type the export had reached and the store's read cursor within
 * it (for that type's filter), as base64url JSON. Types go in name order, as SpiceDB's do.
 */
export interface ExportPosition {
  readonly type: string;
  readonly cursor: string;
}

export function encodeExportCursor(position: ExportPosition): string {
  return Buffer.from(JSON.stringify({ t: position.type, c: position.cursor }), "utf8").toString("base64url");
}

export function decodeExportCursor(token: string): ExportPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    value = undefined;
  }
  const { t, c } = (typeof value === "object" && value !== null ? value : {}) as { t?: unknown; c?: unknown };
  if (typeof t !== "string" || typeof c !== "string") {
    throw new AuthzedError(
      status.INVALID_ARGUMENT,
      "optional_cursor is not an export cursor; pass back the after_result_cursor of a previous ExportBulkRelationships response unchanged.",
      "ERROR_REASON_INVALID_CURSOR",
    );
  }
  return { type: t, cursor: c };
}
