/**
 * Witnesses (issue 14): on random schemas and relationships (caveats, wildcards, subject sets,
 * exclusions nested in exclusions, intersections, arrows, `.all()`, expiration, cycles), every
 * witness of an ALLOWED answer is a set of stored relationships that alone, as the only data,
 * still gives ALLOWED by the reference evaluator; a CONDITIONAL answer's witness alone still
 * grants (ALLOWED or CONDITIONAL). Through both walks (a store with snapshots answers by the
 * in-memory walk, one without by the batched evaluator), for Check and CheckBulk, and asking for a
 * witness never changes the answer.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatRelationship,
  isLatchError,
  type Relationship,
  type SubjectRef,
} from "../../src/core/index.js";
import { type CheckBulkItem, createEngine } from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { createMemoryStore } from "./memory-store.js";
import { propertyRuns, scenarioArb, TYPES, USERS, witnessKindsScenario } from "./random-scenarios.js";
import { referenceAnswer } from "./reference.js";

const IDS = ["o0", "o1"] as const;
const scenarios = fc.oneof(
  scenarioArb({
    ids: IDS,
    extraLeaf: "par.all(perm0)",
    rel0Modes: ["plain", "caveat", "expired", "expires-later"],
    maxRelationships: 30,
    contexts: [{}, {}, { x: 6 }, { flag: true }, { x: 1, flag: false }],
  }),
  scenarioArb({
    ids: IDS,
    extraLeaf: "par->perm1",
    rel0Modes: ["plain", "plain", "caveat", "expires-later"],
    maxRelationships: 30,
    contexts: [{}, { x: 6 }, { x: 9, flag: false }],
    wildcardExclusions: true,
  }),
  // Subject sets only into `rel0`: membership relations, which the subject's index answers (a
  // witnessing walk then walks down only the sets the index says the subject is in).
  scenarioArb({
    ids: IDS,
    extraLeaf: "par->rel0",
    rel0Modes: ["plain", "plain", "plain", "caveat", "expires-later"],
    maxRelationships: 20,
    contexts: [{}, { x: 6 }],
  }).filter(({ shape }) => shape.sets.every(([, relation]) => relation === "rel0")),
);

describe("a witness alone proves its answer", () => {
  it.each([
    ["the batched evaluator", false],
    ["the in-memory walk", true],
  ])("on random schemas and relationships, through %s", async (_name, snapshots) => {
    const seen = new Map<string, number>();
    const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(scenarios, async ({ shape, relationships, context }) => {
        const schema = compileSchema(shape.schema);
        const store = await createMemoryStore({ snapshots });
        await store.writeSchema(shape.schema);
        await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
        const engine = createEngine({ store, quantizationMs: 0 });
        const stored = new Set(relationships.map(formatRelationship));
        const subjects: SubjectRef[] = [
          ...USERS.map((id) => ({ type: "user", id })),
          { type: "typea", id: "o0", relation: "perm0" },
        ];
        const items: CheckBulkItem[] = [];
        for (const type of TYPES)
          for (const id of IDS)
            for (const permission of ["rel0", "rel1", "perm0", "perm1"])
              for (const subject of subjects)
                items.push({ resource: { type, id }, permission, subject, ...(context ? { context } : {}) });
        const now = Date.now();
        const consistency = { kind: "fully-consistent" } as const;
        const reference = (item: CheckBulkItem, data: readonly Relationship[]) =>
          referenceAnswer(schema, data, item, now);
        const judge = (
          item: CheckBulkItem,
          state: string,
          witness: readonly Relationship[] | undefined,
          how: string,
        ) => {
          const label = `${how} ${JSON.stringify(item)} witness ${JSON.stringify(witness?.map(formatRelationship))}`;
          if (state === "DENIED") {
            expect(witness, label).toBeUndefined();
            return;
          }
          expect(witness, label).toBeDefined();
          for (const r of witness!)
            expect(stored.has(formatRelationship(r)), `${label}: not stored`).toBe(true);
          const alone = reference(item, witness!);
          if (alone === "unstratified") return count("witness alone unstratified");
          if (state === "ALLOWED") expect(alone, label).toBe("ALLOWED");
          else expect(alone, label).not.toBe("DENIED");
          count(`${state} (${witness!.length === 0 ? "empty" : witness!.length > 1 ? "several" : "one"})`);
        };
        for (const item of items) {
          let plain: string;
          let proved: Awaited<ReturnType<typeof engine.check>>;
          try {
            plain = (await engine.check({ ...item, consistency })).state;
            proved = await engine.check({ ...item, consistency, witness: true });
          } catch (e) {
            if (!(isLatchError(e) && e.code === "check/cycle-through-exclusion")) throw e;
            continue;
          }
          expect(proved.state, JSON.stringify(item)).toBe(plain);
          judge(item, proved.state, proved.witness, "check");
        }
        const bulk = await engine.checkBulk({ items, consistency, witness: true });
        for (const [i, item] of items.entries()) {
          const r = bulk.results[i]!;
          if (r.ok) judge(item, r.state, r.witness, "bulk");
        }
      }),
      { ...propertyRuns(120), examples: [[witnessKindsScenario({})]] },
    );
    // Every kind of answer must be proved, single and joined witnesses among them (the fixed
    // example meets each; random scenarios add more).
    for (const kind of ["ALLOWED (one)", "ALLOWED (several)", "CONDITIONAL (one)", "CONDITIONAL (several)"]) {
      expect(seen.get(kind) ?? 0, `${kind}: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    }
  });
});
