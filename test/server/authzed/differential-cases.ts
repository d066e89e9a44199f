/**
 * Fixed request sequences for the differential test, mostly errors: each case writes its schema,
 * sends its steps to both servers and leaves no relationships behind.
 */
import { v1 } from "@authzed/authzed-node";
import type { Relationship } from "../../../src/core/index.js";
import type { Method, Request } from "./authzed-target.js";
import * as R from "./differential-requests.js";

export interface Step<M extends Method = Method> {
  readonly method: M;
  readonly asked: string;
  readonly request: Request<M>;
}

export interface Case {
  readonly name: string;
  readonly schema: string;
  readonly steps: readonly Step[];
  /** Relationship types to empty afterwards. */
  readonly types: readonly string[];
}

export const CASE_SCHEMA = `caveat small(x int) {
  x < 10
}

definition user {}

definition group {
  relation member: user
}

definition doc {
  relation viewer: user | user with small | group#member
  relation owner: user
  permission view = viewer + owner
}
`;

const TYPES = ["doc", "group"];

function rel(text: string): Relationship {
  const m = /^(\w+):(\w+)#(\w+)@(\w+):([\w*]+)(?:#(\w+))?(?:\[(\w+)(?::(\{.*\}))?\])?$/.exec(text);
  if (!m) throw new Error(`bad relationship in a case: ${text}`);
  const [, rt, ri, relation, st, si, sr, caveat, context] = m;
  return {
    resource: { type: rt!, id: ri! },
    relation: relation!,
    subject: { type: st!, id: si!, ...(sr ? { relation: sr } : {}) },
    ...(caveat ? { caveat: { name: caveat, ...(context ? { context: JSON.parse(context) } : {}) } } : {}),
  };
}

function write(operation: "CREATE" | "TOUCH" | "DELETE", ...texts: string[]): Step<"writeRelationships"> {
  return {
    method: "writeRelationships",
    asked: `WriteRelationships ${operation} ${texts.join(", ") || "(no updates)"}`,
    request: R.writeRequest(texts.map(rel), v1.RelationshipUpdate_Operation[operation]),
  };
}

function check(
  resource: string,
  permission: string,
  user: string,
  context?: Record<string, unknown>,
): Step<"checkPermission"> {
  const [type, id] = resource.split(":") as [string, string];
  return {
    method: "checkPermission",
    asked: `CheckPermission ${resource}#${permission}@user:${user}${context ? ` with ${JSON.stringify(context)}` : ""}`,
    request: R.checkRequest({ type, id, permission, user, context }),
  };
}

function lookupResources(
  type: string,
  permission: string,
  context?: Record<string, unknown>,
): Step<"lookupResources"> {
  return {
    method: "lookupResources",
    asked: `LookupResources ${type}#${permission}@user:alice${context ? ` with ${JSON.stringify(context)}` : ""}`,
    request: R.lookupResourcesRequest(type, permission, "alice", context),
  };
}

function lookupSubjects(resource: string, permission: string): Step<"lookupSubjects"> {
  const [type, id] = resource.split(":") as [string, string];
  return {
    method: "lookupSubjects",
    asked: `LookupSubjects ${resource}#${permission} user`,
    request: R.lookupSubjectsRequest(type, id, permission, undefined),
  };
}

/** One CheckBulkPermissions of `type:id#permission@user:name` items, each with its own context. */
function bulk(...items: [string, Record<string, unknown>?][]): Step<"checkBulkPermissions"> {
  const parsed = items.map(([text, context]) => {
    const m = /^(\w+):(\w+)#(\w+)@user:(\w+)$/.exec(text);
    if (!m) throw new Error(`bad check in a case: ${text}`);
    return { type: m[1]!, id: m[2]!, permission: m[3]!, user: m[4]!, context };
  });
  return {
    method: "checkBulkPermissions",
    asked: `CheckBulkPermissions ${items.map(([t, c]) => (c ? `${t} with ${JSON.stringify(c)}` : t)).join(", ")}`,
    request: R.bulkRequest(parsed),
  };
}

function read(type: string): Step<"readRelationships"> {
  return { method: "readRelationships", asked: `ReadRelationships ${type}`, request: R.readRequest(type) };
}

function schema(text: string, label: string): Step<"writeSchema"> {
  return {
    method: "writeSchema",
    asked: `WriteSchema (${label})`,
    request: v1.WriteSchemaRequest.create({ schema: text }),
  };
}

export const CASES: readonly Case[] = [
  {
    name: "unknown definitions, relations and permissions",
    schema: CASE_SCHEMA,
    types: TYPES,
    steps: [
      write("TOUCH", "doc:d1#viewer@user:alice"),
      check("folder:f1", "view", "alice"),
      bulk(["doc:d1#view@user:alice"], ["folder:f1#view@user:alice"], ["doc:d1#edit@user:alice"]),
      check("doc:d1", "edit", "alice"),
      lookupResources("folder", "view"),
      lookupResources("doc", "edit"),
      lookupSubjects("folder:f1", "view"),
      lookupSubjects("doc:d1", "edit"),
      read("folder"),
      write("TOUCH", "folder:f1#viewer@user:alice"),
      write("TOUCH", "doc:d1#editor@user:alice"),
      {
        method: "deleteRelationships",
        asked: "DeleteRelationships folder",
        request: R.deleteRequest("folder"),
      },
    ],
  },
  {
    name: "repeated CREATE, TOUCH after CREATE, DELETE of an absent relationship, an empty write",
    schema: CASE_SCHEMA,
    types: TYPES,
    steps: [
      write("CREATE", "doc:d1#viewer@user:alice"),
      write("CREATE", "doc:d1#viewer@user:alice"),
      write("CREATE", "doc:d2#viewer@user:bob", "doc:d1#viewer@user:alice"),
      read("doc"),
      write("TOUCH", "doc:d1#viewer@user:alice"),
      write("DELETE", "doc:d9#viewer@user:nobody"),
      write("TOUCH"),
      write("CREATE", "doc:d3#owner@user:carol", "doc:d3#owner@user:carol"),
      read("doc"),
    ],
  },
  {
    name: "relationships the schema does not allow",
    schema: CASE_SCHEMA,
    types: TYPES,
    steps: [
      write("TOUCH", "doc:d1#owner@group:eng#member"),
      write("TOUCH", "doc:d1#owner@user:alice[small]"),
      write("TOUCH", "doc:d1#viewer@user:*"),
      write("TOUCH", "doc:d1#viewer@user:alice[nosuch]"),
      write("TOUCH", "doc:d1#view@user:alice"),
      write("TOUCH", "doc:d1#viewer@group:eng#owner"),
      read("doc"),
    ],
  },
  {
    name: "caveat contexts: absent, deciding, of the wrong type",
    schema: CASE_SCHEMA,
    types: TYPES,
    steps: [
      write("TOUCH", "doc:d1#viewer@user:alice[small]", 'doc:d2#viewer@user:alice[small:{"x":3}]'),
      check("doc:d1", "view", "alice"),
      check("doc:d1", "view", "alice", { x: 3 }),
      check("doc:d1", "view", "alice", { x: 30 }),
      check("doc:d1", "view", "alice", { x: "three" }),
      check("doc:d1", "view", "alice", { x: 3.5 }),
      check("doc:d2", "view", "alice", { x: 30 }),
      check("doc:d1", "view", "alice", { y: 1 }),
      bulk(
        ["doc:d1#view@user:alice"],
        ["doc:d1#view@user:alice", { x: 3 }],
        ["doc:d1#view@user:alice", { x: "three" }],
      ),
      lookupResources("doc", "view"),
      lookupResources("doc", "view", { x: 30 }),
      lookupResources("doc", "view", { x: "three" }),
      lookupSubjects("doc:d1", "view"),
      write("TOUCH", 'doc:d3#viewer@user:alice[small:{"x":"three"}]'),
      write("TOUCH", 'doc:d3#viewer@user:alice[small:{"y":1}]'),
      read("doc"),
    ],
  },
  {
    name: "schema changes: parse error, type error, removing a relation still in use",
    schema: CASE_SCHEMA,
    types: TYPES,
    steps: [
      write("TOUCH", "doc:d1#owner@user:alice"),
      schema(
        "definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view = viewer +\n}\n",
        "parse error",
      ),
      schema("definition user {}\ndefinition doc {\n  relation viewer: nosuch\n}\n", "unknown subject type"),
      schema(
        "definition user {}\ndefinition doc {\n  permission view = nosuch\n}\n",
        "unknown relation in a permission",
      ),
      schema(
        CASE_SCHEMA.replace("  relation owner: user\n", "").replace(" + owner", ""),
        "drops owner, still used",
      ),
      check("doc:d1", "view", "alice"),
    ],
  },
  {
    name: "a data cycle",
    schema:
      "definition user {}\n\ndefinition doc {\n  relation parent: doc\n  relation viewer: user\n  permission view = viewer + parent->view\n}\n",
    types: ["doc"],
    steps: [
      write("TOUCH", "doc:d1#parent@doc:d1"),
      check("doc:d1", "view", "alice"),
      lookupSubjects("doc:d1", "view"),
    ],
  },
  {
    name: "a chain longer than the depth limit (50 on both)",
    schema:
      "definition user {}\n\ndefinition doc {\n  relation parent: doc\n  relation viewer: user\n  permission view = viewer + parent->view\n}\n",
    types: ["doc"],
    steps: [
      write(
        "TOUCH",
        ...Array.from({ length: 70 }, (_, i) => `doc:c${i}#parent@doc:c${i + 1}`),
        "doc:c70#viewer@user:alice",
      ),
      check("doc:c0", "view", "alice"),
      check("doc:c40", "view", "alice"),
      lookupSubjects("doc:c0", "view"),
    ],
  },
];

/** A subject set whose relation allows a wildcard: SpiceDB refuses the schema. */
export const WILDCARD_THROUGH_SET_SCHEMA = `definition user {}

definition group {
  relation member: user | user:*
}

definition doc {
  relation viewer: group#member
}
`;
