import { beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { isLatchError, parseRelationship, type Relationship } from "../../src/core/index.js";
import { createEngine, type Engine, type ExplainNode } from "../../src/engine/index.js";
import { createMemoryStore, type MemoryStore } from "./memory-store.js";

const SCHEMA = `use expiration

caveat in_window(now timestamp, start timestamp, end timestamp) {
  now >= start && now < end
}

caveat min_level(level int, required int) {
  level >= required
}

definition user {}

definition group {
  relation member: user | user with expiration | user:* | group#member
}

definition folder {
  relation parent: folder
  relation viewer: user | group#member
  permission view = viewer + parent->view
}

definition document {
  relation parent: folder
  relation owner: user
  relation viewer: user | user:* | group#member | user with in_window | user with expiration
  relation banned: user | user with min_level
  permission view = (viewer + owner + parent->view) - banned
  permission edit = owner & viewer
}
`;

/** Whether stores offer snapshots, so that checks take the synchronous in-memory walk first. */
const mode = { snapshots: false };

async function setup(
  lines: string[],
  options: Parameters<typeof createEngine>[0] extends infer O ? Partial<O> : never = {},
) {
  const store = await createMemoryStore({ snapshots: mode.snapshots });
  await store.writeSchema(SCHEMA);
  if (lines.length > 0) await write(store, lines);
  const engine = createEngine({ store, quantizationMs: 0, ...options });
  return { store, engine };
}

async function write(store: MemoryStore, lines: string[], operation: "touch" | "delete" = "touch") {
  return store.write(lines.map((l) => ({ operation, relationship: parseRelationship(l) })));
}

const check = (engine: Engine, resource: string, permission: string, subject: string, extra: object = {}) => {
  const [type, id] = resource.split(":") as [string, string];
  const [stype, rest] = subject.split(":") as [string, string];
  const [sid, srel] = rest.split("#") as [string, string | undefined];
  return engine.check({
    resource: { type, id },
    permission,
    subject: srel === undefined ? { type: stype, id: sid } : { type: stype, id: sid, relation: srel },
    consistency: { kind: "fully-consistent" },
    ...extra,
  });
};

async function errorOf(p: Promise<unknown>): Promise<{ code: string; kind: string }> {
  try {
    await p;
  } catch (e) {
    if (isLatchError(e)) return { code: e.code, kind: e.kind };
    throw e;
  }
  throw new Error("expected an error");
}

// Every test twice: stores without snapshots (the batched evaluator answers), and with them (the
// synchronous walk answers, handing cycles and the depth limit to the batched evaluator).
for (const snapshots of [false, true]) {
  describe(snapshots ? "through the in-memory walk" : "through the batched evaluator", () => {
    beforeAll(() => {
      mode.snapshots = snapshots;
    });

    describe("check", () => {
      it("follows groups, folders, wildcards and exclusions", async () => {
        const { engine } = await setup([
          "group:eng#member@user:alice",
          "group:all#member@group:eng#member",
          "folder:root#viewer@group:all#member",
          "folder:sub#parent@folder:root",
          "document:d1#parent@folder:sub",
          "document:d2#viewer@user:*",
          "document:d2#banned@user:bob",
        ]);
        expect((await check(engine, "document:d1", "view", "user:alice")).state).toBe("ALLOWED");
        expect((await check(engine, "document:d1", "view", "user:bob")).state).toBe("DENIED");
        expect((await check(engine, "document:d2", "view", "user:carol")).state).toBe("ALLOWED");
        expect((await check(engine, "document:d2", "view", "user:bob")).state).toBe("DENIED");
        // A wildcard never matches a subject set.
        expect((await check(engine, "document:d2", "viewer", "group:eng#member")).state).toBe("DENIED");
        // A subject set is a member of itself.
        expect((await check(engine, "group:eng", "member", "group:eng#member")).state).toBe("ALLOWED");
        expect((await check(engine, "group:all", "member", "group:eng#member")).state).toBe("ALLOWED");
      });

      it("returns CONDITIONAL with missing parameters, and decides with context", async () => {
        const { engine } = await setup([
          'document:d#viewer@user:ann[in_window:{"start":"2026-01-01T00:00:00Z","end":"2027-01-01T00:00:00Z"}]',
          'document:d#banned@user:ann[min_level:{"required":3}]',
        ]);
        const bare = await check(engine, "document:d", "view", "user:ann");
        expect(bare.state).toBe("CONDITIONAL");
        expect(bare.missing).toEqual(["level", "now"]);
        const inside = { context: { now: "2026-06-01T00:00:00Z", level: 1 } };
        expect((await check(engine, "document:d", "view", "user:ann", inside)).state).toBe("ALLOWED");
        const banned = { context: { now: "2026-06-01T00:00:00Z", level: 5 } };
        expect((await check(engine, "document:d", "view", "user:ann", banned)).state).toBe("DENIED");
        // Partial evaluation: outside the window, the ban does not matter.
        const outside = { context: { now: "2028-01-01T00:00:00Z" } };
        expect((await check(engine, "document:d", "view", "user:ann", outside)).state).toBe("DENIED");
        // Stored context wins over request context.
        const override = { context: { now: "2026-06-01T00:00:00Z", level: 1, required: 0 } };
        expect((await check(engine, "document:d", "view", "user:ann", override)).state).toBe("ALLOWED");
      });

      it("refuses context of the wrong type", async () => {
        const { engine } = await setup([
          'document:d#banned@user:ann[min_level:{"required":3}]',
          "document:d#owner@user:ann",
        ]);
        const err = await errorOf(
          check(engine, "document:d", "view", "user:ann", { context: { level: "high" } }),
        );
        expect(err).toEqual({ code: "check/caveat-error", kind: "invalid-argument" });
        expect((await errorOf(check(engine, "document:d", "view", "user:ann", { context: [] }))).code).toBe(
          "check/invalid-context",
        );
      });

      it("hides expired relationships", async () => {
        const { start, soon } = fakeClock();
        const { engine } = await setup([
          "document:d#viewer@user:old[expiration:2020-01-01T00:00:00Z]",
          "document:d#viewer@user:new[expiration:2300-01-01T00:00:00Z]",
          "group:inner#member@user:gone[expiration:2020-01-01T00:00:00Z]",
          `group:inner#member@user:brief[expiration:${soon}]`,
          "group:outer#member@group:inner#member",
          "group:open#member@user:*",
          "document:g#viewer@group:outer#member",
          "document:g#viewer@group:open#member",
          "document:h#viewer@group:outer#member",
        ]);
        expect((await check(engine, "document:d", "view", "user:old")).state).toBe("DENIED");
        expect((await check(engine, "document:d", "view", "user:new")).state).toBe("ALLOWED");
        // Through nested groups (the subject's memberships are found upwards) and a wildcard member.
        expect((await check(engine, "document:h", "view", "user:gone")).state).toBe("DENIED");
        expect((await check(engine, "document:g", "view", "user:anyone")).state).toBe("ALLOWED");
        expect((await check(engine, "document:h", "view", "user:anyone")).state).toBe("DENIED");
        // A cached answer never outlives the expiration it depended on.
        expect((await check(engine, "document:h", "view", "user:brief")).state).toBe("ALLOWED");
        vi.setSystemTime(start + 60_001);
        expect((await check(engine, "document:h", "view", "user:brief")).state).toBe("DENIED");
      });

      it("keeps a cached subproblem's expiration in the answers built on it", async () => {
        const { start, soon } = fakeClock();
        const { engine } = await setup([
          `group:g#member@user:u[expiration:${soon}]`,
          "folder:f#viewer@group:g#member",
          "document:d#parent@folder:f",
        ]);
        // The folder's answer is cached first; the document's is then built on that cached answer.
        expect((await check(engine, "folder:f", "view", "user:u")).state).toBe("ALLOWED");
        expect((await check(engine, "document:d", "view", "user:u")).state).toBe("ALLOWED");
        vi.setSystemTime(start + 60_001);
        expect((await check(engine, "document:d", "view", "user:u")).state).toBe("DENIED");
      });

      it("keeps a direct row's expiration when a subject set is listed before it", async () => {
        const { start, soon } = fakeClock();
        // Two writes, so the subject set is the first row: the walk tries the direct row first all
        // the same, and the cached answer must end with that row's expiration.
        const { store, engine } = await setup(["document:x#viewer@group:outer#member"]);
        await write(store, [`document:x#viewer@user:brief[expiration:${soon}]`]);
        expect((await check(engine, "document:x", "view", "user:brief")).state).toBe("ALLOWED");
        vi.setSystemTime(start + 60_001);
        expect((await check(engine, "document:x", "view", "user:brief")).state).toBe("DENIED");
        expect(engine.stats().cacheHits).toBe(0);
      });

      it("rejects unknown types, permissions and wildcard subjects as invalid arguments", async () => {
        const { engine } = await setup([]);
        expect(await errorOf(check(engine, "nope:d", "view", "user:a"))).toEqual({
          code: "check/unknown-type",
          kind: "invalid-argument",
        });
        expect(await errorOf(check(engine, "document:d", "nope", "user:a"))).toEqual({
          code: "check/unknown-permission",
          kind: "invalid-argument",
        });
        expect((await errorOf(check(engine, "document:d", "view", "robot:a"))).code).toBe(
          "check/unknown-type",
        );
        expect((await errorOf(check(engine, "document:d", "view", "user:*"))).code).toBe(
          "check/wildcard-subject",
        );
      });

      it("refuses ids no relationship may hold, as a write would", async () => {
        const { engine } = await setup(["document:d#owner@user:a"]);
        const ask = (resource: string, subject: string) =>
          errorOf(
            engine.check({
              resource: { type: "document", id: resource },
              permission: "view",
              subject: { type: "user", id: subject },
            }),
          );
        // A lone surrogate would otherwise reach the audit trail, whose stores cannot hold it.
        expect(await ask("d", "a\ud800")).toEqual({
          code: "check/invalid-subject",
          kind: "invalid-argument",
        });
        expect(await ask("d", "a b")).toEqual({ code: "check/invalid-subject", kind: "invalid-argument" });
        expect(await ask("d", "x".repeat(1025))).toEqual({
          code: "check/invalid-subject",
          kind: "invalid-argument",
        });
        expect(await ask("d e", "a")).toEqual({ code: "check/invalid-resource", kind: "invalid-argument" });
        expect(await ask("*", "a")).toEqual({ code: "check/invalid-resource", kind: "invalid-argument" });
        const bulk = await engine.checkBulk({
          items: [
            {
              resource: { type: "document", id: "d" },
              permission: "view",
              subject: { type: "user", id: "a\ud800" },
            },
            {
              resource: { type: "document", id: "d" },
              permission: "view",
              subject: { type: "user", id: "a" },
            },
          ],
        });
        expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual([
          "check/invalid-subject",
          "ALLOWED",
        ]);
      });

      it("terminates on cycles and limits depth", async () => {
        const { engine } = await setup([
          "group:a#member@group:b#member",
          "group:b#member@group:a#member",
          "group:b#member@user:x",
        ]);
        expect((await check(engine, "group:a", "member", "user:x")).state).toBe("ALLOWED");
        expect((await check(engine, "group:a", "member", "user:y")).state).toBe("DENIED");

        const chain = Array.from({ length: 60 }, (_, i) => `folder:f${i + 1}#parent@folder:f${i}`);
        const deep = await setup([...chain, "folder:f0#viewer@user:root"], { maxDepth: 50 });
        expect(await errorOf(check(deep.engine, "folder:f60", "view", "user:root"))).toEqual({
          code: "check/max-depth-exceeded",
          kind: "failed-precondition",
        });
        expect((await check(deep.engine, "folder:f20", "view", "user:root")).state).toBe("ALLOWED");
        const roomy = createEngine({ store: deep.store, maxDepth: 200, quantizationMs: 0 });
        expect((await check(roomy, "folder:f60", "view", "user:root")).state).toBe("ALLOWED");
      });

      it("honours an aborted signal", async () => {
        const { engine } = await setup(["document:d#owner@user:a"]);
        const controller = new AbortController();
        controller.abort();
        const request = {
          resource: { type: "document", id: "d" },
          permission: "view",
          subject: { type: "user", id: "a" },
        };
        expect(await errorOf(engine.check(request, { signal: controller.signal }))).toEqual({
          code: "request/deadline-exceeded",
          kind: "deadline-exceeded",
        });
        expect((await engine.check(request)).state).toBe("ALLOWED");
      });
    });

    describe("consistency and cache", () => {
      it("never serves a stale answer to at-least-as-fresh or fully-consistent", async () => {
        const { store, engine } = await setup(["group:g#member@user:u", "folder:f#viewer@group:g#member"]);
        const docs = ["d0", "d1", "d2"];
        for (const d of docs) await write(store, [`document:${d}#parent@folder:f`]);
        // Interleave writes that flip access with checks that warm the cache before and after.
        const flips: [string[], "touch" | "delete", boolean][] = [
          [["document:d1#banned@user:u"], "touch", false],
          [["document:d1#banned@user:u"], "delete", true],
          [["group:g#member@user:u"], "delete", false],
          [["group:g#member@user:u"], "touch", true],
          [["folder:f#viewer@group:g#member"], "delete", false],
          [["document:d1#viewer@user:*"], "touch", true],
        ];
        for (const [lines, op, expected] of flips) {
          for (const d of docs) await check(engine, `document:${d}`, "view", "user:u");
          const revision = await write(store, lines, op);
          const token = store.encodeRevision(revision);
          const fresh = await engine.check({
            resource: { type: "document", id: "d1" },
            permission: "view",
            subject: { type: "user", id: "u" },
            consistency: { kind: "at-least-as-fresh", token },
          });
          expect(fresh.state).toBe(expected ? "ALLOWED" : "DENIED");
          expect(fresh.revision >= revision).toBe(true);
          expect((await check(engine, "document:d1", "view", "user:u")).state).toBe(
            expected ? "ALLOWED" : "DENIED",
          );
        }
        expect(engine.stats().cacheHits).toBeGreaterThan(0);
        expect(engine.stats().dispatches).toBeGreaterThan(0);
      });

      it("lets minimize-latency lag inside its window, never the fresher modes", async () => {
        const { store, engine } = await setup(["document:d#parent@folder:f"], { quantizationMs: 60_000 });
        const request = {
          resource: { type: "document", id: "d" },
          permission: "view",
          subject: { type: "user", id: "u" },
        } as const;
        expect((await engine.check(request)).state).toBe("DENIED");
        const revision = await write(store, ["folder:f#viewer@user:u"]);
        // Same quantization window: the older revision (and its cached answer) may be reused.
        const lagging = await engine.check(request);
        expect(lagging.revision < revision).toBe(true);
        expect(lagging.state).toBe("DENIED");
        const token = store.encodeRevision(revision);
        const fresh = await engine.check({ ...request, consistency: { kind: "at-least-as-fresh", token } });
        expect(fresh).toMatchObject({ state: "ALLOWED", revision });
        expect((await engine.check({ ...request, consistency: { kind: "fully-consistent" } })).state).toBe(
          "ALLOWED",
        );
        const bulk = await engine.checkBulk({
          items: [request],
          consistency: { kind: "at-least-as-fresh", token },
        });
        expect(bulk.results[0]).toMatchObject({ ok: true, state: "ALLOWED" });
      });

      it("reads an exact snapshot, and refuses future and foreign tokens", async () => {
        // A token ahead of the store is waited for; here it never comes, so the wait is kept short.
        const { store, engine } = await setup([], { maxRevisionWaitMs: 1 });
        const before = await write(store, ["document:d#owner@user:a"]);
        await write(store, ["document:d#owner@user:a"], "delete");
        const at = (token: string) =>
          engine.check({
            resource: { type: "document", id: "d" },
            permission: "view",
            subject: { type: "user", id: "a" },
            consistency: { kind: "at-exact-snapshot", token },
          });
        expect((await at(store.encodeRevision(before))).state).toBe("ALLOWED");
        expect((await check(engine, "document:d", "view", "user:a")).state).toBe("DENIED");
        expect((await errorOf(at(store.encodeRevision(before + 100n)))).code).toBe("revision/not-reached");
        const other = await createMemoryStore();
        expect(await errorOf(at(other.encodeRevision(1n)))).toEqual({
          code: "revision/foreign-token",
          kind: "invalid-argument",
        });
        await other.close();
      });

      it("runs concurrent identical checks once", async () => {
        const { store, engine } = await setup([
          "group:g#member@user:u",
          "folder:f#viewer@group:g#member",
          "document:d#parent@folder:f",
        ]);
        const before = store.reads;
        const results = await Promise.all(
          Array.from({ length: 10 }, () => check(engine, "document:d", "view", "user:u")),
        );
        const reads = store.reads - before;
        expect(results.every((r) => r.state === "ALLOWED")).toBe(true);
        const alone = await setup([
          "group:g#member@user:u",
          "folder:f#viewer@group:g#member",
          "document:d#parent@folder:f",
        ]);
        const aloneBefore = alone.store.reads;
        await check(alone.engine, "document:d", "view", "user:u");
        expect(reads).toBe(alone.store.reads - aloneBefore);
      });

      it("works with the cache disabled", async () => {
        const { engine } = await setup(["document:d#owner@user:a"], { cache: false });
        expect((await check(engine, "document:d", "view", "user:a")).state).toBe("ALLOWED");
        expect(engine.stats().cacheHits).toBe(0);
      });

      it("applies contextual relationships to one request only", async () => {
        const { engine } = await setup(["document:d#parent@folder:f"]);
        const contextualRelationships: Relationship[] = [parseRelationship("folder:f#viewer@user:temp")];
        expect(
          (await check(engine, "document:d", "view", "user:temp", { contextualRelationships })).state,
        ).toBe("ALLOWED");
        expect((await check(engine, "document:d", "view", "user:temp")).state).toBe("DENIED");
        const invalid = [parseRelationship("folder:f#viewer@document:x")];
        expect(
          isLatchError(
            await check(engine, "document:d", "view", "user:temp", {
              contextualRelationships: invalid,
            }).catch((e) => e),
          ),
        ).toBe(true);
        const many = Array.from({ length: 101 }, (_, i) => parseRelationship(`folder:f#viewer@user:u${i}`));
        expect(
          (await errorOf(check(engine, "document:d", "view", "user:temp", { contextualRelationships: many })))
            .code,
        ).toBe("check/too-many-contextual-relationships");
      });
    });

    describe("checkBulk", () => {
      it("answers in request order, deduplicates, and isolates per-item errors", async () => {
        const { store, engine } = await setup([
          "group:g#member@user:u",
          "folder:f#viewer@group:g#member",
          ...Array.from({ length: 20 }, (_, i) => `document:d${i}#parent@folder:f`),
          "document:d3#banned@user:u",
          'document:d5#viewer@user:v[in_window:{"start":"2026-01-01T00:00:00Z","end":"2027-01-01T00:00:00Z"}]',
        ]);
        const item = (id: string, permission = "view", user = "u") => ({
          resource: { type: "document", id },
          permission,
          subject: { type: "user", id: user },
        });
        const items = [
          ...Array.from({ length: 20 }, (_, i) => item(`d${i}`)),
          item("d1"),
          item("d1", "nope"),
          { ...item("d5", "view", "v"), context: { now: "2026-03-01T00:00:00Z" } },
          item("d5", "view", "v"),
          { ...item("d5", "view", "v"), context: { now: 42 } },
        ];
        const readsBefore = store.reads;
        const out = await engine.checkBulk({ items, consistency: { kind: "fully-consistent" } });
        // The twenty documents share batched reads instead of one per document.
        expect(store.reads - readsBefore).toBeLessThan(10);
        expect(out.results).toHaveLength(items.length);
        for (let i = 0; i < 20; i++) {
          expect(out.results[i]).toEqual({ ok: true, state: i === 3 ? "DENIED" : "ALLOWED", missing: [] });
        }
        expect(out.results[20]).toEqual(out.results[1]);
        expect(out.results[21]).toMatchObject({ ok: false, error: { code: "check/unknown-permission" } });
        expect(out.results[22]).toEqual({ ok: true, state: "ALLOWED", missing: [] });
        expect(out.results[23]).toEqual({ ok: true, state: "CONDITIONAL", missing: ["now"] });
        expect(out.results[24]).toMatchObject({ ok: false, error: { code: "check/caveat-error" } });
        for (const [i, it] of items.entries()) {
          if (i === 21 || i === 24) continue;
          const single = await engine.check({ ...it, consistency: { kind: "fully-consistent" } });
          const r = out.results[i]!;
          expect(r.ok && r.state).toBe(single.state);
        }
      });

      it("limits the number of items", async () => {
        const { engine } = await setup([], { maxBulkItems: 3 });
        const item = {
          resource: { type: "document", id: "d" },
          permission: "view",
          subject: { type: "user", id: "u" },
        };
        expect(await errorOf(engine.checkBulk({ items: [item, item, item, item] }))).toEqual({
          code: "check/too-many-items",
          kind: "resource-exhausted",
        });
      });
    });

    describe("explain and expand", () => {
      const find = (node: ExplainNode, pred: (n: ExplainNode) => boolean): ExplainNode | undefined => {
        if (pred(node)) return node;
        for (const c of node.children ?? []) {
          const hit = find(c, pred);
          if (hit) return hit;
        }
        return undefined;
      };

      it("shows the allowing path, and caveats with their context and result", async () => {
        const { engine } = await setup([
          "group:g#member@user:u",
          "folder:f#viewer@group:g#member",
          "document:d#parent@folder:f",
          'document:d#banned@user:u[min_level:{"required":3}]',
        ]);
        const allowed = await check(engine, "document:d", "view", "user:u", {
          explain: true,
          context: { level: 1 },
        });
        expect(allowed.state).toBe("ALLOWED");
        expect(allowed.explain?.state).toBe("ALLOWED");
        expect(
          find(allowed.explain!, (n) => n.label.includes("group:g#member") && n.state === "ALLOWED"),
        ).toBeDefined();
        const caveat = find(allowed.explain!, (n) => (n.caveats?.length ?? 0) > 0)?.caveats?.[0];
        expect(caveat).toMatchObject({
          name: "min_level",
          result: "false",
          context: { level: 1, required: 3 },
        });

        const denied = await check(engine, "document:d", "view", "user:other", { explain: true });
        expect(denied.explain?.state).toBe("DENIED");
        expect(find(denied.explain!, (n) => n.label.includes("folder:f#view"))).toBeDefined();
      });

      it("expands a permission into its userset tree", async () => {
        const { engine } = await setup([
          "document:d#owner@user:o",
          "document:d#viewer@group:g#member",
          'document:d#viewer@user:w[in_window:{"start":"2026-01-01T00:00:00Z","end":"2027-01-01T00:00:00Z"}]',
          "document:d#parent@folder:f",
          "folder:f#viewer@user:fv",
        ]);
        const { tree } = await engine.expand({ resource: { type: "document", id: "d" }, permission: "view" });
        expect(tree.kind).toBe("exclusion");
        const leaves: { relation: string; subjects: string[] }[] = [];
        const walk = (n: typeof tree): void => {
          if (n.kind === "leaf") {
            leaves.push({
              relation: `${n.object.type}:${n.object.id}#${n.relation}`,
              subjects: n.subjects.map(
                (s) =>
                  `${s.subject.type}:${s.subject.id}${s.subject.relation ? `#${s.subject.relation}` : ""}${s.caveat ? `[${s.caveat}]` : ""}`,
              ),
            });
          } else n.children.forEach(walk);
        };
        walk(tree);
        expect(leaves).toContainEqual({
          relation: "document:d#viewer",
          subjects: expect.arrayContaining(["group:g#member", "user:w[in_window]"]),
        });
        expect(leaves).toContainEqual({ relation: "document:d#owner", subjects: ["user:o"] });
        expect(leaves).toContainEqual({ relation: "folder:f#viewer", subjects: ["user:fv"] });
      });
    });
  });
}

/**
 * Fakes only the clock (timers and I/O run as usual), so expiry does not race a slow machine: it
 * reads `start`, and `soon` is an expiration a minute later. Real again once the test ends.
 */
function fakeClock() {
  vi.useFakeTimers({ toFake: ["Date"] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  const start = Date.parse("2030-01-01T00:00:00Z");
  vi.setSystemTime(start);
  const soon = new Date(start + 60_000).toISOString().replace(/\.\d+Z$/, "Z");
  return { start, soon };
}

describe("the in-memory walk", () => {
  it("answers checks, caveats and bulk checks without a store read", async () => {
    mode.snapshots = true;
    const { store, engine } = await setup([
      "group:eng#member@user:ann",
      "folder:root#viewer@group:eng#member",
      "folder:sub#parent@folder:root",
      "document:d1#parent@folder:sub",
      'document:d2#viewer@user:bob[in_window:{"start":"2026-01-01T00:00:00Z","end":"2027-01-01T00:00:00Z"}]',
    ]);
    const before = store.reads;
    expect((await check(engine, "document:d1", "view", "user:ann")).state).toBe("ALLOWED");
    expect((await check(engine, "document:d1", "view", "user:bob")).state).toBe("DENIED");
    const conditional = await check(engine, "document:d2", "view", "user:bob");
    expect(conditional).toMatchObject({ state: "CONDITIONAL", missing: ["now"] });
    const bulk = await engine.checkBulk({
      items: ["d1", "d2", "d3"].map((id) => ({
        resource: { type: "document", id },
        permission: "view",
        subject: { type: "user", id: "ann" },
      })),
    });
    expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual(["ALLOWED", "DENIED", "DENIED"]);
    expect(store.reads - before).toBe(0);
  });

  it("hands a cycle to the batched evaluator, which answers it", async () => {
    mode.snapshots = true;
    const { store, engine } = await setup([
      "group:a#member@group:b#member",
      "group:b#member@group:a#member",
      "group:b#member@user:x",
      "document:d#viewer@group:a#member",
    ]);
    const before = store.reads;
    expect((await check(engine, "group:a", "member", "group:c#member")).state).toBe("DENIED");
    expect(store.reads - before).toBeGreaterThan(0);
  });
});
