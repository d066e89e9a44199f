/**
 * How a relationship is named in messages and how its subject relation is normalised: kept apart
 * from validate.ts so that the store's worker threads, which only name what they refuse, load no
 * schema or caveat code (the write thread's start is on an import's path).
 */
import { clip, formatRelationship, type Relationship } from "../core/index.js";

/** Longest echo of a whole relationship in a message: room for two names and two long ids. */
const RELATIONSHIP_CLIP = 256;

/**
 * The string form for messages, clipped; never throws, even for relationships the formatter
 * refuses.
 */
export function describeRelationship(r: Relationship): string {
  try {
    return clip(formatRelationship(r), RELATIONSHIP_CLIP);
  } catch {
    const subject = `${clip(r.subject.type)}:${clip(r.subject.id)}${r.subject.relation === undefined ? "" : `#${clip(r.subject.relation)}`}`;
    return clip(
      `${clip(r.resource.type)}:${clip(r.resource.id)}#${clip(r.relation)}@${subject}`,
      RELATIONSHIP_CLIP,
    );
  }
}

/** Normalises the ellipsis (`#...`) and the empty relation to "no subject relation". */
export function subjectRelationOf(r: Relationship): string | undefined {
  const relation = r.subject.relation;
  return relation === undefined || relation === "" || relation === "..." ? undefined : relation;
}
