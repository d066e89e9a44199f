/**
 * The depth limit in the lookups: a chain as long as the limit allows answers in Check,
 * LookupSubjects and LookupResources alike; one hop longer fails all three with Check's error,
 * on the store path and on the in-memory one.
 */
import { describe, expect, it } from "vitest";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import { collectAll } from "./lookup-harness.js";
import { createMemoryStore } from "./memory-store.js";

const SCHEMA = `definition user {}

definition group {
  relation member: user | group#member
}

definition doc {
  relation parent: doc
  relation viewer: user | group#member
  permission view = viewer + parent->view
}
`;

const MAX_DEPTH = 8;

/** `doc:c0` -> ... -> `doc:c{links}` by `parent`, alice a viewer at the end: `links + 1` hops from c0. */
async function chain(links: number, inMemory: boolean): Promise<Engine> {
  const store = await createMemoryStore({ snapshots: inMemory });
  await store.writeSchema(SCHEMA);
  const lines = Array.from({ length: links }, (_, i) => `doc:c${i}#parent@doc:c${i + 1}`);
  lines.push(`doc:c${links}#viewer@user:alice`);
  await store.importRelationships(lines.map(parseRelationship));
  return createEngine({ store, quantizationMs: 0, maxDepth: MAX_DEPTH });
}

/** `doc:d#viewer@group:g0#member`, `group:g{i}#member@group:g{i+1}#member`, alice in the last. */
async function nested(groups: number): Promise<Engine> {
  const store = await createMemoryStore();
  await store.writeSchema(SCHEMA);
  const lines = ["doc:d#viewer@group:g0#member", `group:g${groups - 1}#member@user:alice`];
  for (let i = 0; i + 1 < groups; i++) lines.push(`group:g${i}#member@group:g${i + 1}#member`);
  await store.importRelationships(lines.map(parseRelationship));
  return createEngine({ store, quantizationMs: 0, maxDepth: MAX_DEPTH });
}

/** The outcome of one call: its answer, or the code of the error it failed with. */
async function outcome<T>(run: () => Promise<T>): Promise<T | string> {
  try {
    return await run();
  } catch (e) {
    if (isLatchError(e)) return e.code;
    throw e;
  }
}

async function askAll(engine: Engine, resource: string) {
  const consistency = { kind: "fully-consistent" } as const;
  return {
    check: await outcome(async () => {
      const r = await engine.check({
        resource: { type: "doc", id: resource },
        permission: "view",
        subject: { type: "user", id: "alice" },
        consistency,
      });
      return r.state;
    }),
    subjects: await outcome(async () => {
      const all = await collectAll(
        engine.lookupSubjects({
          resource: { type: "doc", id: resource },
          permission: "view",
          subjectType: "user",
          consistency,
        }),
      );
      return all.map((r) => `${r.subject.id} ${r.state}`);
    }),
    resources: await outcome(async () => {
      const all = await collectAll(
        engine.lookupResources({
          resourceType: "doc",
          permission: "view",
          subject: { type: "user", id: "alice" },
          consistency,
        }),
      );
      return all.some((r) => r.resourceId === resource) ? `${resource} listed` : `${resource} not listed`;
    }),
  };
}

describe("the depth limit in the lookups", () => {
  for (const inMemory of [false, true]) {
    const path = inMemory ? "in-memory" : "store";

    it(`answers a chain that needs exactly the limit, in all three (${path})`, async () => {
      const engine = await chain(MAX_DEPTH - 1, inMemory);
      expect(await askAll(engine, "c0")).toEqual({
        check: "ALLOWED",
        subjects: ["alice ALLOWED"],
        resources: "c0 listed",
      });
    });

    it(`fails a chain one hop past the limit with Check's error, in all three (${path})`, async () => {
      const engine = await chain(MAX_DEPTH, inMemory);
      const code = "check/max-depth-exceeded";
      expect(await askAll(engine, "c0")).toEqual({ check: code, subjects: code, resources: code });
      // One hop shorter from c1: all three answer again.
      expect(await askAll(engine, "c1")).toEqual({
        check: "ALLOWED",
        subjects: ["alice ALLOWED"],
        resources: code, // c0 is still among the resources of the type, and past the limit
      });
    });
  }

  it("counts a subject set as one hop, as Check does, for nested groups", async () => {
    // d's view, then g0 ... g{n-1}: n + 1 hops.
    const within = await nested(MAX_DEPTH - 1);
    expect(await askAll(within, "d")).toEqual({
      check: "ALLOWED",
      subjects: ["alice ALLOWED"],
      resources: "d listed",
    });
    const past = await nested(MAX_DEPTH);
    const code = "check/max-depth-exceeded";
    expect(await askAll(past, "d")).toEqual({ check: code, subjects: code, resources: code });
  });

  it("fails with failed-precondition and names the limit", async () => {
    const engine = await chain(MAX_DEPTH, false);
    const error = await collectAll(
      engine.lookupSubjects({ resource: { type: "doc", id: "c0" }, permission: "view", subjectType: "user" }),
    ).catch((e: unknown) => e);
    expect(isLatchError(error) && error.kind).toBe("failed-precondition");
    expect(isLatchError(error) && error.details).toMatchObject({ maxDepth: MAX_DEPTH, at: "doc#view" });
  });
});
