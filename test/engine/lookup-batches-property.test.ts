/**
 * The chunked LookupResources the permission watch takes (`cursors: false`, lookup-batches.ts) on
 * random schemas and relationships, over SQLite and over the in-memory copy: the same set of
 * results, with the same states and missing parameters, as the public one-at-a-time lookup (which
 * lookup-property.test.ts holds to the reference evaluator), each object once; with cursors, the
 * very same results in the same order; with witnesses, each result carries one. The walk's
 * fast paths (every object definite, one edge per read) must not change any of it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SubjectRef } from "../../src/core/index.js";
import {
  createEngine,
  type Engine,
  type LookupResourceResult,
  type LookupResourcesRequest,
  lookupBatchesOf,
} from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { universe } from "./lookup-crosscheck.js";
import { rels } from "./lookup-harness.js";
import { createMemoryStore } from "./memory-store.js";
import { propertyRuns, scenarioArb } from "./random-scenarios.js";

const scenarios = scenarioArb({
  ids: ["o0", "o1", "o2", "o3"],
  extraLeaf: "par->perm1",
  rel0Modes: ["plain", "plain", "plain", "caveat", "expires-later"],
  maxRelationships: 30,
  contexts: [undefined, { x: 6 }, { flag: true }],
  wildcardExclusions: true,
});

const text = (r: LookupResourceResult) =>
  `${r.resourceId}:${r.state}${r.missing.length > 0 ? `[${r.missing.join(",")}]` : ""}`;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * The lookup each way: what differs, and how many results the public lookup gave (none when it
 * refuses the request, as the chunked one must then too).
 */
async function compare(
  engine: Engine,
  request: LookupResourcesRequest,
): Promise<{ problems: string[]; results: number }> {
  const problems: string[] = [];
  const batches = lookupBatchesOf(engine.lookupResources)!;
  let single: LookupResourceResult[];
  try {
    single = await collect(engine.lookupResources(request));
  } catch {
    await expect(collect(batches(request, { cursors: false }))).rejects.toThrow();
    return { problems: [], results: 0 };
  }
  const chunked = (await collect(batches(request, { cursors: false }))).flat();
  const ids = chunked.map((r) => r.resourceId);
  if (new Set(ids).size !== ids.length) problems.push(`duplicates without cursors: ${ids.join(" ")}`);
  if (chunked.some((r) => r.cursor !== "")) problems.push("a cursor without cursors");
  const sorted = (rs: LookupResourceResult[]) => rs.map(text).sort().join(" ");
  if (sorted(chunked) !== sorted(single)) {
    problems.push(`without cursors ${sorted(chunked)} != one at a time ${sorted(single)}`);
  }
  const withCursors = (await collect(batches(request))).flat();
  const same = (a: LookupResourceResult, b: LookupResourceResult) =>
    text(a) === text(b) && a.cursor === b.cursor;
  if (withCursors.length !== single.length || !withCursors.every((r, i) => same(r, single[i]!))) {
    problems.push(`with cursors ${withCursors.map(text).join(" ")} != ${single.map(text).join(" ")}`);
  }
  const proved = (await collect(batches({ ...request, witness: true }, { cursors: false }))).flat();
  if (sorted(proved) !== sorted(single))
    problems.push(`with witnesses ${sorted(proved)} != ${sorted(single)}`);
  // A subject set is in its own member with no relationship to show: an empty proof is one.
  for (const r of proved) if (r.witness === undefined) problems.push(`${r.resourceId} without a witness`);
  return { problems, results: single.length };
}

describe("the chunked lookup without cursors", () => {
  it("gives the public lookup's results, each once, over SQLite and the in-memory copy", async () => {
    let lookups = 0;
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(scenarios, fc.boolean(), async (scenario, snapshots) => {
        const { shape, relationships, context } = scenario;
        const schema = compileSchema(shape.schema);
        const store = await createMemoryStore({ snapshots });
        await store.writeSchema(shape.schema);
        await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
        const engine = createEngine({ store, quantizationMs: 0 });
        const { objects, sets } = universe(relationships);
        const subjects: SubjectRef[] = [...sets];
        for (const [type, ids] of objects) for (const id of ids) subjects.push({ type, id });
        const problems: string[] = [];
        try {
          for (const [type, def] of schema.definitions) {
            for (const permission of def.members.keys()) {
              for (const subject of subjects) {
                const request: LookupResourcesRequest = {
                  resourceType: type,
                  permission,
                  subject,
                  consistency: { kind: "fully-consistent" },
                  ...(context === undefined ? {} : { context }),
                };
                lookups++;
                const found = await compare(engine, request);
                if (found.results > 0) nonEmpty++;
                for (const p of found.problems)
                  problems.push(`${type}#${permission}@${subject.type}:${subject.id}: ${p}`);
              }
            }
          }
        } finally {
          await store.close();
        }
        expect(problems, `${shape.schema}\n${JSON.stringify(relationships)}`).toEqual([]);
      }),
      propertyRuns(40),
    );
    // The comparison proves little unless many lookups have answers.
    expect(nonEmpty).toBeGreaterThan(lookups / 20);
  });
});

describe("definite objects", () => {
  const schema = `caveat flag(flag bool) { flag }
definition user {}
definition group { relation member: user }
definition folder {
  relation parent: folder
  relation viewer: user | user with flag | group#member
  permission view = viewer + parent->view
}
definition document {
  relation parent: folder
  relation viewer: user | user with flag
  relation owner: user | user with flag
  permission view = viewer + owner + parent->view
}`;

  it("reached by a caveated and an uncaveated path, in either order, need no check", async () => {
    for (const snapshots of [false, true]) {
      const store = await createMemoryStore({ snapshots });
      await store.writeSchema(schema);
      // In both orders of the candidate path and the definite one, written and read.
      const relationships = rels(
        'document:d1#owner@user:alice[flag:{"flag":false}]',
        "document:d1#viewer@user:alice",
        'document:d2#viewer@user:alice[flag:{"flag":false}]',
        "document:d2#owner@user:alice",
        // A folder first reached as a candidate, a level later definite (through the group).
        'folder:f#viewer@user:alice[flag:{"flag":false}]',
        "folder:f#viewer@group:g#member",
        "group:g#member@user:alice",
        "document:d3#parent@folder:f",
      );
      await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
      const engine = createEngine({ store, quantizationMs: 0, cache: false });
      const request: LookupResourcesRequest = {
        resourceType: "document",
        permission: "view",
        subject: { type: "user", id: "alice" },
        consistency: { kind: "fully-consistent" },
      };
      const batches = lookupBatchesOf(engine.lookupResources)!;
      const all = (await collect(batches(request, { cursors: false }))).flat();
      expect(all.map(text).sort()).toEqual(["d1:ALLOWED", "d2:ALLOWED", "d3:ALLOWED"]);
      // d1 and d2 are definite once their level is read (whichever path came first): a page of
      // them needs no check. (d3 is reached a level before its folder is definite: checked.)
      const before = engine.stats().dispatches;
      const page = (await collect(batches({ ...request, limit: 2 }, { cursors: false }))).flat();
      expect(page.map(text).sort()).toEqual(["d1:ALLOWED", "d2:ALLOWED"]);
      expect(engine.stats().dispatches - before).toBe(0);
      await store.close();
    }
  });
});
