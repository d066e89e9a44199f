/**
 * LookupSubjects pages: for random schemas and relationships (wildcards with exclusions,
 * caveats, subject sets), pages of any size chained by their cursors, with writes landing between
 * pages, add up to exactly the one-shot answer at the first page's revision: no duplicates, no
 * gaps, the wildcard once and first.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import { createEngine, type LookupSubjectResult } from "../../src/engine/index.js";
import { collectAll } from "./lookup-harness.js";
import { createMemoryStore } from "./memory-store.js";
import { propertyRuns, scenarioArb, TYPES } from "./random-scenarios.js";

const scenarios = scenarioArb({
  ids: ["o0", "o1", "o2"],
  extraLeaf: "par->perm1",
  rel0Modes: ["plain", "caveat", "expires-later"],
  maxRelationships: 25,
  contexts: [undefined, { x: 6 }],
  wildcardExclusions: true,
});

const shown = (r: LookupSubjectResult) => ({
  id: r.subject.id,
  state: r.state,
  missing: r.missing,
  excluded: r.excluded,
});

describe("LookupSubjects pages", () => {
  it("chained by cursors equal the one-shot answer at the first page's revision", async () => {
    let paged = 0;
    await fc.assert(
      fc.asyncProperty(scenarios, fc.integer({ min: 1, max: 3 }), async (scenario, limit) => {
        const store = await createMemoryStore();
        await store.writeSchema(scenario.shape.schema);
        await store.write(
          scenario.relationships.map((relationship) => ({ operation: "touch", relationship })),
        );
        const engine = createEngine({ store, quantizationMs: 0 });
        for (const type of TYPES) {
          for (const id of ["o0", "o1", "o2"]) {
            for (const permission of ["perm0", "perm1"]) {
              const request = {
                resource: { type, id },
                permission,
                subjectType: "user",
                consistency: { kind: "fully-consistent" as const },
                ...(scenario.context === undefined ? {} : { context: scenario.context }),
              };
              let whole: LookupSubjectResult[];
              try {
                whole = await collectAll(engine.lookupSubjects(request));
              } catch (e) {
                // Recursion through an exclusion has no answer, paged or not.
                if (isLatchError(e) && e.code === "check/cycle-through-exclusion") continue;
                throw e;
              }
              if (whole.length === 0) continue;
              const pinned = { kind: "at-exact-snapshot" as const, token: whole[0]!.token };
              const pages: LookupSubjectResult[] = [];
              let cursor: string | undefined;
              for (;;) {
                const page = await collectAll(
                  engine.lookupSubjects({
                    ...request,
                    ...(cursor === undefined ? { consistency: pinned } : { cursor }),
                    limit,
                  }),
                );
                pages.push(...page);
                const concrete = page.filter((r) => r.subject.id !== "*").length;
                if (concrete < limit) break;
                cursor = page.at(-1)!.cursor;
                // Writes between pages must not show: the cursor pins the first page's revision.
                await store.write(
                  scenario.relationships.map((relationship) => ({ operation: "delete", relationship })),
                );
              }
              paged++;
              expect(pages.map(shown)).toEqual(whole.map(shown));
              await store.write(
                scenario.relationships.map((relationship) => ({ operation: "touch", relationship })),
              );
            }
          }
        }
      }),
      propertyRuns(40),
    );
    expect(paged).toBeGreaterThan(0);
  });

  it("refuses a cursor from another lookup, a bad cursor and a bad limit", async () => {
    const store = await createMemoryStore();
    await store.writeSchema("definition user {}\ndefinition doc { relation viewer: user | user:* }");
    await store.write(
      ["a", "b", "c", "*"].map((id) => ({
        operation: "touch" as const,
        relationship: {
          resource: { type: "doc", id: "d" },
          relation: "viewer",
          subject: { type: "user", id },
        },
      })),
    );
    const engine = createEngine({ store, quantizationMs: 0 });
    const request = { resource: { type: "doc", id: "d" }, permission: "viewer", subjectType: "user" };
    const first = await collectAll(engine.lookupSubjects({ ...request, limit: 1 }));
    // The wildcard comes first and does not count against the limit.
    expect(first.map((r) => r.subject.id)).toEqual(["*", "a"]);
    const next = await collectAll(engine.lookupSubjects({ ...request, limit: 5, cursor: first[1]!.cursor }));
    expect(next.map((r) => r.subject.id)).toEqual(["b", "c"]);
    const afterWildcard = await collectAll(engine.lookupSubjects({ ...request, cursor: first[0]!.cursor }));
    expect(afterWildcard.map((r) => r.subject.id)).toEqual(["a", "b", "c"]);
    await expect(
      collectAll(
        engine.lookupSubjects({ ...request, resource: { type: "doc", id: "e" }, cursor: first[1]!.cursor }),
      ),
    ).rejects.toMatchObject({ code: "lookup/invalid-cursor" });
    await expect(collectAll(engine.lookupSubjects({ ...request, cursor: "garbage" }))).rejects.toMatchObject({
      code: "lookup/invalid-cursor",
    });
    await expect(collectAll(engine.lookupSubjects({ ...request, limit: 1.5 }))).rejects.toMatchObject({
      code: "lookup/invalid-limit",
    });
  });
});
