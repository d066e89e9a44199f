/**
 * Which relations and permissions feed which: the two questions SpiceDB's DependentRelations and
 * ComputablePermissions ask of a schema, answered from the compiled IR without any data.
 *
 * A member depends on:
 * - a relation: the subject sets it allows (`group#member`), and, for plain and wildcard subjects,
 *   the subject type itself (written `user#` here, `...` in SpiceDB);
 * - a permission: every member it names (`viewer`), and for an arrow `parent->view` the tupleset
 *   relation `parent` and `view` on each type `parent` allows.
 */
import type { CompiledSchema, MemberDef, PermissionExpr } from "./ir.js";

export interface MemberReference {
  readonly definition: string;
  /** The relation or permission; "" for the subject type itself (plain objects, wildcards). */
  readonly relation: string;
  readonly isPermission: boolean;
}

export type DependencyProblem =
  | { readonly kind: "unknown-definition"; readonly message: string }
  | { readonly kind: "unknown-member"; readonly message: string }
  | { readonly kind: "not-a-permission"; readonly message: string };

export type DependencyResult =
  | { readonly ok: true; readonly references: readonly MemberReference[] }
  | { readonly ok: false; readonly problem: DependencyProblem };

const key = (definition: string, relation: string) => `${definition}#${relation}`;

/** Edges of one member, in the direction "depends on"; a tupleset is an edge that is not followed. */
function dependenciesOf(schema: CompiledSchema, member: MemberDef): { follow: string[]; leaves: string[] } {
  const follow: string[] = [];
  const leaves: string[] = [];
  if (member.kind === "relation") {
    for (const a of member.allowed) follow.push(key(a.type, a.relation ?? ""));
    return { follow, leaves };
  }
  const walk = (expr: PermissionExpr): void => {
    switch (expr.kind) {
      case "union":
      case "intersection":
        for (const child of expr.children) walk(child);
        return;
      case "exclusion":
        walk(expr.base);
        walk(expr.subtract);
        return;
      case "computed":
        follow.push(key(member.definition, expr.name));
        return;
      case "arrow": {
        leaves.push(key(member.definition, expr.tupleset));
        const tupleset = schema.definitions.get(member.definition)?.members.get(expr.tupleset);
        if (tupleset?.kind !== "relation") return;
        for (const a of tupleset.allowed) {
          if (schema.definitions.get(a.type)?.members.has(expr.computed))
            follow.push(key(a.type, expr.computed));
        }
        return;
      }
      case "nil":
        return;
    }
  };
  walk(member.expr);
  return { follow, leaves };
}

function memberAt(schema: CompiledSchema, ref: string): MemberDef | undefined {
  const at = ref.indexOf("#");
  return schema.definitions.get(ref.slice(0, at))?.members.get(ref.slice(at + 1));
}

/** Sorted by definition then relation, as SpiceDB answers. */
function toReferences(schema: CompiledSchema, refs: Iterable<string>): MemberReference[] {
  const out: MemberReference[] = [];
  for (const ref of refs) {
    const at = ref.indexOf("#");
    const member = memberAt(schema, ref);
    out.push({
      definition: ref.slice(0, at),
      relation: ref.slice(at + 1),
      isPermission: member?.kind === "permission",
    });
  }
  return out.sort((a, b) =>
    a.definition !== b.definition
      ? a.definition < b.definition
        ? -1
        : 1
      : a.relation < b.relation
        ? -1
        : a.relation > b.relation
          ? 1
          : 0,
  );
}

function unknownDefinition(name: string): DependencyResult {
  return {
    ok: false,
    problem: { kind: "unknown-definition", message: `object definition \`${name}\` not found` },
  };
}

/**
 * Every relation and permission `definition#permission` is computed from, directly or not (not
 * itself). Refused when the definition or permission is unknown, or names a relation.
 */
export function dependentRelations(
  schema: CompiledSchema,
  definition: string,
  permission: string,
): DependencyResult {
  const def = schema.definitions.get(definition);
  if (def === undefined) return unknownDefinition(definition);
  const start = def.members.get(permission);
  if (start === undefined) {
    return {
      ok: false,
      problem: {
        kind: "unknown-member",
        message: `permission \`${permission}\` not found in \`${definition}\``,
      },
    };
  }
  if (start.kind !== "permission") {
    return {
      ok: false,
      problem: { kind: "not-a-permission", message: `the relation \`${permission}\` is not a permission` },
    };
  }
  const startKey = key(definition, permission);
  const seen = new Set<string>([startKey]);
  const found = new Set<string>();
  const queue = [startKey];
  while (queue.length > 0) {
    const member = memberAt(schema, queue.pop()!);
    if (member === undefined) continue;
    const { follow, leaves } = dependenciesOf(schema, member);
    for (const leaf of leaves) if (leaf !== startKey) found.add(leaf);
    for (const next of follow) {
      // Plain subject types (`user#`) are where a walk ends, not members.
      if (next.endsWith("#") || seen.has(next)) continue;
      seen.add(next);
      found.add(next);
      queue.push(next);
    }
  }
  return { ok: true, references: toReferences(schema, found) };
}

/**
 * Every relation and permission whose result may change when `definition#relation` changes
 * (`relation` "" for the object type itself: the relations that allow it as a subject and all
 * that is computed from them), optionally only in definitions whose name starts with
 * `definitionPrefix`.
 */
export function computablePermissions(
  schema: CompiledSchema,
  definition: string,
  relation: string,
  definitionPrefix = "",
): DependencyResult {
  const def = schema.definitions.get(definition);
  if (def === undefined) return unknownDefinition(definition);
  if (relation !== "" && !def.members.has(relation)) {
    return {
      ok: false,
      problem: {
        kind: "unknown-member",
        message: `relation/permission \`${relation}\` not found in \`${definition}\``,
      },
    };
  }
  // Reverse the "depends on" edges once over the whole schema.
  const dependents = new Map<string, string[]>();
  for (const d of schema.definitions.values()) {
    for (const member of d.members.values()) {
      const self = key(d.name, member.name);
      const { follow, leaves } = dependenciesOf(schema, member);
      for (const target of [...follow, ...leaves]) {
        const list = dependents.get(target);
        if (list === undefined) dependents.set(target, [self]);
        else list.push(self);
      }
    }
  }
  const startKey = key(definition, relation);
  const seen = new Set<string>([startKey]);
  const queue = [startKey];
  while (queue.length > 0) {
    for (const next of dependents.get(queue.pop()!) ?? []) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(next);
    }
  }
  seen.delete(startKey);
  const refs = [...seen].filter((ref) => ref.startsWith(definitionPrefix));
  return { ok: true, references: toReferences(schema, refs) };
}
