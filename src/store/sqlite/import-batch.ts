/**
 * The bulk-load inner loop: one prepared single-row INSERT per table, parameters in a reused
 * array. Measured on this machine, multi-row `VALUES (...), (...)` statements were about half as
 * fast through better-sqlite3, and binding a BigInt costs far more than a number, so revisions are
 * bound as numbers (safe far beyond any reachable revision: 2^53 writes).
 * A relationship that is already live is replaced (TOUCH semantics), so loading the same file
 * twice, or a file listing a relationship twice, is harmless.
 */
import type { Relationship } from "../../core/index.js";
import { serializeContext } from "../row-keys.js";
import type { Statements } from "./statements.js";

const TOUCH = 1;

function isConstraintError(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    (error as { code: string }).code.startsWith("SQLITE_CONSTRAINT")
  );
}

export function importBatch(
  s: Statements,
  batch: readonly Relationship[],
  revision: number,
  recordChanges = true,
): void {
  const rel = new Array<unknown>(10);
  const change = new Array<unknown>(12);
  change[0] = revision;
  change[2] = TOUCH;
  rel[6] = revision;
  for (let seq = 0; seq < batch.length; seq++) {
    const r = batch[seq]!;
    const subjectRelation = r.subject.relation;
    const sr = subjectRelation === undefined || subjectRelation === "..." ? "" : subjectRelation;
    const caveat = r.caveat === undefined ? null : r.caveat.name;
    const context = r.caveat === undefined ? null : serializeContext(r);
    const expiration = r.expiration === undefined ? null : r.expiration.getTime();
    change[3] = rel[0] = r.resource.type;
    change[4] = rel[1] = r.resource.id;
    change[5] = rel[2] = r.relation;
    change[6] = rel[3] = r.subject.type;
    change[7] = rel[4] = r.subject.id;
    change[8] = rel[5] = sr;
    change[9] = rel[7] = caveat;
    change[10] = rel[8] = context;
    change[11] = rel[9] = expiration;
    change[1] = seq;
    try {
      s.insertRelationship.run(rel);
    } catch (error) {
      if (!isConstraintError(error)) throw error;
      const ids = rel.slice(0, 6);
      const existing = s.selectLive.get(ids) as [number] | undefined;
      if (existing !== undefined && existing[0] === revision) {
        s.updateLiveInPlace.run(caveat, context, expiration, ...ids);
      } else {
        s.closeLive.run(revision, ...ids);
        s.insertRelationship.run(rel);
      }
    }
    if (recordChanges) s.insertChange.run(change);
  }
}
