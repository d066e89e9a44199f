import { describe, expect, it } from "vitest";
import {
  compileSchema,
  computablePermissions,
  dependentRelations,
  diffSchemas,
  reflectionFilterProblem,
  reflectSchema,
} from "../../src/schema/index.js";

const FULL = `
/** user represents a user */
definition user {}

/** group represents a group */
definition group {
  relation direct_member: user | group#member
  relation admin: user
  permission member = direct_member + admin
}

/** somecaveat is a caveat */
caveat somecaveat(second string, first int) {
  first == 1 && second == "two"
}

/** document is a protected document */
definition document {
  // editor is a relation
  relation editor: user | group#member
  relation viewer: user | user with somecaveat | group#member | user:*

  // read all the things
  permission read = viewer + editor
}
`;

const refs = (r: ReturnType<typeof dependentRelations>) => {
  if (!r.ok) throw new Error(r.problem.message);
  return r.references.map((x) => `${x.definition}#${x.relation}${x.isPermission ? " (permission)" : ""}`);
};

describe("reflectSchema", () => {
  it("lists definitions and caveats by name, members in source order, comments kept", () => {
    const r = reflectSchema(compileSchema(FULL));
    expect(r.definitions.map((d) => d.name)).toEqual(["document", "group", "user"]);
    const doc = r.definitions[0]!;
    expect(doc.comment).toBe("/** document is a protected document */");
    expect(doc.relations.map((x) => [x.name, x.comment])).toEqual([
      ["editor", "// editor is a relation"],
      ["viewer", ""],
    ]);
    expect(doc.relations[1]!.subjectTypes).toEqual([
      { definition: "user", wildcard: false, expiration: false },
      { definition: "user", wildcard: false, caveat: "somecaveat", expiration: false },
      { definition: "group", relation: "member", wildcard: false, expiration: false },
      { definition: "user", wildcard: true, expiration: false },
    ]);
    expect(doc.permissions).toEqual([
      { name: "read", comment: "// read all the things", definition: "document" },
    ]);
    expect(r.caveats).toEqual([
      {
        name: "somecaveat",
        comment: "/** somecaveat is a caveat */",
        expression: 'first == 1 && second == "two"',
        parameters: [
          { name: "first", type: "int", caveat: "somecaveat" },
          { name: "second", type: "string", caveat: "somecaveat" },
        ],
      },
    ]);
  });

  it("filters by name prefix; a member filter keeps only its kind of member", () => {
    const schema = compileSchema(FULL);
    const byDef = reflectSchema(schema, [{ definition: "doc" }]);
    expect(byDef.definitions.map((d) => d.name)).toEqual(["document"]);
    expect(byDef.caveats).toEqual([]);
    const members = reflectSchema(schema, [
      { definition: "doc", relation: "viewer" },
      { definition: "doc", permission: "read" },
    ]);
    expect(
      members.definitions.map((d) => [
        d.name,
        d.relations.map((r) => r.name),
        d.permissions.map((p) => p.name),
      ]),
    ).toEqual([["document", ["viewer"], ["read"]]]);
    const caveats = reflectSchema(schema, [{ caveat: "some" }]);
    expect(caveats.definitions).toEqual([]);
    expect(caveats.caveats.map((c) => c.name)).toEqual(["somecaveat"]);
  });

  it("says why a filter cannot be used", () => {
    expect(reflectionFilterProblem([{ definition: "doc", caveat: "x" }])).toMatch(
      /both definition and caveat/,
    );
    expect(reflectionFilterProblem([{ relation: "doc" }])).toMatch(/needs a definition name filter/);
    expect(reflectionFilterProblem([{ definition: "d", relation: "a", permission: "b" }])).toMatch(
      /both relation and permission/,
    );
    expect(reflectionFilterProblem([{ definition: "d", permission: "b" }, {}])).toBeUndefined();
  });
});

describe("dependentRelations", () => {
  it("follows computed members and subject sets", () => {
    const schema = compileSchema(`
      definition user {}
      definition group {
        relation direct_member: user | group#member
        relation admin: user
        permission member = direct_member + admin
      }
      definition document {
        relation unused: user
        relation viewer: user | group#member
        permission view = viewer
      }`);
    expect(refs(dependentRelations(schema, "document", "view"))).toEqual([
      "document#viewer",
      "group#admin",
      "group#direct_member",
      "group#member (permission)",
    ]);
  });

  it("follows arrows to the tupleset and the members on its subject types", () => {
    const schema = compileSchema(`
      definition user {}
      definition folder {
        relation alsounused: user
        relation viewer: user
        permission view = viewer
      }
      definition document {
        relation unused: user
        relation parent: folder
        relation viewer: user
        permission view = viewer + parent->view
        permission empty = nil
      }`);
    expect(refs(dependentRelations(schema, "document", "view"))).toEqual([
      "document#parent",
      "document#viewer",
      "folder#view (permission)",
      "folder#viewer",
    ]);
    expect(refs(dependentRelations(schema, "document", "empty"))).toEqual([]);
  });

  it("refuses unknown names and relations", () => {
    const schema = compileSchema("definition user { relation friend: user }");
    const problem = (r: ReturnType<typeof dependentRelations>) => (r.ok ? undefined : r.problem.kind);
    expect(problem(dependentRelations(schema, "nope", "x"))).toBe("unknown-definition");
    expect(problem(dependentRelations(schema, "user", "nope"))).toBe("unknown-member");
    expect(problem(dependentRelations(schema, "user", "friend"))).toBe("not-a-permission");
  });
});

describe("computablePermissions", () => {
  const schema = compileSchema(`
    definition user {}
    definition folder {
      relation viewer: user
    }
    definition document {
      relation unused: user
      relation editor: user
      relation viewer: user
      permission view = viewer + editor
      permission another = unused
    }`);

  it("lists everything a subject type feeds, transitively", () => {
    expect(refs(computablePermissions(schema, "user", ""))).toEqual([
      "document#another (permission)",
      "document#editor",
      "document#unused",
      "document#view (permission)",
      "document#viewer",
      "folder#viewer",
    ]);
    expect(refs(computablePermissions(schema, "user", "", "fold"))).toEqual(["folder#viewer"]);
    expect(refs(computablePermissions(schema, "document", "viewer"))).toEqual(["document#view (permission)"]);
  });

  it("follows arrows from the tupleset and from the members they reach", () => {
    const nested = compileSchema(`
      definition user {}
      definition folder {
        relation viewer: user
        permission view = viewer
      }
      definition document {
        relation parent: folder
        permission view = parent->view
      }`);
    expect(refs(computablePermissions(nested, "folder", "viewer"))).toEqual([
      "document#view (permission)",
      "folder#view (permission)",
    ]);
    expect(refs(computablePermissions(nested, "folder", ""))).toEqual([
      "document#parent",
      "document#view (permission)",
    ]);
  });

  it("refuses unknown names", () => {
    const r = computablePermissions(schema, "user", "nope");
    expect(r.ok ? undefined : r.problem.message).toBe("relation/permission `nope` not found in `user`");
  });
});

describe("diffSchemas", () => {
  const kinds = (a: string, b: string) =>
    diffSchemas(compileSchema(a), compileSchema(b)).map((c) => {
      const named =
        "definition" in c
          ? c.definition.name
          : "relation" in c
            ? `${c.relation.definition}#${c.relation.name}`
            : "permission" in c
              ? `${c.permission.definition}#${c.permission.name}`
              : "caveat" in c
                ? c.caveat.name
                : `${c.parameter.caveat}.${c.parameter.name}`;
      return `${c.kind} ${named}`;
    });

  it("is empty for the same schema written differently", () => {
    expect(kinds("definition user {}", "definition   user {\n}")).toEqual([]);
  });

  it("reports added and removed definitions and caveats first", () => {
    expect(
      kinds(
        "definition user {} definition gone {} caveat old(a int) { a == 1 }",
        "definition user {} definition document {} caveat fresh(a int) { a == 1 }",
      ),
    ).toEqual([
      "definition-added document",
      "definition-removed gone",
      "caveat-added fresh",
      "caveat-removed old",
    ]);
  });

  it("reports member, subject type, expression, comment and parameter changes", () => {
    const before = `
      definition user {}
      definition group { relation member: user }
      caveat cav(a int, b string) { a == 1 }
      definition document {
        relation viewer: user
        relation old: user
        permission view = viewer
      }`;
    const after = `
      definition user {}
      definition group { relation member: user }
      caveat cav(a string, d bool) { d }
      /** docs */
      definition document {
        // who may read
        relation viewer: user | group#member
        relation editor: user
        permission view = viewer + editor
        permission edit = editor
      }`;
    const changes = diffSchemas(compileSchema(before), compileSchema(after));
    expect(kinds(before, after)).toEqual([
      "definition-comment-changed document",
      "relation-removed document#old",
      "relation-comment-changed document#viewer",
      "relation-subject-type-added document#viewer",
      "relation-added document#editor",
      "permission-expr-changed document#view",
      "permission-added document#edit",
      "caveat-parameter-removed cav.b",
      "caveat-parameter-type-changed cav.a",
      "caveat-parameter-added cav.d",
      "caveat-expr-changed cav",
    ]);
    const typeAdded = changes.find((c) => c.kind === "relation-subject-type-added");
    expect(typeAdded && "subjectType" in typeAdded ? typeAdded.subjectType : undefined).toEqual({
      definition: "group",
      relation: "member",
      wildcard: false,
      expiration: false,
    });
    const typeChanged = changes.find((c) => c.kind === "caveat-parameter-type-changed");
    expect(
      typeChanged && "previousType" in typeChanged
        ? [typeChanged.previousType, typeChanged.parameter.type]
        : [],
    ).toEqual(["int", "string"]);
  });
});
