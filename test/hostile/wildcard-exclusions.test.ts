/**
 * Issue 23, finding 5: a wildcard result dropped its conditional exclusions. With `view = viewer -
 * banned`, `user:*` a viewer and bob banned under a caveat the context leaves open, LookupSubjects
 * answered `user:*` ALLOWED with no exclusion (and bob CONDITIONAL beside it), so a consumer
 * expanding the wildcard let bob in where Check says CONDITIONAL. Now the wildcard carries bob as a
 * CONDITIONAL exclusion with the caveat's missing parameters, as SpiceDB does, embedded and over
 * gRPC, and expanding it (own OR (wildcard AND NOT exclusion)) equals Check for every subject.
 */
import { create } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookupCommand } from "../../src/cli/commands/lookup.js";
import {
  createClient,
  createEmbedded,
  type EmbeddedClient,
  type LatchClient,
  type LookupSubjectsItem,
} from "../../src/client/index.js";
import {
  LookupPermissionship,
  LookupSubjectsRequestSchema,
  type LookupSubjectsResponse,
} from "../../src/gen/latch/v1/permission_service_pb.js";
import { runCommand } from "../cli/run-command.js";
import { accessFromLookup } from "../engine/lookup-crosscheck.js";
import { auth, type Harness, startHarness, TOKEN } from "../server/harness.js";

const SCHEMA = `caveat ban_if(x int) {
  x > 5
}

caveat during(open bool) {
  open
}

definition user {}

definition group {
  relation member: user | user with ban_if
}

definition document {
  relation viewer: user | user:* | user:* with during
  relation banned: user | user with ban_if | group#member
  relation allowlist: user | user:* | user with ban_if
  permission view = viewer - banned
  permission both = view & allowlist
  permission nested = viewer - (banned - allowlist)
}
`;

const RELATIONSHIPS = [
  // `user:*` minus bob under a caveat, eve for sure, carol through a group under a caveat.
  "document:pub#viewer@user:*",
  "document:pub#banned@user:bob[ban_if]",
  "document:pub#banned@user:eve",
  "document:pub#banned@group:g#member",
  "group:g#member@user:carol[ban_if]",
  // The wildcard itself conditional.
  "document:cav#viewer@user:*[during]",
  "document:cav#banned@user:bob[ban_if]",
  // Intersection with an allowlist wildcard, and a nested exclusion (the allowlist un-bans).
  "document:pub#allowlist@user:*",
  "document:mix#viewer@user:*",
  "document:mix#banned@user:bob",
  "document:mix#banned@user:eve",
  "document:mix#allowlist@user:bob[ban_if]",
  "document:mix#allowlist@user:alice",
];

const USERS = ["alice", "bob", "carol", "eve", "nobody_named"];
const CONTEXTS = [undefined, { x: 9 }, { x: 1 }, { open: true }, { open: false, x: 9 }, { open: true, x: 1 }];
const CASES = [
  ["pub", "view"],
  ["pub", "both"],
  ["pub", "nested"],
  ["cav", "view"],
  ["mix", "view"],
  ["mix", "both"],
  ["mix", "nested"],
] as const;

type Client = LatchClient | EmbeddedClient;

async function subjects(client: Client, id: string, permission: string, context?: Record<string, unknown>) {
  const out: LookupSubjectsItem[] = [];
  for await (const item of client.lookupSubjects({
    resource: `document:${id}`,
    permission,
    subjectType: "user",
    ...(context === undefined ? {} : { context }),
  }))
    out.push(item);
  return out;
}

const wildcardOf = (items: readonly LookupSubjectsItem[]) => items.find((i) => i.subjectId === "*");
const exclusions = (items: readonly LookupSubjectsItem[]) =>
  (wildcardOf(items)?.excluded ?? []).map((e) => ({ id: e.id, state: e.state, missing: e.missing }));

function behaves(name: string, open: () => Promise<{ client: Client; close(): Promise<void> }>) {
  describe(name, () => {
    let client: Client;
    let close: () => Promise<void>;

    beforeAll(async () => {
      ({ client, close } = await open());
    });

    afterAll(async () => {
      await close();
    });

    it("keeps a subject banned under an open caveat as a CONDITIONAL exclusion of user:*", async () => {
      const items = await subjects(client, "pub", "view");
      expect(wildcardOf(items)).toMatchObject({ state: "ALLOWED", missing: [] });
      expect(exclusions(items)).toEqual([
        { id: "bob", state: "CONDITIONAL", missing: ["x"] },
        { id: "carol", state: "CONDITIONAL", missing: ["x"] },
        { id: "eve", state: "EXCLUDED", missing: [] },
      ]);
      // Listed beside the wildcard, bob reads as Check does.
      expect(items.find((i) => i.subjectId === "bob")).toMatchObject({
        state: "CONDITIONAL",
        missing: ["x"],
      });
      const bob = await client.check({ resource: "document:pub", permission: "view", subject: "user:bob" });
      expect(bob).toMatchObject({ state: "CONDITIONAL", missing: ["x"] });
      const alice = await client.check({
        resource: "document:pub",
        permission: "view",
        subject: "user:alice",
      });
      expect(alice.state).toBe("ALLOWED");
    });

    it("decides the exclusion when the context decides the caveat", async () => {
      const banned = await subjects(client, "pub", "view", { x: 9 });
      expect(exclusions(banned)).toEqual([
        { id: "bob", state: "EXCLUDED", missing: [] },
        { id: "carol", state: "EXCLUDED", missing: [] },
        { id: "eve", state: "EXCLUDED", missing: [] },
      ]);
      expect(banned.map((i) => i.subjectId)).toEqual(["*"]);
      const notBanned = await subjects(client, "pub", "view", { x: 1 });
      expect(exclusions(notBanned)).toEqual([{ id: "eve", state: "EXCLUDED", missing: [] }]);
      for (const [context, state] of [
        [{ x: 9 }, "DENIED"],
        [{ x: 1 }, "ALLOWED"],
      ] as const) {
        const bob = await client.check({
          resource: "document:pub",
          permission: "view",
          subject: "user:bob",
          context,
        });
        expect(bob.state).toBe(state);
      }
    });

    it("adds the exclusion's parameters to a conditional wildcard's", async () => {
      const items = await subjects(client, "cav", "view");
      expect(wildcardOf(items)).toMatchObject({ state: "CONDITIONAL", missing: ["open"] });
      // The exclusion names what it adds: x; expanding, bob gets CONDITIONAL on open and x.
      expect(exclusions(items)).toEqual([{ id: "bob", state: "CONDITIONAL", missing: ["x"] }]);
      const open = await subjects(client, "cav", "view", { open: true });
      expect(wildcardOf(open)).toMatchObject({ state: "ALLOWED" });
      expect(exclusions(open)).toEqual([{ id: "bob", state: "CONDITIONAL", missing: ["x"] }]);
    });

    it("expands to Check's answer for every subject, permission and context", async () => {
      for (const context of CONTEXTS) {
        for (const [id, permission] of CASES) {
          const items = await subjects(client, id, permission, context);
          for (const user of USERS) {
            const check = await client.check({
              resource: `document:${id}`,
              permission,
              subject: `user:${user}`,
              ...(context === undefined ? {} : { context }),
            });
            const where = `document:${id}#${permission}@user:${user} with ${JSON.stringify(context)}`;
            expect(accessFromLookup(items, user), where).toEqual({
              state: check.state,
              missing: [...check.missing].sort(),
            });
          }
        }
      }
    });
  });
}

behaves("embedded", async () => {
  const client = await createEmbedded({ database: ":memory:", schema: SCHEMA });
  await client.writeRelationships({
    updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
  });
  return { client, close: () => client.close() };
});

let harness: Harness;

/** LookupSubjects on document:pub#view for users, with a raw grpc-js client: the messages as sent. */
function lookupSubjectsRaw(client: grpc.Client): Promise<LookupSubjectsResponse[]> {
  const request = create(LookupSubjectsRequestSchema, {
    resource: { objectType: "document", objectId: "pub" },
    permission: "view",
    subjectObjectType: "user",
  });
  return new Promise((resolve, reject) => {
    const methods = client as unknown as Record<
      string,
      (...args: unknown[]) => grpc.ClientReadableStream<LookupSubjectsResponse>
    >;
    const call = methods.lookupSubjects!.call(client, request, auth());
    const out: LookupSubjectsResponse[] = [];
    call.on("data", (m: LookupSubjectsResponse) => out.push(m));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

behaves("over gRPC", async () => {
  harness = await startHarness();
  const client = createClient({ address: harness.server.address, token: TOKEN });
  await client.writeSchema(SCHEMA);
  await client.writeRelationships({
    updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
  });
  return {
    client,
    async close() {
      await client.close();
      await harness.close();
    },
  };
});

describe("on the wire and in the CLI", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
    const client = createClient({ address: h.server.address, token: TOKEN });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
    await client.close();
  });

  afterAll(async () => {
    await h.close();
  });

  it("sends each excluded subject with its permissionship and missing context, as SpiceDB does", async () => {
    const messages = await lookupSubjectsRaw(h.permission);
    const wildcard = messages.find((m) => m.subject?.subjectObjectId === "*");
    expect(
      wildcard?.excludedSubjects.map((s) => [
        s.subjectObjectId,
        s.permissionship,
        s.partialCaveatInfo?.missingRequiredContext ?? [],
      ]),
    ).toEqual([
      ["bob", LookupPermissionship.CONDITIONAL_PERMISSION, ["x"]],
      ["carol", LookupPermissionship.CONDITIONAL_PERMISSION, ["x"]],
      ["eve", LookupPermissionship.HAS_PERMISSION, []],
    ]);
  });

  it("prints the state of a conditional exclusion", async () => {
    const out = await runCommand(lookupCommand(), [
      "subjects",
      "document:pub",
      "view",
      "user",
      "--address",
      h.server.address,
      "--token",
      TOKEN,
    ]);
    expect(out.stdout.split("\n")[0]).toBe(
      "user:* except user:bob (conditional: missing x), user:carol (conditional: missing x), user:eve",
    );
  });
});
