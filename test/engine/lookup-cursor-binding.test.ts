/**
 * Lookup cursors are bound to their whole request by a 128-bit SHA-256 digest (a 32-bit checksum
 * let two requests share one: `document:doc26948` and `document:doc765742` did). Their position
 * is not checked against the walk: the cursor's own result may leave it when its grant expires
 * between pages, and the lookup goes on after it.
 */
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { createMemoryStore } from "./memory-store.js";

const SCHEMA = `definition user {}
definition group {
  relation member: user | group#member
}
definition document {
  relation viewer: user | group#member
  permission view = viewer
}`;
const touch = (t: string) => ({ operation: "touch" as const, relationship: parseRelationship(t) });

async function setup(): Promise<Engine> {
  const store = await createSqliteStore({ path: ":memory:" });
  await store.writeSchema(SCHEMA);
  const rels: string[] = [];
  for (const doc of ["doc26948", "doc765742"])
    for (const u of ["a", "b", "c"]) rels.push(`document:${doc}#viewer@user:${u}`);
  for (const u of ["u84953", "u562110"])
    for (const d of ["d1", "d2", "d3"]) rels.push(`document:${d}#viewer@user:${u}`);
  // Two levels for u84953: d1..d3 directly, e1 and e2 through a group.
  rels.push(
    "group:g#member@user:u84953",
    "document:e1#viewer@group:g#member",
    "document:e2#viewer@group:g#member",
  );
  await store.write(rels.map(touch));
  return createEngine({ store, quantizationMs: 0 });
}

type Outcome<T> = { ok: true; items: T[] } | { ok: false; code: string; kind: string; message: string };

async function outcome<T>(results: AsyncIterable<T>): Promise<Outcome<T>> {
  const items: T[] = [];
  try {
    for await (const x of results) items.push(x);
    return { ok: true, items };
  } catch (e) {
    if (isLatchError(e)) return { ok: false, code: e.code, kind: e.kind, message: e.message };
    throw e;
  }
}

const REFUSED = { ok: false, code: "lookup/invalid-cursor", kind: "invalid-argument" };

async function items<T>(results: AsyncIterable<T>): Promise<T[]> {
  const o = await outcome(results);
  if (!o.ok) throw new Error(`lookup failed: ${o.code}`);
  return o.items;
}

const resources = (
  engine: Engine,
  id: string,
  extra: { cursor?: string; limit?: number; context?: Record<string, unknown> } = {},
) =>
  engine.lookupResources({
    resourceType: "document",
    permission: "view",
    subject: { type: "user", id },
    ...extra,
  });
const subjects = (engine: Engine, doc: string, extra: { cursor?: string; limit?: number } = {}) =>
  engine.lookupSubjects({
    resource: { type: "document", id: doc },
    permission: "view",
    subjectType: "user",
    ...extra,
  });

describe("lookup cursors bound to their request", () => {
  it("LookupSubjects refuses a cursor of another resource (whose 32-bit checksums collided)", async () => {
    const engine = await setup();
    const page = await items(subjects(engine, "doc26948", { limit: 2 }));
    const other = await outcome(subjects(engine, "doc765742", { cursor: page.at(-1)!.cursor }));
    expect(other).toMatchObject(REFUSED);
  });

  it("LookupResources refuses a cursor of another subject (whose 32-bit checksums collided)", async () => {
    const engine = await setup();
    const page = await items(resources(engine, "u84953", { limit: 2 }));
    const other = await outcome(resources(engine, "u562110", { cursor: page.at(-1)!.cursor }));
    expect(other).toMatchObject(REFUSED);
  });

  it("binds the caveat context too, whatever the order of its keys", async () => {
    const engine = await setup();
    const context = { a: 1, b: { x: "y", w: [1, 2] } };
    const page = await items(resources(engine, "u84953", { limit: 1, context }));
    const cursor = page[0]!.cursor;
    const reordered = { b: { w: [1, 2], x: "y" }, a: 1 };
    const rest = await items(resources(engine, "u84953", { cursor, context: reordered }));
    expect([...page, ...rest].map((r) => r.resourceId)).toEqual(["d1", "d2", "d3", "e1", "e2"]);
    expect(
      await outcome(resources(engine, "u84953", { cursor, context: { a: 2, b: context.b } })),
    ).toMatchObject(REFUSED);
    expect(await outcome(resources(engine, "u84953", { cursor }))).toMatchObject(REFUSED);
  });

  it("refuses a cursor of an earlier version (its request was a 32-bit checksum)", async () => {
    const engine = await setup();
    const page = await items(resources(engine, "u84953", { limit: 1 }));
    const cursor = page[0]!.cursor;
    const dot = cursor.indexOf(".");
    const [version, token] = JSON.parse(Buffer.from(cursor.slice(0, dot), "base64url").toString("utf8"));
    const old = `${Buffer.from(JSON.stringify([version, token, "1x2y3z"]), "utf8").toString("base64url")}${cursor.slice(dot)}`;
    const o = await outcome(resources(engine, "u84953", { cursor: old }));
    expect(o).toMatchObject(REFUSED);
    expect(!o.ok && o.message).toMatch(/earlier version/);
  });
});

describe("a cursor whose own result expired since its page", () => {
  const SOON = `use expiration
definition user {}
definition document {
  relation viewer: user | user with expiration
  permission view = viewer
}`;
  it.each([false, true])("resumes after it (the copy's snapshots: %s)", async (snapshots) => {
    vi.useFakeTimers({ toFake: ["Date"] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const start = Date.parse("2030-01-01T00:00:00Z");
    vi.setSystemTime(start);
    const at = (ms: number) => new Date(start + ms).toISOString().replace(/\.\d+Z$/, "Z");
    const store = await createMemoryStore({ snapshots });
    await store.writeSchema(SOON);
    await store.write(
      [
        `document:a#viewer@user:u[expiration:${at(60_000)}]`,
        "document:b#viewer@user:u",
        "document:c#viewer@user:u",
        `document:s#viewer@user:a1[expiration:${at(60_000)}]`,
        "document:s#viewer@user:b1",
      ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
    );
    const engine = createEngine({ store, quantizationMs: 0 });
    const fresh = { kind: "fully-consistent" } as const;
    const asked = { resourceType: "document", permission: "view", subject: { type: "user", id: "u" } };
    const first = await items(engine.lookupResources({ ...asked, limit: 1, consistency: fresh }));
    const asking = { resource: { type: "document", id: "s" }, permission: "view", subjectType: "user" };
    const one = await items(engine.lookupSubjects({ ...asking, limit: 1, consistency: fresh }));
    expect([first[0]!.resourceId, one[0]!.subject.id]).toEqual(["a", "a1"]);
    vi.setSystemTime(start + 60_001);
    const rest = await items(engine.lookupResources({ ...asked, cursor: first[0]!.cursor }));
    expect(rest.map((r) => r.resourceId)).toEqual(["b", "c"]);
    const others = await items(engine.lookupSubjects({ ...asking, cursor: one[0]!.cursor }));
    expect(others.map((r) => r.subject.id)).toEqual(["b1"]);
  });
});
