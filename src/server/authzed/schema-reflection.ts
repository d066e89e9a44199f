/**
 * Reflection records (src/schema/reflect.ts, diff.ts, dependencies.ts) as authzed.api.v1 messages.
 * ExperimentalService's Exp* messages have the same fields and numbers, so the same shapes serve
 * both services.
 */
import type {
  MemberReference,
  ReflectedCaveat,
  ReflectedCaveatParameter,
  ReflectedDefinition,
  ReflectedPermission,
  ReflectedRelation,
  ReflectedSubjectType,
  SchemaChange,
  SchemaReflection,
} from "../../schema/index.js";

function subjectTypeToSpice(s: ReflectedSubjectType) {
  return {
    subjectDefinitionName: s.definition,
    optionalCaveatName: s.caveat ?? "",
    // SpiceDB sets the terminal case with the value false; the case is what clients read.
    typeref:
      s.relation !== undefined
        ? { case: "optionalRelationName" as const, value: s.relation }
        : s.wildcard
          ? { case: "isPublicWildcard" as const, value: true }
          : { case: "isTerminalSubject" as const, value: false },
  };
}

function relationToSpice(r: ReflectedRelation) {
  return {
    name: r.name,
    comment: r.comment,
    parentDefinitionName: r.definition,
    subjectTypes: r.subjectTypes.map(subjectTypeToSpice),
  };
}

function permissionToSpice(p: ReflectedPermission) {
  return { name: p.name, comment: p.comment, parentDefinitionName: p.definition };
}

function definitionToSpice(d: ReflectedDefinition) {
  return {
    name: d.name,
    comment: d.comment,
    relations: d.relations.map(relationToSpice),
    permissions: d.permissions.map(permissionToSpice),
  };
}

function parameterToSpice(p: ReflectedCaveatParameter) {
  return { name: p.name, type: p.type, parentCaveatName: p.caveat };
}

export function caveatToSpice(c: ReflectedCaveat) {
  return {
    name: c.name,
    comment: c.comment,
    expression: c.expression,
    parameters: c.parameters.map(parameterToSpice),
  };
}

export function reflectionToSpice(r: SchemaReflection) {
  return { definitions: r.definitions.map(definitionToSpice), caveats: r.caveats.map(caveatToSpice) };
}

export function referencesToSpice(refs: readonly MemberReference[]) {
  return refs.map((r) => ({
    definitionName: r.definition,
    relationName: r.relation,
    isPermission: r.isPermission,
  }));
}

export function schemaChangeToSpice(c: SchemaChange) {
  switch (c.kind) {
    case "definition-added":
      return { diff: { case: "definitionAdded" as const, value: definitionToSpice(c.definition) } };
    case "definition-removed":
      return { diff: { case: "definitionRemoved" as const, value: definitionToSpice(c.definition) } };
    case "definition-comment-changed":
      return {
        diff: { case: "definitionDocCommentChanged" as const, value: definitionToSpice(c.definition) },
      };
    case "relation-added":
      return { diff: { case: "relationAdded" as const, value: relationToSpice(c.relation) } };
    case "relation-removed":
      return { diff: { case: "relationRemoved" as const, value: relationToSpice(c.relation) } };
    case "relation-comment-changed":
      return { diff: { case: "relationDocCommentChanged" as const, value: relationToSpice(c.relation) } };
    case "relation-subject-type-added":
    case "relation-subject-type-removed": {
      const value = {
        relation: relationToSpice(c.relation),
        changedSubjectType: subjectTypeToSpice(c.subjectType),
      };
      return c.kind === "relation-subject-type-added"
        ? { diff: { case: "relationSubjectTypeAdded" as const, value } }
        : { diff: { case: "relationSubjectTypeRemoved" as const, value } };
    }
    case "permission-added":
      return { diff: { case: "permissionAdded" as const, value: permissionToSpice(c.permission) } };
    case "permission-removed":
      return { diff: { case: "permissionRemoved" as const, value: permissionToSpice(c.permission) } };
    case "permission-comment-changed":
      return {
        diff: { case: "permissionDocCommentChanged" as const, value: permissionToSpice(c.permission) },
      };
    case "permission-expr-changed":
      return { diff: { case: "permissionExprChanged" as const, value: permissionToSpice(c.permission) } };
    case "caveat-added":
      return { diff: { case: "caveatAdded" as const, value: caveatToSpice(c.caveat) } };
    case "caveat-removed":
      return { diff: { case: "caveatRemoved" as const, value: caveatToSpice(c.caveat) } };
    case "caveat-comment-changed":
      return { diff: { case: "caveatDocCommentChanged" as const, value: caveatToSpice(c.caveat) } };
    case "caveat-expr-changed":
      return { diff: { case: "caveatExprChanged" as const, value: caveatToSpice(c.caveat) } };
    case "caveat-parameter-added":
      return { diff: { case: "caveatParameterAdded" as const, value: parameterToSpice(c.parameter) } };
    case "caveat-parameter-removed":
      return { diff: { case: "caveatParameterRemoved" as const, value: parameterToSpice(c.parameter) } };
    case "caveat-parameter-type-changed":
      return {
        diff: {
          case: "caveatParameterTypeChanged" as const,
          value: { parameter: parameterToSpice(c.parameter), previousType: c.previousType },
        },
      };
  }
}
