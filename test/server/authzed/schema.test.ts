/**
 * authzed.api.v1 SchemaService (and ExperimentalService's older names for it) through the real
 * @authzed/authzed-node client against a real Latch server: every RPC, the errors SpiceDB gives
 * with their status codes and ErrorInfo reasons, and reads at an older revision.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../harness.js";
import { errorInfoOf, failure, spiceClient, v1 } from "./harness.js";

const SCHEMA = `/** user represents a user */
definition user {}

/** group represents a group */
definition group {
  relation direct_member: user | group#member
  relation admin: user
  permission member = direct_member + admin
}

/** somecaveat is a caveat */
caveat somecaveat(first int, second string) {
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

const FULLY = v1.Consistency.create({ requirement: { oneofKind: "fullyConsistent", fullyConsistent: true } });

let h: Harness;
let c: v1.ZedClientInterface;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  c = spiceClient(h.server.address);
});
afterEach(() => c.close());

async function write(schema: string) {
  return c.promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
}

async function spiceError(promise: Promise<unknown>) {
  const error = await failure(promise);
  const details = errorInfoOf(error.metadata);
  return {
    code: error.code,
    message: error.details,
    reason: details?.info?.reason,
    metadata: details?.info?.metadata,
  };
}

const refs = (list: readonly { definitionName: string; relationName: string; isPermission: boolean }[]) =>
  list.map((r) => `${r.definitionName}#${r.relationName}${r.isPermission ? " (permission)" : ""}`);

describe("ReadSchema and WriteSchema", () => {
  it("answers NOT_FOUND before a schema with definitions is written, then the text written", async () => {
    expect((await spiceError(c.promises.readSchema(v1.ReadSchemaRequest.create({})))).code).toBe(
      grpc.status.NOT_FOUND,
    );
    const written = await write(SCHEMA);
    expect(written.writtenAt?.token).not.toBe("");
    const read = await c.promises.readSchema(v1.ReadSchemaRequest.create({}));
    expect(read.schemaText).toBe(SCHEMA);
    expect(read.readAt?.token).not.toBe("");
    // An empty schema removes every definition, as in SpiceDB; then there is no schema again.
    await write("");
    expect((await spiceError(c.promises.readSchema(v1.ReadSchemaRequest.create({})))).code).toBe(
      grpc.status.NOT_FOUND,
    );
  });

  it("refuses a schema that does not parse: INVALID_ARGUMENT, SCHEMA_PARSE_ERROR with its 0-based position", async () => {
    const e = await spiceError(write("definition user {}\ndefinition document {\n  relation viewer user\n}"));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.reason).toBe("ERROR_REASON_SCHEMA_PARSE_ERROR");
    expect(e.metadata?.start_line_number).toBe("2");
    expect(Number(e.metadata?.start_column_position)).toBeGreaterThan(0);
    expect(e.message).toContain("viewer");
  });

  it("refuses a schema naming an undefined type with SCHEMA_TYPE_ERROR and where it is", async () => {
    const e = await spiceError(write("definition document {\n  relation viewer: nosuchtype\n}"));
    // The status code for a type error is errors.ts's to decide (see docs/spicedb-api.md).
    expect(e.reason).toBe("ERROR_REASON_SCHEMA_TYPE_ERROR");
    expect(e.metadata?.start_line_number).toBe("1");
    expect(e.message).toContain("nosuchtype");
  });

  it("refuses a schema that would orphan stored relationships: INVALID_ARGUMENT, SCHEMA_TYPE_ERROR", async () => {
    await write(SCHEMA);
    await h.store.write([
      {
        operation: "touch",
        relationship: {
          resource: { type: "document", id: "plan" },
          relation: "editor",
          subject: { type: "user", id: "ana" },
        },
      },
    ]);
    try {
      const e = await spiceError(
        write("definition user {}\ndefinition document {\n  relation viewer: user\n}"),
      );
      expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(e.reason).toBe("ERROR_REASON_SCHEMA_TYPE_ERROR");
      expect(e.message).toContain("document#editor");
    } finally {
      await h.store.deleteRelationships({ resourceType: "document" });
    }
  });
});

describe("ReflectSchema", () => {
  beforeAll(async () => {
    const cl = spiceClient(h.server.address);
    await cl.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    cl.close();
  });

  it("describes every definition, relation, subject type, permission and caveat with its comment", async () => {
    const r = await c.promises.reflectSchema(v1.ReflectSchemaRequest.create({ consistency: FULLY }));
    expect(r.readAt?.token).not.toBe("");
    expect(r.definitions.map((d) => [d.name, d.comment])).toEqual([
      ["document", "/** document is a protected document */"],
      ["group", "/** group represents a group */"],
      ["user", "/** user represents a user */"],
    ]);
    const doc = r.definitions[0]!;
    expect(doc.relations.map((x) => [x.name, x.comment, x.parentDefinitionName])).toEqual([
      ["editor", "// editor is a relation", "document"],
      ["viewer", "", "document"],
    ]);
    expect(doc.relations[1]!.subjectTypes).toEqual([
      {
        subjectDefinitionName: "user",
        optionalCaveatName: "",
        typeref: { oneofKind: "isTerminalSubject", isTerminalSubject: false },
      },
      {
        subjectDefinitionName: "user",
        optionalCaveatName: "somecaveat",
        typeref: { oneofKind: "isTerminalSubject", isTerminalSubject: false },
      },
      {
        subjectDefinitionName: "group",
        optionalCaveatName: "",
        typeref: { oneofKind: "optionalRelationName", optionalRelationName: "member" },
      },
      {
        subjectDefinitionName: "user",
        optionalCaveatName: "",
        typeref: { oneofKind: "isPublicWildcard", isPublicWildcard: true },
      },
    ]);
    expect(doc.permissions).toEqual([
      { name: "read", comment: "// read all the things", parentDefinitionName: "document" },
    ]);
    expect(r.caveats).toEqual([
      {
        name: "somecaveat",
        comment: "/** somecaveat is a caveat */",
        expression: 'first == 1 && second == "two"',
        parameters: [
          { name: "first", type: "int", parentCaveatName: "somecaveat" },
          { name: "second", type: "string", parentCaveatName: "somecaveat" },
        ],
      },
    ]);
  });

  it("filters by name prefixes, several filters being alternatives", async () => {
    const filter = (f: Partial<v1.ReflectionSchemaFilter>) => v1.ReflectionSchemaFilter.create(f);
    const r = await c.promises.reflectSchema(
      v1.ReflectSchemaRequest.create({
        optionalFilters: [
          filter({ optionalDefinitionNameFilter: "doc", optionalRelationNameFilter: "viewer" }),
          filter({ optionalDefinitionNameFilter: "doc", optionalPermissionNameFilter: "read" }),
        ],
      }),
    );
    expect(r.caveats).toEqual([]);
    expect(
      r.definitions.map((d) => [d.name, d.relations.map((x) => x.name), d.permissions.map((x) => x.name)]),
    ).toEqual([["document", ["viewer"], ["read"]]]);
    const caveats = await c.promises.reflectSchema(
      v1.ReflectSchemaRequest.create({ optionalFilters: [filter({ optionalCaveatNameFilter: "some" })] }),
    );
    expect([caveats.definitions.length, caveats.caveats.map((x) => x.name)]).toEqual([0, ["somecaveat"]]);
  });

  it("refuses a filter it cannot use: INVALID_ARGUMENT, INVALID_FILTER", async () => {
    for (const bad of [
      { optionalDefinitionNameFilter: "doc", optionalCaveatNameFilter: "some" },
      { optionalRelationNameFilter: "viewer" },
    ]) {
      const e = await spiceError(
        c.promises.reflectSchema(
          v1.ReflectSchemaRequest.create({ optionalFilters: [v1.ReflectionSchemaFilter.create(bad)] }),
        ),
      );
      expect([e.code, e.reason]).toEqual([grpc.status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_FILTER"]);
      expect(e.message).toContain("optional_filters[0]");
    }
  });

  it("reads the schema of an older revision at an exact snapshot", async () => {
    const before = await c.promises.readSchema(v1.ReadSchemaRequest.create({}));
    await write(`${SCHEMA}\ndefinition folder {}\n`);
    try {
      const at = (token: string) =>
        v1.Consistency.create({ requirement: { oneofKind: "atExactSnapshot", atExactSnapshot: { token } } });
      const old = await c.promises.reflectSchema(
        v1.ReflectSchemaRequest.create({ consistency: at(before.readAt!.token) }),
      );
      const now = await c.promises.reflectSchema(v1.ReflectSchemaRequest.create({ consistency: FULLY }));
      expect(old.definitions.map((d) => d.name)).not.toContain("folder");
      expect(now.definitions.map((d) => d.name)).toContain("folder");
    } finally {
      await write(SCHEMA);
    }
  });
});

describe("ComputablePermissions and DependentRelations", () => {
  beforeAll(async () => {
    const cl = spiceClient(h.server.address);
    await cl.promises.writeSchema(
      v1.WriteSchemaRequest.create({
        schema: `definition user {}
definition folder {
  relation viewer: user
  permission view = viewer
}
definition document {
  relation unused: user
  relation parent: folder
  relation viewer: user
  permission view = viewer + parent->view
}
`,
      }),
    );
    cl.close();
  });

  it("lists what a relation or subject type feeds, filtered by definition prefix", async () => {
    const all = await c.promises.computablePermissions(
      v1.ComputablePermissionsRequest.create({ definitionName: "user", consistency: FULLY }),
    );
    expect(refs(all.permissions)).toEqual([
      "document#unused",
      "document#view (permission)",
      "document#viewer",
      "folder#view (permission)",
      "folder#viewer",
    ]);
    expect(all.readAt?.token).not.toBe("");
    const folder = await c.promises.computablePermissions(
      v1.ComputablePermissionsRequest.create({
        definitionName: "folder",
        relationName: "viewer",
        optionalDefinitionNameFilter: "doc",
      }),
    );
    expect(refs(folder.permissions)).toEqual(["document#view (permission)"]);
  });

  it("lists what a permission is computed from, through arrows", async () => {
    const r = await c.promises.dependentRelations(
      v1.DependentRelationsRequest.create({ definitionName: "document", permissionName: "view" }),
    );
    expect(refs(r.relations)).toEqual([
      "document#parent",
      "document#viewer",
      "folder#view (permission)",
      "folder#viewer",
    ]);
  });

  it("refuses unknown names and a relation where a permission is asked, as SpiceDB does", async () => {
    const cases: [Promise<unknown>, number, string][] = [
      [
        c.promises.dependentRelations(
          v1.DependentRelationsRequest.create({ definitionName: "nope", permissionName: "view" }),
        ),
        grpc.status.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_DEFINITION",
      ],
      [
        c.promises.dependentRelations(
          v1.DependentRelationsRequest.create({ definitionName: "document", permissionName: "nope" }),
        ),
        grpc.status.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
      ],
      [
        c.promises.dependentRelations(
          v1.DependentRelationsRequest.create({ definitionName: "document", permissionName: "viewer" }),
        ),
        grpc.status.INVALID_ARGUMENT,
        "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
      ],
      [
        c.promises.computablePermissions(v1.ComputablePermissionsRequest.create({ definitionName: "nope" })),
        grpc.status.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_DEFINITION",
      ],
      [
        c.promises.computablePermissions(
          v1.ComputablePermissionsRequest.create({ definitionName: "user", relationName: "nope" }),
        ),
        grpc.status.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
      ],
    ];
    for (const [call, code, reason] of cases) {
      const e = await spiceError(call);
      expect([e.code, e.reason]).toEqual([code, reason]);
    }
  });
});

describe("DiffSchema", () => {
  beforeAll(async () => {
    const cl = spiceClient(h.server.address);
    await cl.promises.writeSchema(
      v1.WriteSchemaRequest.create({
        schema: "definition user {}\ndefinition document {\n  relation viewer: user\n}",
      }),
    );
    cl.close();
  });

  it("lists the changes from the stored schema to the one given", async () => {
    const r = await c.promises.diffSchema(
      v1.DiffSchemaRequest.create({
        consistency: FULLY,
        comparisonSchema: `definition user {}
definition group {
  relation member: user
}
definition document {
  relation viewer: user | group#member
  permission view = viewer
}`,
      }),
    );
    expect(r.readAt?.token).not.toBe("");
    expect(r.diffs.map((d) => d.diff.oneofKind)).toEqual([
      "definitionAdded",
      "relationSubjectTypeAdded",
      "permissionAdded",
    ]);
    const added = r.diffs[1]!.diff;
    expect(
      added.oneofKind === "relationSubjectTypeAdded"
        ? added.relationSubjectTypeAdded.changedSubjectType
        : undefined,
    ).toEqual({
      subjectDefinitionName: "group",
      optionalCaveatName: "",
      typeref: { oneofKind: "optionalRelationName", optionalRelationName: "member" },
    });
    const same = await c.promises.diffSchema(
      v1.DiffSchemaRequest.create({
        comparisonSchema: "definition document {\n relation viewer: user\n}\ndefinition user {}",
      }),
    );
    expect(same.diffs).toEqual([]);
  });

  it("refuses a comparison schema that does not parse: INVALID_ARGUMENT, SCHEMA_PARSE_ERROR", async () => {
    const e = await spiceError(
      c.promises.diffSchema(v1.DiffSchemaRequest.create({ comparisonSchema: "definition user { invalid" })),
    );
    expect([e.code, e.reason]).toEqual([grpc.status.INVALID_ARGUMENT, "ERROR_REASON_SCHEMA_PARSE_ERROR"]);
    expect(e.metadata?.start_line_number).toBe("0");
  });
});

describe("ExperimentalService", () => {
  beforeAll(async () => {
    const cl = spiceClient(h.server.address, { mode: "localhost" });
    await cl.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    cl.close();
  });

  it("answers the older names of the schema calls as their successors do (INSECURE_LOCALHOST_ALLOWED)", async () => {
    const lc = spiceClient(h.server.address, { mode: "localhost" });
    try {
      const reflect = await lc.promises.experimentalReflectSchema(
        v1.ExperimentalReflectSchemaRequest.create({}),
      );
      const current = await lc.promises.reflectSchema(v1.ReflectSchemaRequest.create({}));
      expect(reflect.definitions).toEqual(current.definitions);
      expect(reflect.caveats).toEqual(current.caveats);

      const computable = await lc.promises.experimentalComputablePermissions(
        v1.ExperimentalComputablePermissionsRequest.create({
          definitionName: "group",
          relationName: "member",
        }),
      );
      expect(refs(computable.permissions)).toEqual([
        "document#editor",
        "document#read (permission)",
        "document#viewer",
        "group#direct_member",
      ]);
      const dependent = await lc.promises.experimentalDependentRelations(
        v1.ExperimentalDependentRelationsRequest.create({
          definitionName: "group",
          permissionName: "member",
        }),
      );
      expect(refs(dependent.relations)).toEqual(["group#admin", "group#direct_member"]);
      const diff = await lc.promises.experimentalDiffSchema(
        v1.ExperimentalDiffSchemaRequest.create({ comparisonSchema: `${SCHEMA}\ndefinition folder {}` }),
      );
      expect(diff.diffs.map((d) => d.diff.oneofKind)).toEqual(["definitionAdded"]);
    } finally {
      lc.close();
    }
  });

  it("answers the older bulk names as their successors answer (or, while one is not served, UNIMPLEMENTED too)", async () => {
    const resource = v1.ObjectReference.create({ objectType: "document", objectId: "alias" });
    const subject = v1.SubjectReference.create({
      object: v1.ObjectReference.create({ objectType: "user", objectId: "al" }),
    });
    const relationships = [v1.Relationship.create({ resource, relation: "editor", subject })];
    // A client-streaming call: the answer (or the error) comes to the callback.
    const imported = await new Promise<{
      error?: grpc.ServiceError;
      value?: v1.BulkImportRelationshipsResponse;
    }>((done) => {
      const stream = c.promises.bulkImportRelationships((error, value) =>
        done({ ...(error ? { error } : {}), ...(value ? { value } : {}) }),
      );
      stream.on("error", () => undefined);
      stream.write(v1.BulkImportRelationshipsRequest.create({ relationships }));
      stream.end();
    });
    try {
      if (imported.error !== undefined) {
        expect(imported.error.code).toBe(grpc.status.UNIMPLEMENTED);
        expect(imported.error.details).toContain("ImportBulkRelationships");
      } else {
        expect(imported.value?.numLoaded).toBe("1");
      }

      const item = v1.BulkCheckPermissionRequestItem.create({ resource, permission: "read", subject });
      const checks: [Promise<unknown>, Promise<unknown>] = [
        c.promises.checkBulkPermissions(
          v1.CheckBulkPermissionsRequest.create({ consistency: FULLY, items: [item] }),
        ),
        c.promises.bulkCheckPermission(
          v1.BulkCheckPermissionRequest.create({ consistency: FULLY, items: [item] }),
        ),
      ];
      const exports: [Promise<unknown>, Promise<unknown>] = [
        c.promises.exportBulkRelationships(v1.ExportBulkRelationshipsRequest.create({ consistency: FULLY })),
        c.promises.bulkExportRelationships(v1.BulkExportRelationshipsRequest.create({ consistency: FULLY })),
      ];
      for (const [successor, alias] of [checks, exports]) {
        const [now, old] = await Promise.allSettled([successor, alias]);
        if (now.status === "rejected") {
          expect((now.reason as grpc.ServiceError).code).toBe(grpc.status.UNIMPLEMENTED);
          expect(old.status === "rejected" ? (old.reason as grpc.ServiceError).code : "answered").toBe(
            grpc.status.UNIMPLEMENTED,
          );
        } else {
          expect(old.status).toBe("fulfilled");
          const strip = (x: unknown) =>
            JSON.parse(JSON.stringify(x, (k, v) => (k === "debugTrace" ? undefined : v)));
          expect(strip(old.status === "fulfilled" ? old.value : undefined)).toEqual(strip(now.value));
        }
      }
    } finally {
      await h.store.deleteRelationships({ resourceType: "document" });
    }
  });

  it("answers the relationship counters UNIMPLEMENTED, saying what to use instead", async () => {
    const calls = [
      c.promises.experimentalRegisterRelationshipCounter(
        v1.ExperimentalRegisterRelationshipCounterRequest.create({
          name: "docs",
          relationshipFilter: v1.RelationshipFilter.create({ resourceType: "document" }),
        }),
      ),
      c.promises.experimentalCountRelationships(
        v1.ExperimentalCountRelationshipsRequest.create({ name: "docs" }),
      ),
      c.promises.experimentalUnregisterRelationshipCounter(
        v1.ExperimentalUnregisterRelationshipCounterRequest.create({ name: "docs" }),
      ),
    ];
    for (const call of calls) {
      const e = await spiceError(call);
      expect(e.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(e.message).toContain("keeps no relationship counters");
    }
  });
});
