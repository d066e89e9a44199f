/**
 * A subproblem's key: plan, revision, the object and member, and the subject. The revision is in
 * it, so a write never needs to invalidate anything: later requests simply ask other keys.
 */
import type { Revision } from "../../core/index.js";
import type { PlanMember } from "../plan.js";

/** What every id's key of one dispatch starts with (the dispatch builds it once). */
export const keyPrefix = (planId: number, revision: Revision, member: PlanMember): string =>
  `${planId}|${revision}|${member.def.name}:`;

/** What every id's key of one dispatch ends with. */
export const keySuffix = (member: PlanMember, subjectKey: string): string => `#${member.name}@${subjectKey}`;

export function subproblemKey(
  planId: number,
  revision: Revision,
  member: PlanMember,
  id: string,
  subjectKey: string,
): string {
  return `${planId}|${revision}|${member.def.name}:${id}#${member.name}@${subjectKey}`;
}
