/**
 * Checks a relationship against a compiled schema before any store writes it. The engine uses the
 * same rules for contextual relationships, so a check can never see an edge a write would refuse.
 *
 * Caveat and expiration rules follow SpiceDB: an allowed subject `user with c` requires caveat `c`
 * on relationships that match it, a bare `user` allows none, and both may be listed to allow either.
 * `with expiration` permits (does not require) an expiration.
 */

import { convertContext } from "../conditions/index.js";
import {
  clip,
  describeTextPath,
  type ErrorCodeIn,
  MAX_OBJECT_ID_LENGTH,
  measureContext,
  OBJECT_ID_PATTERN,
  OBJECT_ID_RULE,
  type Relationship,
  unstorableTextAt,
  WILDCARD_ID,
} from "../core/index.js";
import type { AllowedSubject, CompiledSchema, RelationDef } from "../schema/index.js";
import { describeRelationship, subjectRelationOf } from "./describe.js";
import { RelationshipValidationError } from "./errors.js";
import type { RelationshipUpdate } from "./types.js";

/** The parts of a relationship the schema constrains: what the orphan check counts in bulk. */
export interface RelationshipShape {
  readonly resourceType: string;
  readonly relation: string;
  readonly subjectType: string;
  /** Subject-set relation; undefined for plain objects and wildcards. */
  readonly subjectRelation: string | undefined;
  readonly wildcard: boolean;
  readonly caveatName: string | undefined;
  readonly hasExpiration: boolean;
}

export interface ShapeProblem {
  readonly kind?: undefined;
  readonly code: ErrorCodeIn<"relationship">;
  /** What is wrong, in a sentence without the relationship itself. */
  readonly problem: string;
  /** How to fix it. */
  readonly fix: string;
}

const LIST_LIMIT = 12;

function list(names: Iterable<string>): string {
  const all = [...names];
  const shown = all.slice(0, LIST_LIMIT).map((n) => `\`${clip(n)}\``);
  if (all.length > LIST_LIMIT) shown.push(`and ${all.length - LIST_LIMIT} more`);
  return shown.length === 0 ? "(none)" : shown.join(", ");
}

/** `user`, `group#member`, `user:*`, with ` with c`, ` with expiration` or ` with c and expiration`. */
export function formatAllowedSubject(a: AllowedSubject): string {
  let s = a.wildcard ? `${a.type}:*` : a.relation === undefined ? a.type : `${a.type}#${a.relation}`;
  if (a.caveat !== undefined && a.expiration) s += ` with ${a.caveat} and expiration`;
  else if (a.caveat !== undefined) s += ` with ${a.caveat}`;
  else if (a.expiration) s += " with expiration";
  return s;
}

function describeSubject(shape: RelationshipShape): string {
  const type = clip(shape.subjectType);
  if (shape.wildcard) return `${type}:*`;
  return shape.subjectRelation === undefined ? type : `${type}#${clip(shape.subjectRelation)}`;
}

function matchesSubject(a: AllowedSubject, shape: RelationshipShape): boolean {
  if (a.type !== shape.subjectType || a.wildcard !== shape.wildcard) return false;
  return shape.wildcard || a.relation === shape.subjectRelation;
}

/** Resolves `type#relation` to a relation, or says why it cannot be written to. */
export function resolveRelation(
  schema: CompiledSchema,
  resourceType: string,
  relation: string,
): RelationDef | ShapeProblem {
  const member = schema.definitions.get(resourceType)?.members.get(relation);
  if (member !== undefined && member.kind === "relation") return member;
  return relationProblem(schema, resourceType, relation);
}

/** Why `type#relation` cannot be written to; names quoted from the request are clipped. */
function relationProblem(schema: CompiledSchema, type: string, name: string): ShapeProblem {
  const resourceType = clip(type);
  const relation = clip(name);
  const definition = schema.definitions.get(type);
  if (definition === undefined) {
    return {
      code: "relationship/unknown-type",
      problem: `object type \`${resourceType}\` is not defined in the schema`,
      fix: `Use a defined type (${list(schema.definitions.keys())}) or add \`definition ${resourceType}\` to the schema.`,
    };
  }
  const member = definition.members.get(name);
  const relations = [...definition.members.values()].filter((m) => m.kind === "relation").map((m) => m.name);
  if (member === undefined) {
    return {
      code: "relationship/unknown-relation",
      problem: `\`${resourceType}\` has no relation \`${relation}\``,
      fix: `Use one of its relations (${list(relations)}) or add \`relation ${relation}\` to \`definition ${resourceType}\`.`,
    };
  }
  return {
    code: "relationship/not-a-relation",
    problem: `\`${resourceType}#${relation}\` is a permission, computed from other relations, and cannot be written`,
    fix: `Write to one of the relations of \`${resourceType}\` instead (${list(relations)}).`,
  };
}

/**
 * The schema rules without ids or context: used per relationship on write and per distinct shape
 * when a new schema is checked for relationships it would orphan. `ignoreTraits` skips caveat and
 * expiration (deletes name a relationship by identity only).
 */
export function checkRelationshipShape(
  schema: CompiledSchema,
  shape: RelationshipShape,
  ignoreTraits = false,
): ShapeProblem | undefined {
  const resolved = resolveRelation(schema, shape.resourceType, shape.relation);
  if (resolved.kind !== "relation") return resolved;
  // Fast path (every valid relationship): one exact match and nothing allocated.
  for (const a of resolved.allowed) {
    if (
      matchesSubject(a, shape) &&
      (ignoreTraits || (a.caveat === shape.caveatName && (a.expiration || !shape.hasExpiration)))
    ) {
      return undefined;
    }
  }
  const where = `\`${clip(shape.resourceType)}#${clip(shape.relation)}\``;
  const allowed = resolved.allowed;
  const candidates = allowed.filter((a) => matchesSubject(a, shape));
  if (candidates.length === 0) {
    return {
      code: "relationship/subject-not-allowed",
      problem: `subjects of type \`${describeSubject(shape)}\` are not allowed on ${where}`,
      fix: `Use an allowed subject type (${list(allowed.map(formatAllowedSubject))}) or add \`${describeSubject(shape)}\` to the relation in the schema.`,
    };
  }
  if (ignoreTraits) return undefined;
  const sameCaveat = candidates.filter((a) => a.caveat === shape.caveatName);
  if (sameCaveat.length === 0) {
    const caveats = candidates.map((a) => a.caveat).filter((c): c is string => c !== undefined);
    if (shape.caveatName === undefined) {
      return {
        code: "relationship/caveat-required",
        problem: `subjects of type \`${describeSubject(shape)}\` on ${where} require a caveat`,
        fix: `Name one of the caveats ${list(new Set(caveats))}, e.g. \`[${caveats[0]}]\`, or allow \`${describeSubject(shape)}\` without a caveat in the schema.`,
      };
    }
    const noCaveat = candidates.some((a) => a.caveat === undefined);
    const caveatName = clip(shape.caveatName);
    return {
      code: "relationship/caveat-not-allowed",
      problem: `caveat \`${caveatName}\` is not allowed for \`${describeSubject(shape)}\` on ${where}`,
      fix:
        caveats.length === 0
          ? `Remove the caveat, or allow \`${describeSubject(shape)} with ${caveatName}\` in the schema.`
          : `Use ${noCaveat ? "no caveat or " : ""}one of ${list(new Set(caveats))}, or allow \`${describeSubject(shape)} with ${caveatName}\` in the schema.`,
    };
  }
  if (shape.hasExpiration && !sameCaveat.some((a) => a.expiration)) {
    const subject =
      shape.caveatName === undefined
        ? describeSubject(shape)
        : `${describeSubject(shape)} with ${clip(shape.caveatName)}`;
    return {
      code: "relationship/expiration-not-allowed",
      problem: `an expiration is not allowed for \`${subject}\` on ${where}`,
      fix: `Remove the expiration, or allow it in the schema: \`${shape.caveatName === undefined ? `${subject} with expiration` : `${describeSubject(shape)} with ${clip(shape.caveatName)} and expiration`}\` (with \`use expiration\`).`,
    };
  }
  return undefined;
}

function fail(
  r: Relationship,
  code: ErrorCodeIn<"relationship">,
  problem: string,
  fix: string,
  cause?: unknown,
): never {
  const text = describeRelationship(r);
  throw new RelationshipValidationError(
    code,
    `${text}: ${problem}. ${fix}`,
    { relationship: text },
    cause === undefined ? undefined : { cause },
  );
}

function checkId(r: Relationship, id: string, what: string): void {
  if (typeof id !== "string" || id.length === 0)
    fail(r, "relationship/invalid-id", `the ${what} is empty`, "Give an id.");
  if (id.length > MAX_OBJECT_ID_LENGTH) {
    fail(
      r,
      "relationship/invalid-id",
      `the ${what} is ${id.length} characters long, over the limit of ${MAX_OBJECT_ID_LENGTH}`,
      "Use a shorter id (a hash of a long key, for example).",
    );
  }
  if (!OBJECT_ID_PATTERN.test(id)) {
    fail(
      r,
      "relationship/invalid-id",
      `the ${what} \`${clip(id)}\` contains characters ids may not use`,
      `An id is ${OBJECT_ID_RULE}.`,
    );
  }
}

export function shapeOf(r: Relationship): RelationshipShape {
  return {
    resourceType: r.resource.type,
    relation: r.relation,
    subjectType: r.subject.type,
    subjectRelation: subjectRelationOf(r),
    wildcard: r.subject.id === WILDCARD_ID,
    caveatName: r.caveat?.name,
    hasExpiration: r.expiration !== undefined,
  };
}

function checkIds(r: Relationship): void {
  if (r.resource.id === WILDCARD_ID) {
    fail(r, "relationship/invalid-id", "a resource id cannot be the wildcard `*`", "Name one object.");
  }
  checkId(r, r.resource.id, "resource id");
  if (r.subject.id === WILDCARD_ID) {
    if (subjectRelationOf(r) !== undefined) {
      fail(
        r,
        "relationship/invalid-id",
        "a wildcard subject cannot have a relation",
        `Write \`${clip(r.subject.type)}:*\` without \`#${clip(r.subject.relation ?? "")}\`.`,
      );
    }
  } else {
    checkId(r, r.subject.id, "subject id");
  }
}

/**
 * Throws RelationshipValidationError (kind invalid-argument) naming the relationship and how to fix
 * it when `r` may not be stored under `schema`.
 */
export function validateRelationship(schema: CompiledSchema, r: Relationship): void {
  checkIds(r);
  const problem = checkRelationshipShape(schema, shapeOf(r));
  if (problem !== undefined) fail(r, problem.code, problem.problem, problem.fix);
  if (
    r.expiration !== undefined &&
    !(r.expiration instanceof Date && Number.isFinite(r.expiration.getTime()))
  ) {
    fail(
      r,
      "relationship/invalid-expiration",
      "the expiration is not a valid instant",
      "Give an RFC 3339 timestamp.",
    );
  }
  const context = r.caveat?.context;
  if (r.caveat === undefined || context === undefined) return;
  const caveat = schema.caveats.get(r.caveat.name);
  if (caveat === undefined) {
    fail(
      r,
      "relationship/caveat-not-allowed",
      `caveat \`${clip(r.caveat.name)}\` is not defined`,
      "Define it in the schema.",
    );
  }
  // The same bounds as a request's context: a stored one is evaluated on every check that reaches it.
  const size = measureContext(context);
  if (size !== undefined) {
    fail(
      r,
      `relationship/context-too-${size.problem === "too-large" ? "large" : "deep"}`,
      `the caveat context is too ${size.problem === "too-large" ? "large" : "deep"}: ${size.message}`,
      "Store only the values the caveat reads.",
    );
  }
  const unstorable = unstorableTextAt(context);
  if (unstorable !== undefined) {
    fail(
      r,
      "relationship/bad-caveat-context",
      `the caveat context's text at ${describeTextPath(unstorable)} holds U+0000 or a lone surrogate, which a datastore cannot store as given`,
      "Remove the character, or store the value encoded (base64, say).",
    );
  }
  const unknown = Object.keys(context).filter((k) => !caveat.parameters.has(k));
  if (unknown.length > 0) {
    fail(
      r,
      "relationship/bad-caveat-context",
      `caveat \`${caveat.name}\` has no parameter ${list(unknown)}`,
      `Its parameters are ${list(caveat.parameters.keys())}.`,
    );
  }
  try {
    convertContext(caveat.parameters, context);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    fail(
      r,
      "relationship/bad-caveat-context",
      `the stored context does not fit caveat \`${caveat.name}\`: ${clip(reason, 512)}`,
      "Give each parameter a value of its declared type.",
      error,
    );
  }
}

/** Each update as its operation asks: a delete by identity, a write whole. */
export function validateUpdates(schema: CompiledSchema, updates: readonly RelationshipUpdate[]): void {
  for (const { operation, relationship } of updates) {
    if (operation === "delete") validateRelationshipForDelete(schema, relationship);
    else validateRelationship(schema, relationship);
  }
}

/** Deletes name a relationship by identity: ids, type, relation and subject type are checked. */
export function validateRelationshipForDelete(schema: CompiledSchema, r: Relationship): void {
  checkIds(r);
  const problem = checkRelationshipShape(schema, shapeOf(r), true);
  if (problem !== undefined) fail(r, problem.code, problem.problem, problem.fix);
}
