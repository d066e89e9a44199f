/**
 * The batched-import inner loop: one prepared single-row INSERT per table, parameters in reused
 * arrays. Binding a BigInt costs far more than a number, so revisions are bound as numbers (safe far
 * beyond any reachable revision: 2^53 writes).
 * A relationship that is already live is replaced (TOUCH semantics), so loading the same file
 * twice, or a file listing a relationship twice, is harmless.
 */
import type { Relationship } from "../../core/index.js";
import { serializeContext } from "../row-keys.js";
import { CHANGES_PER_INSERT, type Statements } from "./statements.js";

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

const CHANGE_PARAMS = 3 + RELATIONSHIP_PARAMS;

export function importBatch(s: Statements, batch: readonly Relationship[], revision: number): void {
  // insertRelationship binds the key, created_rev, then caveat_name, caveat_context, expiration.
  const rel = new Array<unknown>(10);
  // Change rows go in CHANGES_PER_INSERT at a time (they never conflict): one statement
  // execution costs about a microsecond whatever it inserts.
  const changes = new Array<unknown>(CHANGES_PER_INSERT * CHANGE_PARAMS);
  let pending = 0;
  rel[6] = revision;
  for (let seq = 0; seq < batch.length; seq++) {
    const at = pending * CHANGE_PARAMS;
    changes[at] = revision;
    changes[at + 1] = seq;
    changes[at + 2] = TOUCH;
    relationshipParams(changes, at + 3, batch[seq]!);
    for (let i = 0; i < 6; i++) rel[i] = changes[at + 3 + i];
    rel[7] = changes[at + 9];
    rel[8] = changes[at + 10];
    rel[9] = changes[at + 11];
    try {
      // Spread, not the array: better-sqlite3 reads arguments faster than array elements.
      s.insertRelationship.run(...rel);
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
    if (++pending === CHANGES_PER_INSERT) {
      s.insertChanges.run(...changes);
      pending = 0;
    }
  }
  for (let i = 0; i < pending; i++) {
    s.insertChange.run(changes.slice(i * CHANGE_PARAMS, (i + 1) * CHANGE_PARAMS));
  }
}
