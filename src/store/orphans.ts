/**
 * The orphan check of a schema write: backends count live relationships grouped by shape (one
 * GROUP BY, not a scan per relation) and this decides which shapes the new schema no longer allows.
 */
import type { CompiledSchema } from "../schema/index.js";
import { StoreError } from "./errors.js";
import { checkRelationshipShape, type RelationshipShape } from "./validate.js";

export interface ShapeCount extends RelationshipShape {
  readonly count: number;
}

export interface OrphanedRelation {
  /** `type#relation` */
  readonly relation: string;
  readonly count: number;
  /** Distinct problems, each a sentence. */
  readonly reasons: readonly string[];
}

export function findOrphans(schema: CompiledSchema, shapes: Iterable<ShapeCount>): OrphanedRelation[] {
  const byRelation = new Map<string, { count: number; reasons: Set<string> }>();
  for (const shape of shapes) {
    const problem = checkRelationshipShape(schema, shape);
    if (problem === undefined) continue;
    const key = `${shape.resourceType}#${shape.relation}`;
    let entry = byRelation.get(key);
    if (entry === undefined) {
      entry = { count: 0, reasons: new Set() };
      byRelation.set(key, entry);
    }
    entry.count += shape.count;
    entry.reasons.add(problem.problem);
  }
  return [...byRelation.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([relation, { count, reasons }]) => ({ relation, count, reasons: [...reasons] }));
}

/** Relations listed in the error; a schema change can orphan thousands, and the count says so. */
const LISTED_ORPHANS = 20;

export function wouldOrphanError(orphans: readonly OrphanedRelation[]): StoreError {
  const total = orphans.reduce((n, o) => n + o.count, 0);
  const listed = orphans.slice(0, LISTED_ORPHANS);
  const lines = listed.map((o) => `  ${o.relation}: ${o.count} relationship(s): ${o.reasons.join("; ")}`);
  if (orphans.length > listed.length)
    lines.push(`  … and ${orphans.length - listed.length} more relation(s)`);
  return new StoreError(
    "schema/would-orphan",
    "failed-precondition",
    `schema not written: it would orphan ${total} stored relationship(s):\n${lines.join("\n")}\nDelete those relationships first (delete by filter), or keep the relations and subject types they use.`,
    {
      orphans: listed.map((o) => ({ relation: o.relation, count: o.count, reasons: o.reasons })),
      orphanedRelations: orphans.length,
      ...(orphans.length > listed.length ? { truncated: true } : {}),
    },
  );
}
