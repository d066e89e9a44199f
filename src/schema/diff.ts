/**
 * What changes from one compiled schema to another, as SpiceDB's DiffSchema reports it: added and
 * removed definitions and caveats, and per definition or caveat the members, subject types,
 * expressions, parameters and doc comments that differ. Deterministic: things in name order.
 */
import { allowedSubjectText } from "./format.js";
import type { CaveatDef, CompiledSchema, DefinitionDef, MemberDef, RelationDef } from "./ir.js";
import {
  type ReflectedCaveat,
  type ReflectedCaveatParameter,
  type ReflectedDefinition,
  type ReflectedPermission,
  type ReflectedRelation,
  type ReflectedSubjectType,
  reflectCaveat,
  reflectDefinition,
  reflectPermission,
  reflectRelation,
  reflectSubjectType,
} from "./reflect.js";

export type SchemaChange =
  | {
      readonly kind: "definition-added" | "definition-removed" | "definition-comment-changed";
      readonly definition: ReflectedDefinition;
    }
  | {
      readonly kind: "relation-added" | "relation-removed" | "relation-comment-changed";
      readonly relation: ReflectedRelation;
    }
  | {
      readonly kind: "relation-subject-type-added" | "relation-subject-type-removed";
      readonly relation: ReflectedRelation;
      readonly subjectType: ReflectedSubjectType;
    }
  | {
      readonly kind:
        | "permission-added"
        | "permission-removed"
        | "permission-comment-changed"
        | "permission-expr-changed";
      readonly permission: ReflectedPermission;
    }
  | {
      readonly kind: "caveat-added" | "caveat-removed" | "caveat-comment-changed" | "caveat-expr-changed";
      readonly caveat: ReflectedCaveat;
    }
  | {
      readonly kind: "caveat-parameter-added" | "caveat-parameter-removed";
      readonly parameter: ReflectedCaveatParameter;
    }
  | {
      readonly kind: "caveat-parameter-type-changed";
      readonly parameter: ReflectedCaveatParameter;
      readonly previousType: string;
    };

const sortedNames = (names: Iterable<string>) => [...names].sort();

function memberAdded(member: MemberDef): SchemaChange {
  return member.kind === "relation"
    ? { kind: "relation-added", relation: reflectRelation(member) }
    : { kind: "permission-added", permission: reflectPermission(member) };
}

function memberRemoved(member: MemberDef): SchemaChange {
  return member.kind === "relation"
    ? { kind: "relation-removed", relation: reflectRelation(member) }
    : { kind: "permission-removed", permission: reflectPermission(member) };
}

/** A relation's allowed subject types keyed by their schema text, which names each one fully. */
const allowedByText = (relation: RelationDef) =>
  new Map(relation.allowed.map((a) => [allowedSubjectText(a), a]));

function memberChanges(before: MemberDef, after: MemberDef): SchemaChange[] {
  // A relation that became a permission (or back) is one removed and another added.
  if (before.kind !== after.kind) return [memberRemoved(before), memberAdded(after)];
  const changes: SchemaChange[] = [];
  if (after.kind === "permission" && before.kind === "permission") {
    if ((before.comment ?? "") !== (after.comment ?? ""))
      changes.push({ kind: "permission-comment-changed", permission: reflectPermission(after) });
    if (JSON.stringify(before.expr) !== JSON.stringify(after.expr))
      changes.push({ kind: "permission-expr-changed", permission: reflectPermission(after) });
    return changes;
  }
  if (after.kind !== "relation" || before.kind !== "relation") return changes;
  const relation = reflectRelation(after);
  if ((before.comment ?? "") !== (after.comment ?? ""))
    changes.push({ kind: "relation-comment-changed", relation });
  const beforeTypes = allowedByText(before);
  const afterTypes = allowedByText(after);
  for (const [k, s] of beforeTypes)
    if (!afterTypes.has(k))
      changes.push({ kind: "relation-subject-type-removed", relation, subjectType: reflectSubjectType(s) });
  for (const [k, s] of afterTypes)
    if (!beforeTypes.has(k))
      changes.push({ kind: "relation-subject-type-added", relation, subjectType: reflectSubjectType(s) });
  return changes;
}

function definitionChanges(before: DefinitionDef, after: DefinitionDef): SchemaChange[] {
  const changes: SchemaChange[] = [];
  if ((before.comment ?? "") !== (after.comment ?? ""))
    changes.push({ kind: "definition-comment-changed", definition: reflectDefinition(after) });
  for (const [name, member] of before.members)
    if (!after.members.has(name)) changes.push(memberRemoved(member));
  for (const [name, member] of after.members) {
    const old = before.members.get(name);
    changes.push(...(old === undefined ? [memberAdded(member)] : memberChanges(old, member)));
  }
  return changes;
}

function caveatChanges(before: CaveatDef, after: CaveatDef): SchemaChange[] {
  const changes: SchemaChange[] = [];
  const was = reflectCaveat(before);
  const now = reflectCaveat(after);
  if (was.comment !== now.comment) changes.push({ kind: "caveat-comment-changed", caveat: now });
  const oldParams = new Map(was.parameters.map((p) => [p.name, p]));
  const newParams = new Map(now.parameters.map((p) => [p.name, p]));
  for (const [name, p] of oldParams)
    if (!newParams.has(name)) changes.push({ kind: "caveat-parameter-removed", parameter: p });
  for (const [name, p] of newParams) {
    const old = oldParams.get(name);
    if (old === undefined) changes.push({ kind: "caveat-parameter-added", parameter: p });
    else if (old.type !== p.type)
      changes.push({ kind: "caveat-parameter-type-changed", parameter: p, previousType: old.type });
  }
  if (was.expression !== now.expression) changes.push({ kind: "caveat-expr-changed", caveat: now });
  return changes;
}

/**
 * The changes that turn `existing` into `comparison`: added definitions, removed definitions,
 * added caveats, removed caveats, then the changes inside each definition and caveat kept.
 */
export function diffSchemas(existing: CompiledSchema, comparison: CompiledSchema): SchemaChange[] {
  const changes: SchemaChange[] = [];
  const defs = (s: CompiledSchema) => sortedNames(s.definitions.keys());
  const cavs = (s: CompiledSchema) => sortedNames(s.caveats.keys());
  for (const name of defs(comparison))
    if (!existing.definitions.has(name))
      changes.push({
        kind: "definition-added",
        definition: reflectDefinition(comparison.definitions.get(name)!),
      });
  for (const name of defs(existing))
    if (!comparison.definitions.has(name))
      changes.push({
        kind: "definition-removed",
        definition: reflectDefinition(existing.definitions.get(name)!),
      });
  for (const name of cavs(comparison))
    if (!existing.caveats.has(name))
      changes.push({ kind: "caveat-added", caveat: reflectCaveat(comparison.caveats.get(name)!) });
  for (const name of cavs(existing))
    if (!comparison.caveats.has(name))
      changes.push({ kind: "caveat-removed", caveat: reflectCaveat(existing.caveats.get(name)!) });
  for (const name of defs(comparison)) {
    const before = existing.definitions.get(name);
    if (before !== undefined) changes.push(...definitionChanges(before, comparison.definitions.get(name)!));
  }
  for (const name of cavs(comparison)) {
    const before = existing.caveats.get(name);
    if (before !== undefined) changes.push(...caveatChanges(before, comparison.caveats.get(name)!));
  }
  return changes;
}
