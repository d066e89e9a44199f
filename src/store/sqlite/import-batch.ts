/**
 * The batched-import inner loop: one prepared single-row INSERT per table, parameters in reused
 * arrays. Binding a BigInt costs far more than a number, so revisions are bound as numbers (safe far
 * beyond any reachable revision: 2^53 writes).
 * A relationship that is already live is replaced (TOUCH semantics), so loading the same file
 * twice, or a file listing a relationship twice, is harmless.
 */
import type { Relationship } from "../../core/index.js";
import { serializeContext } from "../row-keys.js";
import type { Statements } from "./statements.js";

const TOUCH = 1;

/** How many columns `relationshipParams` writes. */
export const RELATIONSHIP_PARAMS = 9;

/**
 * Writes a relationship's stored columns into `target` from `offset`, in the order of the changes
 * table: resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
 * caveat_name, caveat_context, expiration. Into an array the caller reuses, so a load allocates
 * nothing per row here.
 */
export function relationshipParams(target: unknown[], offset: number, r: Relationship): void {
  const subjectRelation = r.subject.relation;
  target[offset] = r.resource.type;
  target[offset + 1] = r.resource.id;
  target[offset + 2] = r.relation;
  target[offset + 3] = r.subject.type;
  target[offset + 4] = r.subject.id;
  target[offset + 5] = subjectRelation === undefined || subjectRelation === "..." ? "" : subjectRelation;
  if (r.caveat === undefined) {
    target[offset + 6] = null;
    target[offset + 7] = null;
  } else {
    target[offset + 6] = r.caveat.name;
    target[offset + 7] = serializeContext(r);
  }
  target[offset + 8] = r.expiration === undefined ? null : r.expiration.getTime();
}

function isConstraintError(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    (error as { code: string }).code.startsWith("SQLITE_CONSTRAINT")
  );
}

export function importBatch(s: Statements, batch: readonly Relationship[], revision: number): void {
  // insertRelationship binds the key, created_rev, then caveat_name, caveat_context, expiration.
  const rel = new Array<unknown>(10);
  const change = new Array<unknown>(3 + RELATIONSHIP_PARAMS);
  change[0] = revision;
  change[2] = TOUCH;
  rel[6] = revision;
  for (let seq = 0; seq < batch.length; seq++) {
    change[1] = seq;
    relationshipParams(change, 3, batch[seq]!);
    for (let i = 0; i < 6; i++) rel[i] = change[3 + i];
    rel[7] = change[9];
    rel[8] = change[10];
    rel[9] = change[11];
    try {
      s.insertRelationship.run(rel);
    } catch (error) {
      if (!isConstraintError(error)) throw error;
      const ids = rel.slice(0, 6);
      const existing = s.selectLive.get(ids) as [number] | undefined;
      if (existing !== undefined && existing[0] === revision) {
        s.updateLiveInPlace.run(rel[7], rel[8], rel[9], ...ids);
      } else {
        s.closeLive.run(revision, ...ids);
        s.insertRelationship.run(rel);
      }
    }
    s.insertChange.run(change);
  }
}
