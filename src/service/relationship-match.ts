/** Whether one relationship passes a relationship filter, in memory (Watch filters changes so). */
import type { Relationship } from "../core/index.js";
import type { RelationshipFilter } from "../store/index.js";

/** The filter's meaning as the stores give it; a filter without a resource type matches every type. */
export function relationshipMatches(relationship: Relationship, filter: RelationshipFilter): boolean {
  const { resource, subject } = relationship;
  if (filter.resourceType && resource.type !== filter.resourceType) return false;
  if (filter.resourceId !== undefined && resource.id !== filter.resourceId) return false;
  if (filter.resourceIdPrefix !== undefined && !resource.id.startsWith(filter.resourceIdPrefix)) return false;
  if (filter.relation !== undefined && relationship.relation !== filter.relation) return false;
  if (filter.caveatName !== undefined && relationship.caveat?.name !== filter.caveatName) return false;
  const s = filter.subject;
  if (s === undefined) return true;
  if (subject.type !== s.type) return false;
  if (s.id !== undefined && subject.id !== s.id) return false;
  return s.relation === undefined || (subject.relation ?? "") === (s.relation === "..." ? "" : s.relation);
}
