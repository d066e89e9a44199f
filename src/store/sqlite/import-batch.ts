/**
 * The bulk-load inner loop: multi-row INSERTs of IMPORT_CHUNK rows into relationships and changes,
 * one prepared statement each, so the per-row cost is binding ten values rather than a statement
 * round trip. A chunk that hits an existing live relationship (or repeats one) is redone row by row
 * with TOUCH semantics: import replaces what it meets, so loading the same file twice is harmless.
 */
import type { Relationship, Revision } from "../../core/index.js";
import { identityParams, serializeContext } from "./rows.js";
import { CHANGE_PARAMS, IMPORT_CHUNK, REL_PARAMS, type Statements } from "./statements.js";

const TOUCH = 1;

function isConstraintError(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    (error as { code: string }).code.startsWith("SQLITE_CONSTRAINT")
  );
}

function fillRow(
  rel: unknown[],
  ch: unknown[],
  at: number,
  r: Relationship,
  revision: Revision,
  seq: number,
): void {
  const subjectRelation = r.subject.relation;
  const caveat = r.caveat === undefined ? null : r.caveat.name;
  const context = r.caveat === undefined ? null : serializeContext(r);
  const expiration = r.expiration === undefined ? null : r.expiration.getTime();
  const sr = subjectRelation === undefined || subjectRelation === "..." ? "" : subjectRelation;
  let i = at * REL_PARAMS;
  rel[i++] = r.resource.type;
  rel[i++] = r.resource.id;
  rel[i++] = r.relation;
  rel[i++] = r.subject.type;
  rel[i++] = r.subject.id;
  rel[i++] = sr;
  rel[i++] = revision;
  rel[i++] = caveat;
  rel[i++] = context;
  rel[i] = expiration;
  let j = at * CHANGE_PARAMS;
  ch[j++] = revision;
  ch[j++] = seq;
  ch[j++] = TOUCH;
  ch[j++] = r.resource.type;
  ch[j++] = r.resource.id;
  ch[j++] = r.relation;
  ch[j++] = r.subject.type;
  ch[j++] = r.subject.id;
  ch[j++] = sr;
  ch[j++] = caveat;
  ch[j++] = context;
  ch[j] = expiration;
}

function importOne(s: Statements, r: Relationship, revision: Revision, seq: number): void {
  const rel = new Array<unknown>(REL_PARAMS);
  const ch = new Array<unknown>(CHANGE_PARAMS);
  fillRow(rel, ch, 0, r, revision, seq);
  try {
    s.insertRelationship.run(rel);
  } catch (error) {
    if (!isConstraintError(error)) throw error;
    const ids = identityParams(r);
    const existing = s.selectLive.get(ids) as [number] | undefined;
    if (existing !== undefined && BigInt(existing[0]) === revision) {
      s.updateLiveInPlace.run(rel[7], rel[8], rel[9], ...ids);
    } else {
      s.closeLive.run(revision, ...ids);
      s.insertRelationship.run(rel);
    }
  }
  s.insertChange.run(ch);
}

export function importBatch(s: Statements, batch: readonly Relationship[], revision: Revision): void {
  const rel = new Array<unknown>(IMPORT_CHUNK * REL_PARAMS);
  const ch = new Array<unknown>(IMPORT_CHUNK * CHANGE_PARAMS);
  let start = 0;
  for (; start + IMPORT_CHUNK <= batch.length; start += IMPORT_CHUNK) {
    for (let k = 0; k < IMPORT_CHUNK; k++) fillRow(rel, ch, k, batch[start + k]!, revision, start + k);
    try {
      s.insertRelationships.run(rel);
    } catch (error) {
      if (!isConstraintError(error)) throw error;
      // The failed statement left nothing behind; redo this chunk one row at a time.
      for (let k = 0; k < IMPORT_CHUNK; k++) importOne(s, batch[start + k]!, revision, start + k);
      continue;
    }
    s.insertChanges.run(ch);
  }
  for (; start < batch.length; start++) importOne(s, batch[start]!, revision, start);
}
