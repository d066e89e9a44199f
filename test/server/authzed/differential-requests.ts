/**
 * The differential test's requests and the normal form of their answers. A random scenario
 * (test/engine/random-scenarios.ts) becomes authzed.api.v1 requests; each answer becomes a short
 * string list, sorted where order is not part of the contract, without revision tokens, cursors or
 * anything else that differs between two correct servers.
 */
import { protobuf, v1 } from "@authzed/authzed-node";
import type { Relationship } from "../../../src/core/index.js";
import { type Outcome, reasonOf } from "./authzed-target.js";

const { Struct, Timestamp } = protobuf;

export const FULLY_CONSISTENT: v1.Consistency = v1.Consistency.create({
  requirement: { oneofKind: "fullyConsistent", fullyConsistent: true },
});

export type Context = Readonly<Record<string, unknown>> | undefined;

/** Caveat context as a Struct; test contexts hold only numbers and booleans. */
function struct(context: Context) {
  return context === undefined ? undefined : Struct.fromJson(context as never);
}

export function object(type: string, id: string): v1.ObjectReference {
  return v1.ObjectReference.create({ objectType: type, objectId: id });
}

export function subject(type: string, id: string, relation?: string): v1.SubjectReference {
  return v1.SubjectReference.create({
    object: object(type, id),
    ...(relation === undefined ? {} : { optionalRelation: relation }),
  });
}

export function toAuthzed(r: Relationship): v1.Relationship {
  const context = struct(r.caveat?.context as Context);
  return v1.Relationship.create({
    resource: object(r.resource.type, r.resource.id),
    relation: r.relation,
    subject: subject(r.subject.type, r.subject.id, r.subject.relation),
    ...(r.caveat ? { optionalCaveat: { caveatName: r.caveat.name, ...(context ? { context } : {}) } } : {}),
    ...(r.expiration ? { optionalExpiresAt: Timestamp.fromDate(r.expiration) } : {}),
  });
}

/**
 * The relationships without those that would close a cycle between objects (through `par` or a
 * subject set): SpiceDB walks a data cycle down to its depth limit, seconds per request, and then
 * fails, where Latch answers from the fixpoint. The cases in differential.test.ts keep a few.
 */
export function withoutCycles(relationships: readonly Relationship[]): Relationship[] {
  const edges = new Map<string, string[]>();
  const reaches = (from: string, to: string): boolean => {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const at = stack.pop()!;
      if (at === to) return true;
      if (seen.has(at)) continue;
      seen.add(at);
      stack.push(...(edges.get(at) ?? []));
    }
    return false;
  };
  return relationships.filter((r) => {
    if (r.subject.type === "user") return true;
    const from = `${r.resource.type}:${r.resource.id}`;
    const to = `${r.subject.type}:${r.subject.id}`;
    if (reaches(to, from)) return false;
    edges.set(from, [...(edges.get(from) ?? []), to]);
    return true;
  });
}

export function writeRequest(
  relationships: readonly Relationship[],
  operation = v1.RelationshipUpdate_Operation.TOUCH,
): v1.WriteRelationshipsRequest {
  return v1.WriteRelationshipsRequest.create({
    updates: relationships.map((r) => ({ operation, relationship: toAuthzed(r) })),
  });
}

export interface CheckItem {
  readonly type: string;
  readonly id: string;
  readonly permission: string;
  /** A user id (`u0`), or a subject set as `type:id#relation`. */
  readonly user: string;
  readonly context: Context;
}

/** `u0` is `user:u0`; `typea:o0#perm0` a subject set. */
export function checkSubject(text: string): v1.SubjectReference {
  const set = /^(\w+):(\w+)#(\w+)$/.exec(text);
  return set ? subject(set[1]!, set[2]!, set[3]!) : subject("user", text);
}

export function subjectLabel(text: string): string {
  return text.includes(":") ? text : `user:${text}`;
}

export function checkRequest(item: CheckItem): v1.CheckPermissionRequest {
  const context = struct(item.context);
  return v1.CheckPermissionRequest.create({
    consistency: FULLY_CONSISTENT,
    resource: object(item.type, item.id),
    permission: item.permission,
    subject: checkSubject(item.user),
    ...(context ? { context } : {}),
  });
}

export function bulkRequest(items: readonly CheckItem[]): v1.CheckBulkPermissionsRequest {
  return v1.CheckBulkPermissionsRequest.create({
    consistency: FULLY_CONSISTENT,
    items: items.map((item) => {
      const context = struct(item.context);
      return {
        resource: object(item.type, item.id),
        permission: item.permission,
        subject: checkSubject(item.user),
        ...(context ? { context } : {}),
      };
    }),
  });
}

export function lookupResourcesRequest(
  type: string,
  permission: string,
  user: string,
  context: Context,
): v1.LookupResourcesRequest {
  const ctx = struct(context);
  return v1.LookupResourcesRequest.create({
    consistency: FULLY_CONSISTENT,
    resourceObjectType: type,
    permission,
    subject: checkSubject(user),
    ...(ctx ? { context: ctx } : {}),
  });
}

export function lookupSubjectsRequest(
  type: string,
  id: string,
  permission: string,
  context: Context,
  subjectSet?: { readonly type: string; readonly relation: string },
): v1.LookupSubjectsRequest {
  const ctx = struct(context);
  return v1.LookupSubjectsRequest.create({
    consistency: FULLY_CONSISTENT,
    resource: object(type, id),
    permission,
    subjectObjectType: subjectSet?.type ?? "user",
    ...(subjectSet ? { optionalSubjectRelation: subjectSet.relation } : {}),
    ...(ctx ? { context: ctx } : {}),
  });
}

export function readRequest(type: string): v1.ReadRelationshipsRequest {
  return v1.ReadRelationshipsRequest.create({
    consistency: FULLY_CONSISTENT,
    relationshipFilter: { resourceType: type },
  });
}

export function deleteRequest(type: string): v1.DeleteRelationshipsRequest {
  return v1.DeleteRelationshipsRequest.create({ relationshipFilter: { resourceType: type } });
}

// ---- normal forms ----

function missing(info: v1.PartialCaveatInfo | undefined): string {
  const names = [...(info?.missingRequiredContext ?? [])].sort();
  return names.length === 0 ? "" : `[${names.join(",")}]`;
}

const CHECK = v1.CheckPermissionResponse_Permissionship;
const LOOKUP = v1.LookupPermissionship;

export function checkForm(r: v1.CheckPermissionResponse): string {
  return `${CHECK[r.permissionship]}${missing(r.partialCaveatInfo)}`;
}

/** A check's answer in the words of the lookup forms below. */
export function checkAsLookup(r: v1.CheckPermissionResponse): string {
  if (r.permissionship === CHECK.HAS_PERMISSION) return "ALLOWED";
  if (r.permissionship !== CHECK.CONDITIONAL_PERMISSION) return "DENIED";
  return answerText({
    state: "CONDITIONAL",
    missing: new Set(r.partialCaveatInfo?.missingRequiredContext ?? []),
  });
}

export function bulkForm(r: v1.CheckBulkPermissionsResponse): string[] {
  return r.pairs.map((pair) => {
    const response = pair.response;
    if (response.oneofKind === "item") {
      return `${CHECK[response.item.permissionship]}${missing(response.item.partialCaveatInfo)}`;
    }
    if (response.oneofKind === "error") {
      const reason = reasonOf(response.error.details);
      return `error ${response.error.code}${reason ? ` ${reason}` : ""}`;
    }
    return "no response";
  });
}

/** A three-valued answer with the caveat parameters that would decide it when CONDITIONAL. */
interface Answer {
  readonly state: "ALLOWED" | "CONDITIONAL" | "DENIED";
  readonly missing: ReadonlySet<string>;
}
const DENIED: Answer = { state: "DENIED", missing: new Set() };
const ALLOWED: Answer = { state: "ALLOWED", missing: new Set() };

function lookupAnswer(
  permissionship: v1.LookupPermissionship,
  info: v1.PartialCaveatInfo | undefined,
): Answer {
  if (permissionship === LOOKUP.HAS_PERMISSION) return ALLOWED;
  if (permissionship === LOOKUP.CONDITIONAL_PERMISSION) {
    return { state: "CONDITIONAL", missing: new Set(info?.missingRequiredContext ?? []) };
  }
  return DENIED;
}

function or(a: Answer, b: Answer): Answer {
  if (a.state === "ALLOWED" || b.state === "ALLOWED") return ALLOWED;
  if (a.state === "DENIED") return b;
  if (b.state === "DENIED") return a;
  return { state: "CONDITIONAL", missing: new Set([...a.missing, ...b.missing]) };
}

/** `a AND NOT b` */
function andNot(a: Answer, b: Answer): Answer {
  if (a.state === "DENIED" || b.state === "ALLOWED") return DENIED;
  if (b.state === "DENIED") return a;
  return { state: "CONDITIONAL", missing: new Set([...a.missing, ...b.missing]) };
}

function answerText(a: Answer): string {
  return a.state === "CONDITIONAL" ? `CONDITIONAL[${[...a.missing].sort().join(",")}]` : a.state;
}

/**
 * One line per resource with what the stream grants it: SpiceDB sends a resource once per path it
 * finds (twice, HAS_PERMISSION and CONDITIONAL, when two paths reach it), Latch once; either way
 * the answer for a resource is the union of its lines.
 */
export function lookupResourcesForm(list: readonly v1.LookupResourcesResponse[]): string[] {
  const byId = new Map<string, Answer>();
  for (const r of list) {
    const answer = lookupAnswer(r.permissionship, r.partialCaveatInfo);
    byId.set(r.resourceObjectId, or(byId.get(r.resourceObjectId) ?? DENIED, answer));
  }
  return [...byId].map(([id, answer]) => `${id} ${answerText(answer)}`).sort();
}

/**
 * What the stream grants each named subject and any other one (`*`): a subject S is granted
 * `own(S) OR (wildcard AND NOT excluded(S))`. Two correct servers may list it differently: SpiceDB
 * keeps a subject's own line beside a wildcard that already covers it and names it among the
 * wildcard's exclusions when its own line gives it back; Latch folds those. (The excluded
 * subjects' missing parameters also differ in presentation: Latch leaves out those the wildcard's
 * line names already.) What each subject is granted is the contract.
 */
export function lookupSubjectsForm(
  list: readonly v1.LookupSubjectsResponse[],
  named: readonly string[],
): string[] {
  const own = new Map<string, Answer>();
  let wildcard = DENIED;
  const excluded = new Map<string, Answer>();
  for (const r of list) {
    const s = r.subject;
    if (!s) return ["a response without a subject"];
    const answer = lookupAnswer(s.permissionship, s.partialCaveatInfo);
    if (s.subjectObjectId !== "*") {
      own.set(s.subjectObjectId, or(own.get(s.subjectObjectId) ?? DENIED, answer));
      continue;
    }
    wildcard = or(wildcard, answer);
    for (const e of r.excludedSubjects) {
      excluded.set(e.subjectObjectId, lookupAnswer(e.permissionship, e.partialCaveatInfo));
    }
  }
  const grant = (id: string) => or(own.get(id) ?? DENIED, andNot(wildcard, excluded.get(id) ?? DENIED));
  const ids = new Set([...named, ...own.keys(), ...excluded.keys()]);
  return [...[...ids].sort().map((id) => `${id} ${answerText(grant(id))}`), `* ${answerText(wildcard)}`];
}

/** A relationship as text, its caveat context with sorted keys, its expiration to the second. */
export function relationshipForm(r: v1.Relationship | undefined): string {
  if (!r) return "no relationship";
  const s = r.subject;
  const sub = `${s?.object?.objectType}:${s?.object?.objectId}${s?.optionalRelation ? `#${s.optionalRelation}` : ""}`;
  const caveat = r.optionalCaveat;
  let text = `${r.resource?.objectType}:${r.resource?.objectId}#${r.relation}@${sub}`;
  if (caveat) {
    const ctx = caveat.context ? (Struct.toJson(caveat.context) as Record<string, unknown>) : {};
    const sorted = Object.fromEntries(Object.entries(ctx).sort(([a], [b]) => a.localeCompare(b)));
    text += `[${caveat.caveatName}${Object.keys(sorted).length ? `:${JSON.stringify(sorted)}` : ""}]`;
  }
  if (r.optionalExpiresAt) text += `[expiration:${r.optionalExpiresAt.seconds}]`;
  return text;
}

export function readForm(list: readonly v1.ReadRelationshipsResponse[]): string[] {
  return list.map((r) => relationshipForm(r.relationship)).sort();
}

/** An outcome in normal form: the answer's form, or the status code and ErrorInfo reason. */
export function form<T>(result: Outcome<T>, answer: (value: T) => unknown): unknown {
  if (result.ok) return answer(result.value);
  return { code: result.code, reason: result.reason };
}
