/**
 * The client contract: every LatchClient (gRPC and embedded) must pass this suite unchanged.
 * Each test starts from a fresh database with the fixture schema and relationships.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { filterAuthorized, type LatchClient, type WatchEvent } from "../../src/client/index.js";
import { isLatchError, type LatchError } from "../../src/core/index.js";
import { RELATIONSHIPS, SCHEMA } from "./fixtures.js";

export interface ContractTarget {
  readonly client: LatchClient;
  cleanup(): Promise<void>;
}

async function caught(promise: Promise<unknown>): Promise<LatchError> {
  try {
    await promise;
  } catch (error) {
    if (isLatchError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export function defineClientContract(name: string, open: () => Promise<ContractTarget>): void {
  describe(`client contract: ${name}`, () => {
    let target: ContractTarget;
    let client: LatchClient;
    let seeded: string;

    beforeEach(async () => {
      target = await open();
      client = target.client;
      await client.writeSchema(SCHEMA);
      const written = await client.writeRelationships({
        updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
      });
      seeded = written.token;
    });

    afterEach(async () => {
      await target.cleanup();
    });

    it("reads back the schema it wrote", async () => {
      const { schema, token } = await client.readSchema();
      expect(schema).toBe(SCHEMA);
      expect(token).not.toBe("");
    });

    it("answers checks through groups, arrows, wildcards and exclusions", async () => {
      const fresh = { kind: "at-least-as-fresh", token: seeded } as const;
      const ask = (resource: string, subject: string) =>
        client.check({ resource, permission: "view", subject, consistency: fresh });
      expect((await ask("document:q3", "user:alice")).state).toBe("ALLOWED");
      expect((await ask("document:q3", "user:bob")).state).toBe("DENIED");
      expect((await ask("document:public", "user:zed")).allowed).toBe(true);
      expect((await ask("document:public", "user:mallory")).state).toBe("DENIED");
    });

    it("accepts structured references as well as strings", async () => {
      const answer = await client.check({
        resource: { type: "document", id: "memo" },
        permission: "view",
        subject: { type: "user", id: "bob" },
        consistency: { kind: "fully-consistent" },
      });
      expect(answer.state).toBe("ALLOWED");
      expect(answer.token).not.toBe("");
    });

    it("sees its own write when checking at least as fresh as the write's token", async () => {
      const before = await client.check({
        resource: "document:memo",
        permission: "view",
        subject: "user:dana",
      });
      expect(before.state).toBe("DENIED");
      const { token } = await client.writeRelationships({
        updates: [{ operation: "create", relationship: "document:memo#viewer@user:dana" }],
      });
      const after = await client.check({
        resource: "document:memo",
        permission: "view",
        subject: "user:dana",
        consistency: { kind: "at-least-as-fresh", token },
      });
      expect(after.state).toBe("ALLOWED");
      const snapshot = await client.check({
        resource: "document:memo",
        permission: "view",
        subject: "user:dana",
        consistency: { kind: "at-exact-snapshot", token: seeded },
      });
      expect(snapshot.state).toBe("DENIED");
    });

    it("answers CONDITIONAL with the missing parameters, and decides once they are given", async () => {
      const base = {
        resource: "document:secret",
        permission: "view",
        subject: "user:carol",
        consistency: { kind: "fully-consistent" },
      } as const;
      const conditional = await client.check(base);
      expect(conditional.state).toBe("CONDITIONAL");
      expect(conditional.missing).toEqual(["level"]);
      expect((await client.check({ ...base, context: { level: 2 } })).state).toBe("ALLOWED");
      expect((await client.check({ ...base, context: { level: 5 } })).state).toBe("DENIED");
    });

    it("explains a check when asked", async () => {
      const answer = await client.check({
        resource: "document:q3",
        permission: "view",
        subject: "user:alice",
        consistency: { kind: "fully-consistent" },
        explain: true,
      });
      expect(answer.explain?.state).toBe("ALLOWED");
      expect(answer.explain?.label).toContain("document:q3");
    });

    it("checks in bulk, one answer per item in item order", async () => {
      const subjects = ["user:alice", "user:bob", "user:carol", "user:mallory"];
      const resources = ["document:q3", "document:memo", "document:secret", "document:public"];
      const items = resources.flatMap((resource) =>
        subjects.map((subject) => ({ resource, permission: "view", subject })),
      );
      const bulk = await client.checkBulk({ items, consistency: { kind: "fully-consistent" } });
      expect(bulk.results).toHaveLength(items.length);
      for (const [i, item] of items.entries()) {
        const single = await client.check({ ...item, consistency: { kind: "fully-consistent" } });
        const r = bulk.results[i]!;
        expect(r.ok && r.state, `${item.resource} ${item.subject}`).toBe(single.state);
      }
    });

    it("filters items to the authorized ones, in order, across chunks", async () => {
      const docs = ["q3", "memo", "public", "secret", "nope", "q3", "public"].map((id, n) => ({ id, n }));
      const kept = await filterAuthorized(client, docs, {
        subject: "user:alice",
        permission: "view",
        resourceOf: (d) => `document:${d.id}`,
        consistency: { kind: "fully-consistent" },
        chunkSize: 3,
      });
      expect(kept.map((d) => d.n)).toEqual([0, 2, 5, 6]);
    });

    it("expands a permission into a tree that reaches the direct subjects", async () => {
      const { tree, token } = await client.expand({
        resource: "document:memo",
        permission: "view",
        consistency: { kind: "fully-consistent" },
      });
      expect(token).not.toBe("");
      const subjects: string[] = [];
      const walk = (node: typeof tree): void => {
        if (node.kind === "leaf")
          for (const s of node.subjects) subjects.push(`${s.subject.type}:${s.subject.id}`);
        else node.children.forEach(walk);
      };
      walk(tree);
      expect(subjects).toContain("user:bob");
    });

    it("reads relationships by filter, page by page with cursors", async () => {
      const all = await collect(client.readRelationships({ filter: { resourceType: "document" } }));
      expect(all.map((r) => r.relationship.resource.id).sort()).toEqual(
        ["memo", "public", "public", "q3", "secret"].sort(),
      );
      const caveated = all.find((r) => r.relationship.resource.id === "secret")!.relationship;
      expect(caveated.caveat).toEqual({ name: "max_level", context: { limit: 3 } });

      const first = await collect(
        client.readRelationships({ filter: { resourceType: "document" }, limit: 2 }),
      );
      expect(first).toHaveLength(2);
      const cursor = first.at(-1)?.cursor;
      expect(cursor).toBeDefined();
      const rest = await collect(
        client.readRelationships({ filter: { resourceType: "document" }, cursor: cursor!, limit: 100 }),
      );
      expect([...first, ...rest].map((r) => r.relationship)).toEqual(all.map((r) => r.relationship));
    });

    it("deletes by filter and reports how many", async () => {
      const { deleted, token } = await client.deleteRelationships({
        filter: { resourceType: "document", resourceId: "public" },
      });
      expect(deleted).toBe(2);
      const after = await client.check({
        resource: "document:public",
        permission: "view",
        subject: "user:zed",
        consistency: { kind: "at-least-as-fresh", token },
      });
      expect(after.state).toBe("DENIED");
    });

    it("refuses a write whose precondition fails, and writes nothing", async () => {
      const error = await caught(
        client.writeRelationships({
          updates: [{ operation: "touch", relationship: "document:memo#viewer@user:erin" }],
          preconditions: [
            { operation: "must-match", filter: { resourceType: "document", resourceId: "nope" } },
          ],
        }),
      );
      expect(error.kind).toBe("failed-precondition");
      const rows = await collect(
        client.readRelationships({
          filter: { resourceType: "document", subject: { type: "user", id: "erin" } },
        }),
      );
      expect(rows).toEqual([]);
    });

    it("refuses malformed and unknown references as invalid arguments", async () => {
      // Each call made when awaited: a rejection nobody awaits yet is an unhandled one.
      const bad = [
        () =>
          client.check({
            resource: { type: "document", id: "has space" },
            permission: "view",
            subject: "user:a",
          }),
        () => client.check({ resource: "nosuchtype:x", permission: "view", subject: "user:alice" }),
        () => client.check({ resource: "document:q3", permission: "nosuchperm", subject: "user:alice" }),
        () =>
          client.writeRelationships({
            updates: [{ operation: "touch", relationship: "document:x#nosuch@user:a" }],
          }),
      ];
      for (const call of bad) expect((await caught(call())).kind).toBe("invalid-argument");
    });

    it("streams changes in order, and resumes after a given revision", async () => {
      const controller = new AbortController();
      const events: WatchEvent[] = [];
      const seen = (async () => {
        for await (const event of client.watch({ after: seeded }, { signal: controller.signal })) {
          events.push(event);
          if (events.length === 3) controller.abort();
        }
      })();
      const writes = [
        "document:w1#viewer@user:a1",
        "document:w2#viewer@user:a2",
        "document:w3#viewer@user:a3",
      ];
      const tokens: string[] = [];
      for (const relationship of writes) {
        tokens.push(
          (await client.writeRelationships({ updates: [{ operation: "touch", relationship }] })).token,
        );
      }
      await seen;
      expect(events.map((e) => e.updates.map((u) => u.relationship.resource.id))).toEqual([
        ["w1"],
        ["w2"],
        ["w3"],
      ]);
      expect(events.every((e) => e.updates.every((u) => u.operation === "touch"))).toBe(true);

      const resumed = new AbortController();
      const later: WatchEvent[] = [];
      for await (const event of client.watch({ after: events[1]!.token }, { signal: resumed.signal })) {
        later.push(event);
        resumed.abort();
      }
      expect(later.map((e) => e.updates[0]?.relationship.resource.id)).toEqual(["w3"]);
    });

    it("imports in bulk and exports everything", async () => {
      const many = Array.from({ length: 2500 }, (_, i) => `document:bulk${i}#viewer@user:u${i % 50}`);
      const imported = await client.importRelationships(many, { batchSize: 700 });
      expect(imported.count).toBe(2500);
      const check = await client.check({
        resource: "document:bulk1234",
        permission: "view",
        subject: "user:u34",
        consistency: { kind: "at-least-as-fresh", token: imported.token },
      });
      expect(check.state).toBe("ALLOWED");
      let total = 0;
      for await (const batch of client.exportRelationships({ consistency: { kind: "fully-consistent" } })) {
        total += batch.relationships.length;
        expect(batch.token).not.toBe("");
      }
      expect(total).toBe(2500 + RELATIONSHIPS.length);
    });

    it("refuses an invalid schema with positions, and keeps the old one", async () => {
      const error = await caught(
        client.writeSchema("definition user {}\ndefinition doc { relation r: nosuch }"),
      );
      expect(error.kind).toBe("invalid-argument");
      expect(error.message).toMatch(/:2:\d+/);
      expect((await client.readSchema()).schema).toBe(SCHEMA);
    });

    it("refuses a schema that would orphan stored relationships", async () => {
      const error = await caught(
        client.writeSchema("definition user {}\ndefinition group { relation member: user }"),
      );
      expect(error.kind).toBe("failed-precondition");
    });

    it("looks up resources with their states, the same as Check answers them", async () => {
      const fresh = { kind: "fully-consistent" } as const;
      const docs = ["memo", "nope", "public", "q3", "secret"];
      for (const subject of ["user:alice", "user:bob", "user:carol", "user:mallory"]) {
        const found = await collect(
          client.lookupResources({
            resourceType: "document",
            permission: "view",
            subject,
            consistency: fresh,
          }),
        );
        const expected: { id: string; state: string; missing: readonly string[] }[] = [];
        for (const id of docs) {
          const answer = await client.check({
            resource: `document:${id}`,
            permission: "view",
            subject,
            consistency: fresh,
          });
          if (answer.state !== "DENIED") expected.push({ id, state: answer.state, missing: answer.missing });
        }
        expect(
          found.map((r) => ({ id: r.resourceId, state: r.state, missing: r.missing })),
          subject,
        ).toEqual(expected);
        expect(found.every((r) => r.token !== "" && r.cursor !== "")).toBe(true);
      }
      const alice = await collect(
        client.lookupResources({ resourceType: "document", permission: "view", subject: "user:alice" }),
      );
      expect(alice.map((r) => r.resourceId)).toEqual(["public", "q3"]);
    });

    it("decides conditional resources once the context is given", async () => {
      const lookup = (context?: Record<string, unknown>) =>
        collect(
          client.lookupResources({
            resourceType: "document",
            permission: "view",
            subject: "user:carol",
            ...(context === undefined ? {} : { context }),
          }),
        );
      const without = await lookup();
      expect(without.find((r) => r.resourceId === "secret")).toMatchObject({
        state: "CONDITIONAL",
        missing: ["level"],
      });
      expect(without.find((r) => r.resourceId === "public")).toMatchObject({ state: "ALLOWED", missing: [] });
      const allowed = await lookup({ level: 2 });
      expect(allowed.find((r) => r.resourceId === "secret")).toMatchObject({ state: "ALLOWED", missing: [] });
      const denied = await lookup({ level: 5 });
      expect(denied.map((r) => r.resourceId)).toEqual(["public"]);
    });

    it("pages resources with limit and cursor at one revision: no duplicates, no gaps", async () => {
      const ids = Array.from({ length: 30 }, (_, i) => `p${String(i).padStart(2, "0")}`);
      await client.writeRelationships({
        updates: ids.map((id) => ({ operation: "touch", relationship: `document:${id}#viewer@user:pager` })),
      });
      const params = {
        resourceType: "document",
        permission: "view",
        subject: "user:pager",
        consistency: { kind: "fully-consistent" },
      } as const;
      const all = await collect(client.lookupResources(params));
      expect(all.map((r) => r.resourceId)).toEqual(["p00", ...ids.slice(1), "public"].sort());
      const first = await collect(client.lookupResources({ ...params, limit: 7 }));
      expect(first.map((r) => r.resourceId)).toEqual(all.slice(0, 7).map((r) => r.resourceId));
      // Writes after the first page must not show in the rest: the cursor pins its revision.
      await client.writeRelationships({
        updates: [
          { operation: "touch", relationship: "document:p99#viewer@user:pager" },
          { operation: "delete", relationship: "document:p20#viewer@user:pager" },
        ],
      });
      const pages = [first];
      let cursor = first.at(-1)!.cursor;
      for (;;) {
        const page = await collect(client.lookupResources({ ...params, limit: 10, cursor }));
        if (page.length === 0) break;
        pages.push(page);
        cursor = page.at(-1)!.cursor;
      }
      expect(pages.flat().map((r) => r.resourceId)).toEqual(all.map((r) => r.resourceId));
      const now = await collect(client.lookupResources(params));
      expect(now.map((r) => r.resourceId)).toContain("p99");
      expect(now.map((r) => r.resourceId)).not.toContain("p20");
    });

    it("refuses a cursor of another lookup and unknown permissions", async () => {
      const [first] = await collect(
        client.lookupResources({
          resourceType: "document",
          permission: "view",
          subject: "user:alice",
          limit: 1,
        }),
      );
      const other = await caught(
        collect(
          client.lookupResources({
            resourceType: "document",
            permission: "view",
            subject: "user:bob",
            cursor: first!.cursor,
          }),
        ),
      );
      expect(other.kind).toBe("invalid-argument");
      const unknown = await caught(
        collect(
          client.lookupResources({ resourceType: "document", permission: "nosuch", subject: "user:alice" }),
        ),
      );
      expect(unknown.kind).toBe("invalid-argument");
      const subjects = await caught(
        collect(
          client.lookupSubjects({ resource: "document:q3", permission: "nosuch", subjectType: "user" }),
        ),
      );
      expect(subjects.kind).toBe("invalid-argument");
    });

    it("looks up subjects, a wildcard with the subjects it excludes", async () => {
      const lookup = async (resource: string, context?: Record<string, unknown>) =>
        (
          await collect(
            client.lookupSubjects({
              resource,
              permission: "view",
              subjectType: "user",
              consistency: { kind: "fully-consistent" },
              ...(context === undefined ? {} : { context }),
            }),
          )
        ).map((s) => ({
          id: s.subjectId,
          subject: s.subject,
          state: s.state,
          missing: s.missing,
          excluded: s.excluded?.map((e) => `${e.type}:${e.id}`),
        }));
      expect(await lookup("document:q3")).toEqual([
        {
          id: "alice",
          subject: { type: "user", id: "alice" },
          state: "ALLOWED",
          missing: [],
          excluded: undefined,
        },
      ]);
      expect(await lookup("document:public")).toEqual([
        {
          id: "*",
          subject: { type: "user", id: "*" },
          state: "ALLOWED",
          missing: [],
          excluded: ["user:mallory"],
        },
      ]);
      expect(await lookup("document:secret")).toEqual([
        {
          id: "carol",
          subject: { type: "user", id: "carol" },
          state: "CONDITIONAL",
          missing: ["level"],
          excluded: undefined,
        },
      ]);
      expect((await lookup("document:secret", { level: 1 }))[0]?.state).toBe("ALLOWED");
      expect(await lookup("document:secret", { level: 9 })).toEqual([]);
    });

    it("looks up subject sets when given a subject relation", async () => {
      const found = await collect(
        client.lookupSubjects({
          resource: "folder:plans",
          permission: "view",
          subjectType: "group",
          subjectRelation: "member",
        }),
      );
      expect(found.map((s) => s.subject)).toEqual([{ type: "group", id: "eng", relation: "member" }]);
    });

    it("pages subjects with a limit and cursors, at the first page's revision", async () => {
      const viewers = ["v1", "v2", "v3", "v4", "v5"];
      await client.writeRelationships({
        updates: viewers.map((id) => ({
          operation: "touch" as const,
          relationship: `document:paged#viewer@user:${id}`,
        })),
      });
      const page = (cursor?: string) =>
        collect(
          client.lookupSubjects({
            resource: "document:paged",
            permission: "view",
            subjectType: "user",
            consistency: { kind: "fully-consistent" },
            limit: 2,
            ...(cursor === undefined ? {} : { cursor }),
          }),
        );
      const first = await page();
      expect(first.map((s) => s.subjectId)).toEqual(["v1", "v2"]);
      // A viewer removed after the first page still shows: the cursor pins its revision.
      await client.writeRelationships({
        updates: [{ operation: "delete", relationship: "document:paged#viewer@user:v4" }],
      });
      const second = await page(first[1]!.cursor);
      const third = await page(second[1]!.cursor);
      expect([...second, ...third].map((s) => s.subjectId)).toEqual(["v3", "v4", "v5"]);
      expect(new Set([...first, ...second, ...third].map((s) => s.token)).size).toBe(1);
    });
  });
}
