/**
 * Reflection: the compiled schema as plain, transport-free records (definitions with their
 * relations, permissions and comments; caveats with their parameters), and the name filters that
 * narrow it. SpiceDB's ReflectSchema and DiffSchema are built on these; so can any other caller.
 */
import { formatParameterType } from "../conditions/index.js";
import type {
  AllowedSubject,
  CaveatDef,
  CompiledSchema,
  DefinitionDef,
  PermissionDef,
  RelationDef,
} from "./ir.js";

/** One allowed subject type of a relation: `user`, `group#member`, `user:*`, `user with c`. */
export interface ReflectedSubjectType {
  readonly definition: string;
  /** The subject relation of a subject set; absent for plain objects and wildcards. */
  readonly relation?: string;
  readonly wildcard: boolean;
  readonly caveat?: string;
  /** `with expiration`: shown by Latch, absent from SpiceDB's reflection messages. */
  readonly expiration: boolean;
}

export interface ReflectedRelation {
  readonly name: string;
  readonly comment: string;
  readonly definition: string;
  readonly subjectTypes: readonly ReflectedSubjectType[];
}

export interface ReflectedPermission {
  readonly name: string;
  readonly comment: string;
  readonly definition: string;
}

export interface ReflectedDefinition {
  readonly name: string;
  readonly comment: string;
  readonly relations: readonly ReflectedRelation[];
  readonly permissions: readonly ReflectedPermission[];
}

export interface ReflectedCaveatParameter {
  readonly name: string;
  /** `int`, `list<string>`, `map<any>` ... */
  readonly type: string;
  readonly caveat: string;
}

export interface ReflectedCaveat {
  readonly name: string;
  readonly comment: string;
  readonly expression: string;
  /** Sorted by name. */
  readonly parameters: readonly ReflectedCaveatParameter[];
}

export interface SchemaReflection {
  /** Sorted by name; relations and permissions in source order. */
  readonly definitions: readonly ReflectedDefinition[];
  /** Sorted by name. */
  readonly caveats: readonly ReflectedCaveat[];
}

/**
 * One filter: every name given must be a prefix of the thing's name. A relation or permission
 * filter needs a definition filter; definitions and caveats cannot be filtered by one filter both.
 * Several filters are alternatives (any may match).
 */
export interface ReflectionFilter {
  readonly definition?: string;
  readonly caveat?: string;
  readonly relation?: string;
  readonly permission?: string;
}

/** Why a filter cannot be used, or undefined when every filter is usable. */
export function reflectionFilterProblem(filters: readonly ReflectionFilter[]): string | undefined {
  for (const [i, f] of filters.entries()) {
    const at = `optional_filters[${i}]`;
    if (f.definition && f.caveat) return `${at}: cannot filter by both definition and caveat name`;
    if (f.relation && !f.definition) return `${at}: a relation name filter needs a definition name filter`;
    if (f.permission && !f.definition)
      return `${at}: a permission name filter needs a definition name filter`;
    if (f.relation && f.permission) return `${at}: cannot filter by both relation and permission name`;
  }
  return undefined;
}

const byName = <T extends { readonly name: string }>(a: T, b: T): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

export function reflectSubjectType(allowed: AllowedSubject): ReflectedSubjectType {
  return {
    definition: allowed.type,
    ...(allowed.relation === undefined ? {} : { relation: allowed.relation }),
    wildcard: allowed.wildcard,
    ...(allowed.caveat === undefined ? {} : { caveat: allowed.caveat }),
    expiration: allowed.expiration,
  };
}

export function reflectPermission(permission: PermissionDef): ReflectedPermission {
  return { name: permission.name, comment: permission.comment ?? "", definition: permission.definition };
}

export function reflectRelation(relation: RelationDef): ReflectedRelation {
  return {
    name: relation.name,
    comment: relation.comment ?? "",
    definition: relation.definition,
    subjectTypes: relation.allowed.map(reflectSubjectType),
  };
}

/**
 * A filter test for one kind of name: true when no filter constrains this kind, else when one of
 * the filters that does matches both the definition and the name.
 */
function memberMatches(
  filters: readonly ReflectionFilter[],
  kind: "relation" | "permission",
  definition: string,
  name: string,
): boolean {
  const relevant = filters.filter((f) => f[kind]);
  if (relevant.length === 0) return true;
  return relevant.some((f) => name.startsWith(f[kind]!) && definition.startsWith(f.definition ?? ""));
}

function nameMatches(filters: readonly ReflectionFilter[], kind: "definition" | "caveat", name: string) {
  const relevant = filters.filter((f) => f[kind]);
  return relevant.length === 0 || relevant.some((f) => name.startsWith(f[kind]!));
}

export function reflectDefinition(
  definition: DefinitionDef,
  filters: readonly ReflectionFilter[] = [],
): ReflectedDefinition {
  const relations: ReflectedRelation[] = [];
  const permissions: ReflectedPermission[] = [];
  for (const member of definition.members.values()) {
    if (!memberMatches(filters, member.kind, definition.name, member.name)) continue;
    if (member.kind === "relation") relations.push(reflectRelation(member));
    else permissions.push(reflectPermission(member));
  }
  return { name: definition.name, comment: definition.comment ?? "", relations, permissions };
}

export function reflectCaveat(caveat: CaveatDef): ReflectedCaveat {
  const parameters = [...caveat.parameters]
    .map(([name, type]) => ({ name, type: formatParameterType(type), caveat: caveat.name }))
    .sort(byName);
  return { name: caveat.name, comment: caveat.comment ?? "", expression: caveat.expression, parameters };
}

/**
 * The schema as records. With filters (check them first with `reflectionFilterProblem`), only the
 * matching definitions, members and caveats; definitions are listed only when some filter (or
 * none at all) names definitions, caveats likewise.
 */
export function reflectSchema(
  schema: CompiledSchema,
  filters: readonly ReflectionFilter[] = [],
): SchemaReflection {
  const wantDefinitions = filters.length === 0 || filters.some((f) => f.definition);
  const wantCaveats = filters.length === 0 || filters.some((f) => f.caveat);
  const definitions = wantDefinitions
    ? [...schema.definitions.values()]
        .filter((d) => nameMatches(filters, "definition", d.name))
        .map((d) => reflectDefinition(d, filters))
        .sort(byName)
    : [];
  const caveats = wantCaveats
    ? [...schema.caveats.values()]
        .filter((c) => nameMatches(filters, "caveat", c.name))
        .map(reflectCaveat)
        .sort(byName)
    : [];
  return { definitions, caveats };
}
