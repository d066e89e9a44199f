/**
 * Relationships as people type them (`document:plan#viewer@user:alice[caveat:{...}]`, the CLI's
 * and validation files' form, parsed by Latch's own parser) and as the API sends them; the
 * filter form as a ReadRelationships / DeleteRelationships filter; an import file in batches.
 */
import { parseRelationship } from "../../src/core/relationship-string.js";
import type { Relationship } from "../../src/core/types.js";
import { RefError } from "./refs.js";

/** A relationship as the API's JSON carries it. */
export interface WireRelationship {
  readonly resource?: { readonly objectType?: string; readonly objectId?: string };
  readonly relation?: string;
  readonly subject?: {
    readonly object?: { readonly objectType?: string; readonly objectId?: string };
    readonly optionalRelation?: string;
  };
  readonly optionalCaveat?: { readonly caveatName?: string; readonly context?: Record<string, unknown> };
  readonly optionalExpiresAt?: string;
}

export function toWire(r: Relationship): WireRelationship {
  return {
    resource: { objectType: r.resource.type, objectId: r.resource.id },
    relation: r.relation,
    subject: {
      object: { objectType: r.subject.type, objectId: r.subject.id },
      ...(r.subject.relation === undefined ? {} : { optionalRelation: r.subject.relation }),
    },
    ...(r.caveat === undefined
      ? {}
      : {
          optionalCaveat: {
            caveatName: r.caveat.name,
            ...(r.caveat.context === undefined ? {} : { context: { ...r.caveat.context } }),
          },
        }),
    ...(r.expiration === undefined ? {} : { optionalExpiresAt: r.expiration.toISOString() }),
  };
}

/** The text form of a relationship read back, its caveat's context included. */
export function formatWire(r: WireRelationship): string {
  const s = r.subject;
  let out = `${r.resource?.objectType}:${r.resource?.objectId}#${r.relation}@${s?.object?.objectType}:${s?.object?.objectId}`;
  if (s?.optionalRelation) out += `#${s.optionalRelation}`;
  const c = r.optionalCaveat;
  if (c?.caveatName) {
    const context = c.context !== undefined && Object.keys(c.context).length > 0;
    out += context ? `[${c.caveatName}:${JSON.stringify(c.context)}]` : `[${c.caveatName}]`;
  }
  if (r.optionalExpiresAt) out += `[expiration:${r.optionalExpiresAt}]`;
  return out;
}

/** One relationship typed in a box: the parser's message says where it went wrong. */
export function parseOne(text: string): WireRelationship {
  const t = text.trim();
  if (t === "")
    throw new RefError(
      "relationship: empty; write resource#relation@subject, e.g. document:plan#viewer@user:alice",
    );
  try {
    return toWire(parseRelationship(t));
  } catch (error) {
    throw new RefError(`relationship: ${(error as Error).message}`);
  }
}

export interface LineProblem {
  readonly line: number;
  readonly message: string;
}

export interface ParsedFile {
  readonly relationships: WireRelationship[];
  readonly problems: LineProblem[];
}

/** An import file: one relationship a line; blank lines and `//` or `#` comments skipped. */
export function parseLines(text: string): ParsedFile {
  const relationships: WireRelationship[] = [];
  const problems: LineProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("//") || line.startsWith("# ") || line === "#") return;
    try {
      relationships.push(toWire(parseRelationship(line)));
    } catch (error) {
      problems.push({ line: i + 1, message: (error as Error).message });
    }
  });
  return { relationships, problems };
}

export function batches<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be a positive integer, not ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface FilterForm {
  readonly resourceType: string;
  readonly resourceId: string;
  readonly relation: string;
  /** `type`, `type:id` or `type:id#relation`; empty for any subject. */
  readonly subject: string;
}

/** The form as ReadRelationships' filter; like the API, a resource type is required. */
export function filterOf(form: FilterForm): Record<string, unknown> {
  const resourceType = form.resourceType.trim();
  if (resourceType === "")
    throw new RefError("resource type: required (ReadRelationships filters by type first)");
  const filter: Record<string, unknown> = { resourceType };
  const id = form.resourceId.trim();
  if (id !== "") {
    // A trailing `*` reads every id with that prefix.
    if (id.endsWith("*")) filter.optionalResourceIdPrefix = id.slice(0, -1);
    else filter.optionalResourceId = id;
  }
  if (form.relation.trim() !== "") filter.optionalRelation = form.relation.trim();
  const subject = form.subject.trim();
  if (subject !== "") {
    const hash = subject.indexOf("#");
    const object = hash < 0 ? subject : subject.slice(0, hash);
    const colon = object.indexOf(":");
    const subjectType = colon < 0 ? object : object.slice(0, colon);
    if (subjectType === "" || (colon >= 0 && colon === object.length - 1))
      throw new RefError(
        `subject: "${subject}" is not a subject filter; write type, type:id or type:id#relation`,
      );
    filter.optionalSubjectFilter = {
      subjectType,
      ...(colon < 0 ? {} : { optionalSubjectId: object.slice(colon + 1) }),
      ...(hash < 0 ? {} : { optionalRelation: { relation: subject.slice(hash + 1) } }),
    };
  }
  return filter;
}

/** The filter that matches exactly one relationship: for deleting the row it belongs to. */
export function exactFilterOf(r: WireRelationship): Record<string, unknown> {
  return {
    resourceType: r.resource?.objectType,
    optionalResourceId: r.resource?.objectId,
    optionalRelation: r.relation,
    optionalSubjectFilter: {
      subjectType: r.subject?.object?.objectType,
      optionalSubjectId: r.subject?.object?.objectId,
      // Empty matches a subject without a relation: never a subject set by accident.
      optionalRelation: { relation: r.subject?.optionalRelation ?? "" },
    },
  };
}
