/** LookupResources: states, batching, limits, cursors across concurrent writes, deadlines. */
import { describe, expect, it } from "vitest";
import { isLatchError, LatchError, parseRelationship, type Relationship } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { cursorPrefix } from "../../src/engine/lookup-cursor.js";
import { delegateReader, delegateStore, type Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { collectAll, loadLookupFixture, rels } from "./lookup-harness.js";
import { createMemoryStore } from "./memory-store.js";

const load = loadLookupFixture;

const view = (id: string, extra: Record<string, unknown> = {}) => ({
  resourceType: "document",
  permission: "view",
  subject: { type: "user", id },
  consistency: { kind: "fully-consistent" } as const,
  ...extra,
});

describe("LookupResources", () => {
  it("finds documents through nested groups, folder inheritance and wildcards, minus exclusions", async () => {
    const engine = await load(
      await createMemoryStore(),
      rels(
        "group:eng#member@user:alice",
        "group:all#member@group:eng#member",
        "folder:root#viewer@group:all#member",
        "folder:sub#parent@folder:root",
        "document:d1#parent@folder:sub",
        "document:d2#viewer@user:alice",
        "document:d3#viewer@user:*",
        "document:d4#viewer@user:bob",
        "document:d5#parent@folder:sub",
        "document:d5#banned@user:alice",
        'document:d6#viewer@user:alice[on_network:{"allowed":"10.0.0.1"}]',
      ),
    );
    const results = await collectAll(engine.lookupResources(view("alice")));
    // Level by level of the walk: the documents the first round of reads reaches (direct grants,
    // the wildcard) in id order, then d1, four rounds up through the groups and folders.
    expect(results.map((r) => [r.resourceId, r.state, r.missing])).toEqual([
      ["d2", "ALLOWED", []],
      ["d3", "ALLOWED", []],
      ["d6", "CONDITIONAL", ["ip"]],
      ["d1", "ALLOWED", []],
    ]);
    const withContext = await collectAll(
      engine.lookupResources(view("alice", { context: { ip: "10.0.0.1" } })),
    );
    expect(withContext.map((r) => `${r.resourceId}:${r.state}`)).toEqual([
      "d2:ALLOWED",
      "d3:ALLOWED",
      "d6:ALLOWED",
      "d1:ALLOWED",
    ]);
    const wrongNetwork = await collectAll(
      engine.lookupResources(view("alice", { context: { ip: "10.9.9.9" } })),
    );
    expect(wrongNetwork.map((r) => r.resourceId)).toEqual(["d2", "d3", "d1"]);
    // A subject set as the subject: everything its members reach through it.
    const viaGroup = await collectAll(
      engine.lookupResources({
        resourceType: "document",
        permission: "view",
        subject: { type: "group", id: "all", relation: "member" },
      }),
    );
    expect(viaGroup.map((r) => r.resourceId)).toEqual(["d1", "d5"]);
  });

  it("reads the store in batches, not once per object", async () => {
    // Ten nested groups, five folders each, ten documents per folder: 500 documents.
    const lines: string[] = ["group:g0#member@user:alice"];
    for (let g = 1; g < 10; g++) lines.push(`group:g${g}#member@group:g${g - 1}#member`);
    for (let g = 0; g < 10; g++) {
      for (let f = 0; f < 5; f++) {
        lines.push(`folder:f${g}_${f}#viewer@group:g${g}#member`);
        for (let d = 0; d < 10; d++) lines.push(`document:d${g}_${f}_${d}#parent@folder:f${g}_${f}`);
      }
    }
    const store = await createMemoryStore();
    const engine = await load(store, rels(...lines));
    const before = store.reads;
    const results = await collectAll(engine.lookupResources(view("alice")));
    expect(results).toHaveLength(500);
    // A few calls per nesting level for the walk and for the checks the exclusion needs, where
    // one call per object would be at least 560.
    expect(store.reads - before).toBeLessThan(100);
  });

  it("does not walk an intersection operand every object has through a wildcard", async () => {
    const schema = `caveat clearance(sensitivity int, clearance int) {
  clearance >= sensitivity
}

definition user {}

definition document {
  relation viewer: user
  relation cleared: user:* with clearance
  permission view = viewer & cleared
}
`;
    const store = await createMemoryStore();
    await store.writeSchema(schema);
    const lines: Relationship[] = [];
    for (let d = 0; d < 300; d++) {
      lines.push({
        ...parseRelationship(`document:d${String(d).padStart(3, "0")}#cleared@user:*`),
        caveat: { name: "clearance", context: { sensitivity: d % 3 } },
      });
    }
    lines.push(
      ...rels(
        "document:d001#viewer@user:alice",
        "document:d002#viewer@user:alice",
        "document:d150#viewer@user:bob",
      ),
    );
    await store.importRelationships(lines);
    let rows = 0;
    const counted: Store = {
      ...delegateStore(store),
      at: (revision) => {
        const reader = store.at(revision);
        return {
          ...delegateReader(reader),
          async lookupReverse(query) {
            const found = await reader.lookupReverse(query);
            rows += found.length;
            return found;
          },
        };
      },
    };
    const engine = createEngine({ store: counted, quantizationMs: 0 });
    const got = await collectAll(engine.lookupResources(view("alice", { context: { clearance: 1 } })));
    expect(got.map((r) => `${r.resourceId}:${r.state}`)).toEqual(["d001:ALLOWED"]);
    const unknown = await collectAll(engine.lookupResources(view("alice")));
    expect(unknown.map((r) => [r.resourceId, r.state, r.missing])).toEqual([
      ["d001", "CONDITIONAL", ["clearance"]],
      ["d002", "CONDITIONAL", ["clearance"]],
    ]);
    expect(rows).toBeLessThan(10);
  });

  it("stops at the limit, and refuses a cursor from another lookup", async () => {
    const engine = await load(
      await createMemoryStore(),
      rels(...Array.from({ length: 10 }, (_, i) => `document:d${i}#viewer@user:alice`)),
    );
    const page = await collectAll(engine.lookupResources(view("alice", { limit: 3 })));
    expect(page.map((r) => r.resourceId)).toEqual(["d0", "d1", "d2"]);
    const next = await collectAll(
      engine.lookupResources(view("alice", { limit: 3, cursor: page[2]!.cursor })),
    );
    expect(next.map((r) => r.resourceId)).toEqual(["d3", "d4", "d5"]);
    await expect(
      collectAll(engine.lookupResources(view("bob", { cursor: page[2]!.cursor }))),
    ).rejects.toMatchObject({
      code: "lookup/invalid-cursor",
    });
    await expect(
      collectAll(engine.lookupResources(view("alice", { cursor: "garbage" }))),
    ).rejects.toMatchObject({
      code: "lookup/invalid-cursor",
    });
    // A cursor of the earlier format (results in id order after the whole walk) cannot resume
    // the level-ordered stream: refused with what to do instead.
    const dot = page[2]!.cursor.indexOf(".");
    const shared = JSON.parse(atob(page[2]!.cursor.slice(0, dot).replaceAll("-", "+").replaceAll("_", "/")));
    const older = `${cursorPrefix(shared[1], shared[2], 1)}d2`;
    await expect(collectAll(engine.lookupResources(view("alice", { cursor: older })))).rejects.toMatchObject({
      code: "lookup/invalid-cursor",
      message: expect.stringContaining("start the lookup again"),
    });
    await expect(collectAll(engine.lookupResources(view("alice", { limit: -1 })))).rejects.toMatchObject({
      code: "lookup/invalid-limit",
    });
  });

  it("pages at the first page's revision while writes land between pages: no duplicates, no gaps", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    try {
      const lines: string[] = ["group:eng#member@user:alice", "folder:f#viewer@group:eng#member"];
      for (let i = 0; i < 150; i++) {
        const id = `doc${String(i).padStart(3, "0")}`;
        if (i % 3 === 0) lines.push(`document:${id}#viewer@user:alice`);
        else if (i % 3 === 1) lines.push(`document:${id}#parent@folder:f`);
        else lines.push(`document:${id}#viewer@group:eng#member`);
      }
      const engine = await load(store, rels(...lines));
      const first = await collectAll(engine.lookupResources(view("alice", { limit: 20 })));
      const pinned = first[0]!.token;
      const expected = await collectAll(
        engine.lookupResources({
          ...view("alice"),
          consistency: { kind: "at-exact-snapshot", token: pinned },
        }),
      );
      expect(expected).toHaveLength(150);
      const seen = first.map((r) => r.resourceId);
      let cursor = first.at(-1)!.cursor;
      for (let round = 0; ; round++) {
        // Concurrent writes: new visible documents on both sides of the cursor, removals of
        // documents not yet returned, and a revoked group membership.
        await store.write([
          { operation: "touch", relationship: parseRelationship(`document:doc${round}a#viewer@user:alice`) },
          { operation: "touch", relationship: parseRelationship(`document:zzz${round}#viewer@user:alice`) },
          {
            operation: "delete",
            relationship: parseRelationship(`document:doc${147 - round * 3}#viewer@user:alice`),
          },
        ]);
        if (round === 2)
          await store.write([{ operation: "delete", relationship: parseRelationship(lines[0]!) }]);
        const page = await collectAll(engine.lookupResources(view("alice", { limit: 20, cursor })));
        for (const r of page) expect(r.token).toBe(pinned);
        seen.push(...page.map((r) => r.resourceId));
        if (page.length < 20) break;
        cursor = page.at(-1)!.cursor;
      }
      expect(seen).toEqual(expected.map((r) => r.resourceId));
      // The current revision differs: alice lost her group.
      const now = await collectAll(engine.lookupResources(view("alice")));
      expect(now.length).toBeLessThan(150);
    } finally {
      await store.close();
    }
  });

  it("an aborted signal ends the stream with deadline-exceeded and the cursor to resume from", async () => {
    const engine = await load(
      await createMemoryStore(),
      rels(
        ...Array.from({ length: 300 }, (_, i) => `document:d${String(i).padStart(3, "0")}#viewer@user:alice`),
      ),
    );
    const before = new AbortController();
    before.abort();
    const early = await collectAll(engine.lookupResources(view("alice"), { signal: before.signal })).catch(
      (e) => e,
    );
    expect(isLatchError(early) && early.code).toBe("request/deadline-exceeded");
    expect((early as LatchError).kind).toBe("deadline-exceeded");

    const controller = new AbortController();
    const got: string[] = [];
    let error: unknown;
    try {
      for await (const r of engine.lookupResources(view("alice"), { signal: controller.signal })) {
        got.push(r.resourceId);
        if (got.length === 120) controller.abort();
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LatchError);
    const latch = error as LatchError;
    expect(latch.code).toBe("request/deadline-exceeded");
    expect(got).toHaveLength(120);
    const rest = await collectAll(
      engine.lookupResources(view("alice", { cursor: latch.details.cursor as string })),
    );
    expect([...got, ...rest.map((r) => r.resourceId)]).toEqual(
      Array.from({ length: 300 }, (_, i) => `d${String(i).padStart(3, "0")}`),
    );
  });
});
