/**
 * Witnesses of LookupResources results (issue 14): on random schemas and relationships (caveats,
 * wildcards, subject sets, nested sets, arrows, `.all()`, intersections, exclusions, expiration,
 * cycles), a lookup asked for witnesses gives the same results, in the same order, as one not
 * asked, and every result's witness is a set of stored relationships that alone, as the only data,
 * still gives the result's answer by the reference evaluator (ALLOWED stays ALLOWED; CONDITIONAL
 * still grants). Both the walk's definite objects (proved by the path that reached them) and the
 * checked ones (proved by their check) are met, and the witness of a result is the one Check would
 * accept: the same test as test/engine/witness-property.test.ts, for lookups.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatRelationship,
  isLatchError,
  type Relationship,
  type SubjectRef,
} from "../../src/core/index.js";
import { createEngine, type LookupResourceResult } from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { createMemoryStore } from "./memory-store.js";
import { propertyRuns, scenarioArb, TYPES, USERS, witnessKindsScenario } from "./random-scenarios.js";
import { referenceAnswer } from "./reference.js";

const IDS = ["o0", "o1", "o2"] as const;
const scenarios = fc.oneof(
  scenarioArb({
    ids: IDS,
    extraLeaf: "par->perm1",
    rel0Modes: ["plain", "plain", "caveat", "expired", "expires-later"],
    maxRelationships: 25,
    contexts: [undefined, { x: 6 }, { flag: true }, { x: 1, flag: false }],
    wildcardExclusions: true,
  }),
  scenarioArb({
    ids: IDS,
    extraLeaf: "par.all(perm0)",
    rel0Modes: ["plain", "caveat", "expires-later"],
    maxRelationships: 30,
    contexts: [undefined, {}, { x: 6 }],
  }),
  // Subject sets into `rel0` only: long definite paths through nested sets.
  scenarioArb({
    ids: IDS,
    extraLeaf: "par->rel0",
    rel0Modes: ["plain", "plain", "plain", "caveat"],
    maxRelationships: 25,
    contexts: [undefined, { x: 6 }],
  }).filter(({ shape }) => shape.sets.every(([, relation]) => relation === "rel0")),
);

async function all(results: AsyncIterable<LookupResourceResult>): Promise<LookupResourceResult[]> {
  const out: LookupResourceResult[] = [];
  for await (const r of results) out.push(r);
  return out;
}

describe("a lookup result's witness alone proves it", () => {
  it("on random schemas and relationships", async () => {
    const seen = new Map<string, number>();
    const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(scenarios, async ({ shape, relationships, context }) => {
        const schema = compileSchema(shape.schema);
        const store = await createMemoryStore();
        await store.writeSchema(shape.schema);
        await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
        const engine = createEngine({ store, quantizationMs: 0 });
        const stored = new Set(relationships.map(formatRelationship));
        const subjects: SubjectRef[] = [
          ...USERS.map((id) => ({ type: "user", id })),
          { type: "typea", id: "o0", relation: "perm0" },
          { type: "typeb", id: "o1", relation: "rel0" },
        ];
        const now = Date.now();
        const consistency = { kind: "fully-consistent" } as const;
        for (const resourceType of TYPES)
          for (const permission of ["rel0", "rel1", "perm0", "perm1"])
            for (const subject of subjects) {
              const request = {
                resourceType,
                permission,
                subject,
                consistency,
                ...(context ? { context } : {}),
              };
              let plain: LookupResourceResult[];
              let proved: LookupResourceResult[];
              try {
                plain = await all(engine.lookupResources(request));
                proved = await all(engine.lookupResources({ ...request, witness: true }));
              } catch (e) {
                if (!(isLatchError(e) && e.code === "check/cycle-through-exclusion")) throw e;
                continue;
              }
              const label = `${resourceType}#${permission}@${JSON.stringify(subject)}`;
              // Asking for witnesses changes nothing else.
              expect(
                proved.map(({ witness: _, ...rest }) => rest),
                label,
              ).toEqual(plain);
              for (const r of plain) expect(r.witness, label).toBeUndefined();
              for (const r of proved) {
                const item = {
                  resource: { type: resourceType, id: r.resourceId },
                  permission,
                  subject,
                  ...(context ? { context } : {}),
                };
                const text = `${label} ${r.resourceId} ${r.state} witness ${JSON.stringify(r.witness?.map(formatRelationship))}`;
                expect(r.witness, text).toBeDefined();
                for (const w of r.witness!)
                  expect(stored.has(formatRelationship(w)), `${text}: not stored`).toBe(true);
                const alone = referenceAnswer(schema, r.witness as Relationship[], item, now);
                if (alone === "unstratified") {
                  count("witness alone unstratified");
                  continue;
                }
                if (r.state === "ALLOWED") expect(alone, text).toBe("ALLOWED");
                else expect(alone, text).not.toBe("DENIED");
                const size = r.witness!.length;
                count(`${r.state} (${size === 0 ? "empty" : size > 1 ? "several" : "one"})`);
              }
            }
      }),
      { ...propertyRuns(60), examples: [[witnessKindsScenario(undefined)]] },
    );
    // Every kind of result must be proved, single and joined witnesses among them (the fixed
    // example meets each; random scenarios add more).
    for (const kind of ["ALLOWED (one)", "ALLOWED (several)", "CONDITIONAL (one)", "CONDITIONAL (several)"]) {
      expect(seen.get(kind) ?? 0, `${kind}: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    }
  });
});
