/**
 * Reads that outlive a compaction: a stream at an old revision (an export, a LookupResources)
 * whose consumer pauses while a horizon past its revision is published and applied must fail with
 * `revision/compacted`, never finish short from half-compacted history; and so must every later
 * read of a reader pinned to that revision (the horizon is checked per read, not once per stream).
 * Compaction runs with a zero grace and a clock moved past every revision, so nothing here waits.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isLatchError, parseRelationship, type Revision } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { cachedHorizon, type HistoryHorizon, type Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";

const SCHEMA = `definition user {}
definition group {
  relation member: user | group#member
}
definition document {
  relation viewer: user | group#member
  permission view = viewer
}`;
/** More rows than one export page of either backend (SQLite 1,000, PostgreSQL 5,000). */
const ROWS = 6_000;

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });

/** Publishes and applies a horizon past every revision now, at once (zero grace, clock ahead). */
async function compactEverything(store: Store): Promise<void> {
  const report = await store.compactHistory!({ windowMs: 0, graceMs: 0, now: Date.now() + 60_000 });
  expect(report.applied).toBe(report.horizon);
  expect(report.relationshipVersions).toBeGreaterThan(0);
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return "answered";
  } catch (error) {
    if (isLatchError(error)) return `${error.code} (${error.kind})`;
    throw error;
  }
}

const COMPACTED = "revision/compacted (failed-precondition)";

/** ROWS documents visible to user:u at the returned revision, all deleted at the next one. */
async function fillThenDelete(store: Store): Promise<Revision> {
  await store.writeSchema(SCHEMA);
  const rels = Array.from({ length: ROWS }, (_, i) =>
    parseRelationship(`document:d${String(i).padStart(5, "0")}#viewer@user:u`),
  );
  const { revision } = await store.importRelationships(rels);
  await store.deleteRelationships({ resourceType: "document" });
  return revision;
}

function cases(open: () => Promise<Store>): void {
  it("an export paused past a compaction fails as compacted instead of ending short", async () => {
    const store = await open();
    try {
      const r0 = await fillThenDelete(store);
      const rows = store.at(r0).exportRelationships()[Symbol.asyncIterator]();
      let got = 0;
      for (; got < 10; got++) expect((await rows.next()).done).toBe(false);
      await compactEverything(store);
      const rest = (async () => {
        for (let n = await rows.next(); n.done !== true; n = await rows.next()) got++;
      })();
      expect(await codeOf(rest)).toBe(COMPACTED);
      expect(got).toBeLessThan(ROWS);
    } finally {
      await store.close();
    }
  });

  it("a reader pinned before a compaction refuses every later read at its revision", async () => {
    const store = await open();
    try {
      const r0 = await fillThenDelete(store);
      const reader = store.at(r0);
      // Answered before the compaction...
      expect(
        (await reader.readRelationships({ resourceType: "document" }, { limit: 1 })).relationships,
      ).toHaveLength(1);
      await compactEverything(store);
      // ...refused after it, whichever read it is.
      expect(await codeOf(reader.readRelationships({ resourceType: "document" }, { limit: 1 }))).toBe(
        COMPACTED,
      );
      expect(
        await codeOf(
          reader.lookupForward({ resourceType: "document", resourceIds: ["d00001"], relations: ["viewer"] }),
        ),
      ).toBe(COMPACTED);
      expect(
        await codeOf(
          reader.lookupReverse({
            resourceType: "document",
            relations: ["viewer"],
            subjectType: "user",
            subjectIds: ["u"],
            subjectRelation: "",
          }),
        ),
      ).toBe(COMPACTED);
      // The revision the horizon keeps still answers.
      const now = await store.currentRevision();
      expect((await store.at(now).readRelationships({ resourceType: "document" })).relationships).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("a LookupResources stream paused past a compaction fails as compacted instead of losing results", async () => {
    const store = await open();
    try {
      await store.writeSchema(SCHEMA);
      // Level 1 reaches `direct`; later levels reach the others through nested groups.
      const rels = [
        "document:direct#viewer@user:u",
        "group:g1#member@user:u",
        "group:g2#member@group:g1#member",
        "document:via1#viewer@group:g1#member",
        "document:via2#viewer@group:g2#member",
      ].map(touch);
      const r0 = await store.write(rels);
      await store.write(rels.slice(1).map((u) => ({ ...u, operation: "delete" as const })));
      const engine = createEngine({ store, cache: false, quantizationMs: 0 });
      const results = engine
        .lookupResources({
          resourceType: "document",
          permission: "view",
          subject: { type: "user", id: "u" },
          consistency: { kind: "at-exact-snapshot", token: store.encodeRevision(r0) },
        })
        [Symbol.asyncIterator]();
      const first = await results.next();
      expect(first.value?.resourceId).toBe("direct");
      await compactEverything(store);
      expect(await codeOf(results.next())).toBe(COMPACTED);
    } finally {
      await store.close();
    }
  });
}

describe("reads that outlive a compaction (SQLite file)", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-long-reads-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  cases(() => createSqliteStore({ path: join(dir, `store-${n++}.db`) }));
});

if (PG_URL === undefined) {
  describe.skip(PG_SKIP_REASON, () => {
    it("reads that outlive a compaction (PostgreSQL)", () => undefined);
  });
} else {
  const url = PG_URL;
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());
  describe("reads that outlive a compaction (PostgreSQL)", () => {
    cases(() => createPostgresStore({ url, schema: schemas.next(), pool: { max: 4 } }));
  });
}

describe("cachedHorizon and a compaction during its read", () => {
  it("does not keep as fresh a horizon read before invalidate(), nor hand it to later callers", async () => {
    let stored: HistoryHorizon | undefined;
    const pending: Array<(h: HistoryHorizon | undefined) => void> = [];
    // Each read answers the state it saw when it began, whenever the test lets it finish.
    const horizon = cachedHorizon(() => {
      const seen = stored;
      return new Promise((resolve) => pending.push(() => resolve(seen)));
    });
    const early = horizon.get();
    // A compaction publishes while that read is out, then drops the cache.
    stored = { revision: 7n, windowMs: 0 };
    horizon.invalidate();
    const late = horizon.get();
    expect(pending).toHaveLength(2); // the later caller did not join the stale read
    pending[0]!(undefined);
    expect(await early).toBeUndefined();
    expect(horizon.fresh()).toBeUndefined(); // the stale answer was not cached
    pending[1]!(undefined);
    expect(await late).toEqual(stored);
    expect(horizon.fresh()).toEqual(stored);
  });
});
