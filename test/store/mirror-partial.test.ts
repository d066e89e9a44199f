/**
 * A copy over its limit keeps some (type, relation) sets and reads the others from the datastore
 * (issue 18): its answers must not depend on which. The same random checks (schemas with caveats,
 * wildcards, subject sets, arrows, exclusions, expiration, cycles) go to an engine on the bare
 * datastore and to engines on three copies of it: unlimited, tiny (limit 1: almost nothing held)
 * and in between (a third of the relationships: some sets held, some not, and writes after the
 * load push it to let go of more). Check one by one and CheckBulk; SQLite, and PostgreSQL where
 * LATCH_TEST_POSTGRES_URL is set.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { isLatchError, type Relationship, type SubjectRef } from "../../src/core/index.js";
import { type CheckBulkItem, createEngine, type Engine } from "../../src/engine/index.js";
import { delegateStore, type Store } from "../../src/store/index.js";
import { createMirroredStore, type MirroredStore } from "../../src/store/mirror/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { propertyRuns, scenarioArb, TYPES, USERS } from "../engine/random-scenarios.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";

const IDS = ["o0", "o1"] as const;
const scenarios = scenarioArb({
  ids: IDS,
  extraLeaf: "par->perm1",
  rel0Modes: ["plain", "plain", "caveat", "expired", "expires-later"],
  maxRelationships: 30,
  contexts: [{}, { x: 6 }, { flag: true }],
  wildcardExclusions: true,
});

const SUBJECTS: SubjectRef[] = [
  ...USERS.map((id) => ({ type: "user", id })),
  { type: "typea", id: "o0", relation: "perm0" },
  { type: "typeb", id: "o1", relation: "rel0" },
];

function itemsFor(context: Readonly<Record<string, unknown>> | undefined): CheckBulkItem[] {
  const items: CheckBulkItem[] = [];
  for (const type of TYPES) {
    for (const id of IDS) {
      for (const permission of ["rel0", "rel1", "perm0", "perm1"]) {
        for (const subject of SUBJECTS)
          items.push({ resource: { type, id }, permission, subject, ...(context ? { context } : {}) });
      }
    }
  }
  return items;
}

/** An answer as a string: state and missing parameters, or the error's code. */
async function answer(engine: Engine, item: CheckBulkItem): Promise<string> {
  try {
    const r = await engine.check({ ...item, consistency: { kind: "fully-consistent" } });
    return `${r.state} ${r.missing.join(",")}`;
  } catch (e) {
    if (isLatchError(e)) return e.code;
    throw e;
  }
}

async function bulkAnswers(engine: Engine, items: CheckBulkItem[]): Promise<string[]> {
  const bulk = await engine.checkBulk({ items, consistency: { kind: "fully-consistent" } });
  return bulk.results.map((r) => (r.ok ? `${r.state} ${r.missing.join(",")}` : r.error.code));
}

const touches = (rels: readonly Relationship[]) =>
  rels.map((relationship) => ({ operation: "touch" as const, relationship }));

function differential(name: string, open: () => Promise<Store>, runs: number) {
  it(`answers alike with the copy whole, tiny and in between (${name})`, async () => {
    const seen = { partialAtLoad: 0, partialLater: 0, answers: 0 };
    await fc.assert(
      fc.asyncProperty(scenarios, async ({ shape, relationships, context }) => {
        const truth = await open();
        const copies: MirroredStore[] = [];
        const limits = [1_000_000, 1, Math.max(1, Math.floor(relationships.length / 3))];
        try {
          await truth.writeSchema(shape.schema);
          // Half before the copies load, the rest after: they must follow, and may let go of sets.
          const half = Math.ceil(relationships.length / 2);
          if (half > 0) await truth.write(touches(relationships.slice(0, half)));
          // Without the push feed: each read catches the copy up itself (no timers left behind).
          // The copies do not close the datastore: it is closed once, below.
          const { subscribe: _feed, ...unfed } = delegateStore(truth);
          const shared: Store = { ...unfed, close: async () => undefined };
          for (const maxRelationships of limits) {
            const copy = createMirroredStore(shared, { maxRelationships });
            expect(await copy.ready()).toBe(true);
            copies.push(copy);
          }
          if (copies[2]!.stats().partial) seen.partialAtLoad++;
          const items = itemsFor(context);
          const compare = async () => {
            const revision = await truth.currentRevision();
            for (const copy of copies) expect(await copy.catchUp(revision)).toBe(true);
            const bare = createEngine({ store: truth, cache: false });
            const want: string[] = [];
            for (const item of items) want.push(await answer(bare, item));
            const truthBulk = await bulkAnswers(bare, items);
            for (const [c, copy] of copies.entries()) {
              const engine = createEngine({ store: copy, cache: false });
              for (const [i, item] of items.entries()) {
                expect(await answer(engine, item), `copy ${c} ${JSON.stringify(item)}`).toBe(want[i]);
              }
              const bulk = await bulkAnswers(engine, items);
              expect(bulk, `bulk, copy ${c}`).toEqual(truthBulk);
            }
            seen.answers += items.length;
          };
          await compare();
          const rest = relationships.slice(half);
          const gone = relationships.slice(0, half).filter((_r, i) => i % 3 === 0);
          if (rest.length + gone.length > 0) {
            await truth.write([
              ...touches(rest),
              ...gone.map((relationship) => ({ operation: "delete" as const, relationship })),
            ]);
            await compare();
            if (copies[2]!.stats().partial) seen.partialLater++;
          }
          for (const [c, copy] of copies.entries()) {
            const { relationships: held, sets } = copy.stats();
            expect(held).toBeLessThanOrEqual(limits[c]!);
            expect(sets.filter((s) => s.mirrored).reduce((n, s) => n + s.relationships, 0)).toBe(held);
          }
        } finally {
          for (const copy of copies) await copy.close().catch(() => undefined);
          await truth.close();
        }
      }),
      propertyRuns(runs),
    );
    // The in-between copy must have been partial, both from its load and after later writes.
    expect(seen.partialAtLoad).toBeGreaterThan(0);
    expect(seen.partialLater).toBeGreaterThan(0);
  }, 600_000);
}

describe("a partial in-memory copy answers like the datastore", () => {
  differential("SQLite", () => createSqliteStore({ path: ":memory:" }), 25);
});

if (PG_URL === undefined) {
  console.info(PG_SKIP_REASON);
  describe.skip(PG_SKIP_REASON, () => {
    it("a partial in-memory copy answers like PostgreSQL", () => undefined);
  });
} else {
  const url = PG_URL;
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());
  describe("a partial in-memory copy answers like the datastore", () => {
    differential(
      "PostgreSQL",
      () => createPostgresStore({ url, schema: schemas.next(), pool: { max: 2 } }),
      5,
    );
  });
}
