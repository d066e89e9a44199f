/**
 * Random schemas and relationship sets (caveats, wildcards, subject sets, exclusions,
 * intersections, arrows, `.all()`, expiration, cycles): every check the engine answers equals the
 * naive reference evaluator, and CheckBulk equals Check item by item.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isLatchError, type SubjectRef } from "../../src/core/index.js";
import { type CheckBulkItem, createEngine } from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { createMemoryStore } from "./memory-store.js";
import { scenarioArb, TYPES, USERS } from "./random-scenarios.js";
import { CycleThroughExclusion, referenceCheck } from "./reference.js";

const IDS = ["o0", "o1"] as const;
const scenarios = scenarioArb({
  ids: IDS,
  extraLeaf: "par.all(perm0)",
  rel0Modes: ["plain", "caveat", "caveat", "expired", "expires-later"],
  maxRelationships: 30,
  contexts: [{}, {}, { x: 6 }, { flag: true }, { x: 1, flag: false }],
});

describe("engine equals the reference evaluator", () => {
  // With snapshots, most checks take the synchronous in-memory walk and fall back to the batched
  // evaluator only where it cannot answer (caveats, cycles): both must equal the reference.
  it.each([
    ["the batched evaluator", false],
    ["the in-memory walk", true],
  ])("on random schemas and relationships, through %s", async (_name, snapshots) => {
    const seen = { ALLOWED: 0, DENIED: 0, CONDITIONAL: 0, unstratified: 0 };
    await fc.assert(
      fc.asyncProperty(scenarios, async ({ shape, relationships, context }) => {
        const schema = compileSchema(shape.schema);
        const store = createMemoryStore("memory", { snapshots });
        await store.writeSchema(shape.schema);
        await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
        const engine = createEngine({ store, quantizationMs: 0 });
        const subjects: SubjectRef[] = [
          ...USERS.map((id) => ({ type: "user", id })),
          { type: "typea", id: "o0", relation: "perm0" },
          { type: "typeb", id: "o1", relation: "rel0" },
        ];
        const items: CheckBulkItem[] = [];
        for (const type of TYPES) {
          for (const id of IDS) {
            for (const permission of ["rel0", "rel1", "perm0", "perm1"]) {
              for (const subject of subjects)
                items.push({ resource: { type, id }, permission, subject, ...(context ? { context } : {}) });
            }
          }
        }
        const now = Date.now();
        // Recursion through an exclusion has no defined answer; both sides refuse it, though
        // batching may explore (and so refuse) a little more than the one-at-a-time reference.
        const expectedOf = (item: CheckBulkItem) => {
          try {
            return referenceCheck(
              schema,
              relationships,
              item.resource,
              item.permission,
              item.subject,
              item.context,
              now,
            );
          } catch (e) {
            if (e instanceof CycleThroughExclusion) return "unstratified" as const;
            throw e;
          }
        };
        const expected = items.map(expectedOf);
        for (const [i, item] of items.entries()) {
          const want = expected[i]!;
          let got: string;
          try {
            got = (await engine.check({ ...item, consistency: { kind: "fully-consistent" } })).state;
          } catch (e) {
            if (!(isLatchError(e) && e.code === "check/cycle-through-exclusion")) throw e;
            got = "unstratified";
          }
          seen[want]++;
          if (want === "unstratified" || got === "unstratified") continue;
          expect(got, JSON.stringify(item)).toBe(want);
        }
        // Concurrent checks on a fresh engine share in-flight subproblems: same answers, no deadlock.
        const concurrent = createEngine({ store, quantizationMs: 0 });
        const together = await Promise.all(
          items.map((item) =>
            concurrent.check({ ...item, consistency: { kind: "fully-consistent" } }).then(
              (r) => r.state as string,
              (e) => {
                if (isLatchError(e) && e.code === "check/cycle-through-exclusion") return "unstratified";
                throw e;
              },
            ),
          ),
        );
        for (const [i, item] of items.entries()) {
          const want = expected[i]!;
          if (want === "unstratified" || together[i] === "unstratified") continue;
          expect(together[i], `concurrent ${JSON.stringify(item)}`).toBe(want);
        }
        const bulk = await engine.checkBulk({ items, consistency: { kind: "fully-consistent" } });
        for (const [i, item] of items.entries()) {
          const r = bulk.results[i]!;
          const want = expected[i]!;
          if (!r.ok) {
            expect(r.error.code).toBe("check/cycle-through-exclusion");
            continue;
          }
          if (want === "unstratified") continue;
          expect(r.state, `bulk ${JSON.stringify(item)}`).toBe(want);
        }
      }),
      { numRuns: Number(process.env.LATCH_PROPERTY_RUNS ?? 150) },
    );
    // The generator must exercise every outcome, or the comparison proves little.
    expect(seen.ALLOWED).toBeGreaterThan(0);
    expect(seen.CONDITIONAL).toBeGreaterThan(0);
    expect(seen.DENIED).toBeGreaterThan(0);
    expect(seen.unstratified).toBeLessThan((seen.ALLOWED + seen.DENIED + seen.CONDITIONAL) / 4);
  });
});
