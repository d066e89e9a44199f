/**
 * The posture report's multi-source reach walk against the engine, on random schemas and
 * relationships (caveats, caveated wildcards, subject sets, arrows, `.all()`, intersections,
 * exclusions, expiration, cycles): for every identity and permission, what the one walk for all
 * identities answers equals one LookupResources for that identity alone, object by object and
 * state by state (ALLOWED / CONDITIONAL).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LatchError, type SubjectRef } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import { walkReach } from "../../src/posture/reach.js";
import { compileSchema } from "../../src/schema/index.js";
import { createMemoryStore } from "../engine/memory-store.js";
import { propertyRuns, scenarioArb, TYPES, USERS } from "../engine/random-scenarios.js";

const scenarios = scenarioArb({
  ids: ["o0", "o1", "o2"],
  extraLeaf: "par->perm1",
  rel0Modes: ["plain", "plain", "caveat", "expired", "expires-later"],
  maxRelationships: 25,
  contexts: [undefined],
  wildcardExclusions: true,
});

/** The users the scenarios name, and one no relationship names (it reaches through wildcards only). */
const SOURCES: SubjectRef[] = [...USERS, "u9"].map((id) => ({ type: "user", id }));
const PERMISSIONS = TYPES.flatMap((type) => ["perm0", "perm1", "rel0"].map((name) => ({ type, name })));

/** Recursion through an exclusion has no answer: either side may meet it where the other does not. */
const noAnswer = (e: unknown) => e instanceof LatchError && e.code === "check/cycle-through-exclusion";

async function oneByOne(engine: Engine, token: string, type: string, name: string): Promise<string[]> {
  const out: string[] = [];
  for (const subject of SOURCES)
    for await (const r of engine.lookupResources({
      resourceType: type,
      permission: name,
      subject,
      consistency: { kind: "at-exact-snapshot", token },
    }))
      out.push(`${subject.id} ${r.resourceId} ${r.state}`);
  return out.sort();
}

describe("the multi-source reach walk equals one LookupResources per identity", () => {
  for (const snapshots of [false, true])
    it(`on random schemas and relationships (${snapshots ? "in-memory copy" : "SQLite reads"})`, async () => {
      const totals = { compared: 0, reached: 0, conditional: 0, skipped: 0, checks: 0 };
      await fc.assert(
        fc.asyncProperty(scenarios, async ({ shape, relationships }) => {
          const schema = compileSchema(shape.schema);
          const store = await createMemoryStore({ snapshots });
          await store.writeSchema(shape.schema);
          await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
          const engine = createEngine({ store, quantizationMs: 0 });
          const revision = await store.currentRevision();
          const token = store.encodeRevision(revision);
          const input = { engine, reader: store.at(revision), schema, token };
          for (const { type, name } of PERMISSIONS) {
            let expected: string[];
            try {
              expected = await oneByOne(engine, token, type, name);
            } catch (e) {
              if (!noAnswer(e)) throw e;
              totals.skipped++;
              continue;
            }
            const got: string[] = [];
            try {
              const { checks } = await walkReach(input, SOURCES, { type, name }, (i, id, state) => {
                got.push(`${SOURCES[i]!.id} ${id} ${state}`);
              });
              totals.checks += checks;
            } catch (e) {
              if (!noAnswer(e)) throw e;
              totals.skipped++;
              continue;
            }
            got.sort();
            totals.compared++;
            totals.reached += expected.length;
            totals.conditional += expected.filter((x) => x.endsWith("CONDITIONAL")).length;
            expect(got, `${type}#${name}\n${shape.schema}\n${JSON.stringify(relationships)}`).toEqual(
              expected,
            );
          }
          await store.close();
        }),
        propertyRuns(60),
      );
      // The comparison must cover reached objects, conditional ones and walk-undecided candidates.
      expect(totals.reached).toBeGreaterThan(totals.compared);
      expect(totals.conditional).toBeGreaterThan(0);
      expect(totals.checks).toBeGreaterThan(0);
      expect(totals.skipped).toBeLessThan(totals.compared / 4);
    });
});
