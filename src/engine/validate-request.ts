/** Request checks that turn caller mistakes into invalid-argument errors before any work. */
import {
  type ContextLimits,
  checkContextLimits,
  clip,
  DEFAULT_CONTEXT_LIMITS,
  formatSubjectRef,
  isValidObjectId,
  LatchError,
  OBJECT_ID_RULE,
  type ObjectRef,
  type Relationship,
  type SubjectRef,
  WILDCARD_ID,
} from "../core/index.js";
import { validateRelationship } from "../store/index.js";
import type { Plan, PlanMember } from "./plan.js";

export function resolveMember(plan: Plan, resource: ObjectRef, permission: string): PlanMember {
  const def = plan.defs.get(resource.type);
  if (def === undefined) {
    throw new LatchError(
      "check/unknown-type",
      "invalid-argument",
      `unknown object type ${clip(resource.type)}`,
      {
        type: clip(resource.type),
      },
    );
  }
  const member = def.members.get(permission);
  if (member === undefined) {
    throw new LatchError(
      "check/unknown-permission",
      "invalid-argument",
      `${clip(resource.type)} has no relation or permission ${clip(permission)}`,
      { type: clip(resource.type), permission: clip(permission) },
    );
  }
  // The ids a relationship may hold (SpiceDB's rule), so that a question no write could make true
  // is refused rather than answered, and nothing ill-formed (a lone surrogate) reaches a record.
  if (!isValidObjectId(resource.id)) {
    throw new LatchError(
      "check/invalid-resource",
      "invalid-argument",
      `invalid resource id "${clip(resource.id)}": an id is ${OBJECT_ID_RULE}`,
    );
  }
  return member;
}

export function validateSubject(plan: Plan, subject: SubjectRef): string {
  const def = plan.defs.get(subject.type);
  if (def === undefined) {
    throw new LatchError(
      "check/unknown-type",
      "invalid-argument",
      `unknown subject type ${clip(subject.type)}`,
      {
        type: clip(subject.type),
      },
    );
  }
  if (subject.id === WILDCARD_ID) {
    throw new LatchError(
      "check/wildcard-subject",
      "invalid-argument",
      "a check's subject cannot be a wildcard; check a concrete subject",
    );
  }
  if (!isValidObjectId(subject.id)) {
    throw new LatchError(
      "check/invalid-subject",
      "invalid-argument",
      subject.id === ""
        ? "empty subject id"
        : `invalid subject id "${clip(subject.id)}": an id is ${OBJECT_ID_RULE}`,
    );
  }
  if (subject.relation !== undefined && !def.members.has(subject.relation)) {
    throw new LatchError(
      "check/unknown-permission",
      "invalid-argument",
      `${clip(subject.type)} has no relation or permission ${clip(subject.relation)}`,
      { type: clip(subject.type), permission: clip(subject.relation) },
    );
  }
  return formatSubjectRef(subject);
}

/**
 * The request's caveat context: a JSON object within the context limits (`request/context-too-large`,
 * `request/context-too-deep`), checked here so that every transport (gRPC, HTTP, embedded) is held
 * to them.
 */
export function validateContext(context: unknown, limits: ContextLimits = DEFAULT_CONTEXT_LIMITS): void {
  if (context === undefined) return;
  if (context === null || typeof context !== "object" || Array.isArray(context)) {
    throw new LatchError("check/invalid-context", "invalid-argument", "the context must be a JSON object", {
      field: "context",
    });
  }
  checkContextLimits(context, "context", "request", limits);
}

/** Indexes contextual relationships by `type:id#relation`, after validating them like writes. */
export function indexContextual(
  plan: Plan,
  relationships: readonly Relationship[] | undefined,
  max: number,
): Map<string, Relationship[]> | undefined {
  if (relationships === undefined || relationships.length === 0) return undefined;
  if (relationships.length > max) {
    throw new LatchError(
      "check/too-many-contextual-relationships",
      "resource-exhausted",
      `at most ${max} contextual relationships per request, got ${relationships.length}`,
      { max, count: relationships.length },
    );
  }
  const out = new Map<string, Relationship[]>();
  for (const r of relationships) {
    validateRelationship(plan.schema, r);
    const key = `${r.resource.type}:${r.resource.id}#${r.relation}`;
    const list = out.get(key);
    if (list === undefined) out.set(key, [r]);
    else list.push(r);
  }
  return out;
}
