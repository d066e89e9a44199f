/**
 * Conformance: history compaction (store/history.ts). Revisions are split in time by short sleeps
 * so that a window can put some of them outside and the rest inside; the clock passed to the
 * compaction is the split point, so no assertion depends on how long anything took.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { Revision } from "../../../src/core/index.js";
import type { ChangesPage, CompactionOptions, Store } from "../../../src/store/index.js";
import { create, exportAll, rejection, remove, SCHEMA, type StoreFactory, sleep, touch } from "./helpers.js";

const SCHEMA_2 = `${SCHEMA}\ndefinition team {}\n`;

interface Timeline {
  /** Revisions written before the split (outside a window ending there). */
  readonly old: Revision[];
  /** Revisions written after it. */
  readonly recent: Revision[];
  /** A clock reading between the two groups. */
  readonly split: number;
}

/** Touches and deletes of the same few relationships, a schema change on each side of the split. */
async function writeTimeline(store: Store): Promise<Timeline> {
  const old: Revision[] = [await store.writeSchema(SCHEMA)];
  for (let i = 0; i < 4; i++) {
    old.push(await store.write([touch(`document:a#viewer@user:u${i}`), touch("document:b#owner@user:x")]));
    old.push(await store.write([remove(`document:a#viewer@user:u${i}`)]));
  }
  old.push(await store.write([create("document:keep#viewer@user:alice")]));
  old.push(await store.writeSchema(SCHEMA_2));
  await sleep(30);
  const split = Date.now();
  await sleep(30);
  const recent: Revision[] = [];
  recent.push(
    await store.write([touch("document:b#viewer@user:x[only_on]"), touch("document:a#viewer@user:u9")]),
  );
  recent.push(await store.write([remove("document:a#viewer@user:u9")]));
  recent.push(await store.writeSchema(SCHEMA));
  recent.push((await store.deleteRelationships({ resourceType: "document", resourceId: "b" })).revision);
  return { old, recent, split };
}

async function snapshot(store: Store, revisions: readonly Revision[]) {
  const out: unknown[] = [];
  for (const r of revisions) {
    const reader = store.at(r);
    out.push({
      revision: r.toString(),
      all: await exportAll(store, r),
      schema: (await reader.readSchema())?.text,
      forward: (
        await reader.lookupForward({
          resourceType: "document",
          resourceIds: ["a", "b", "keep"],
          relations: ["viewer", "owner"],
        })
      ).length,
    });
  }
  return out;
}

async function allChanges(store: Store, after: Revision): Promise<ChangesPage[]> {
  const pages: ChangesPage[] = [];
  const end = await store.currentRevision();
  let at = after;
  while (at < end) {
    const page = await store.changesSince(at);
    pages.push(page);
    at = page.revision;
  }
  return pages;
}

/** `background`: every run that changes something asks for the background path (a SQLite file's thread). */
export function compactionCases(factory: StoreFactory, background = false): void {
  let store: Store;
  beforeEach(async () => {
    store = await factory();
    const compact = store.compactHistory?.bind(store);
    if (background && compact !== undefined) {
      store.compactHistory = (o: CompactionOptions = {}) =>
        compact(o.dryRun ? o : { ...o, background: true });
    }
  });
  afterEach(async () => {
    await store.close();
  });

  it("keeps every answer at revisions inside the window and refuses those before it", async () => {
    const { old, recent, split } = await writeTimeline(store);
    const horizon = old[old.length - 1]!;
    const inside = [horizon, ...recent];
    const before = await snapshot(store, inside);
    const feedBefore = await allChanges(store, horizon);

    const oldState = await exportAll(store, old[1]);
    const dry = await store.compactHistory!({
      windowMs: 1_000,
      now: split + 1_000,
      graceMs: 0,
      dryRun: true,
    });
    expect(dry.dryRun).toBe(true);
    expect(dry.relationshipVersions).toBeGreaterThan(0);
    // The dry run changed nothing: the old revision still reads, and reads the same.
    expect(await exportAll(store, old[1])).toEqual(oldState);

    const report = await store.compactHistory!({
      windowMs: 1_000,
      now: split + 1_000,
      graceMs: 0,
      batchSize: 2,
    });
    expect(report.horizon).toBe(horizon);
    expect(report.applied).toBe(horizon);
    expect(report.pending).toBeUndefined();
    expect(report.relationshipVersions).toBe(dry.relationshipVersions);
    expect(report.schemas).toBe(dry.schemas);
    expect(report.revisions).toBe(dry.revisions);
    expect(report.schemas).toBe(1);

    expect(await snapshot(store, inside)).toEqual(before);
    expect(await allChanges(store, horizon)).toEqual(feedBefore);
    expect((await store.historyHorizon!())?.revision).toBe(horizon);

    const refused = await rejection(store.at(old[2]!).readRelationships({ resourceType: "document" }));
    expect(refused.code).toBe("revision/compacted");
    expect(refused.kind).toBe("failed-precondition");
    expect(refused.message).toContain("GC window (1s)");
    expect((await rejection(store.changesSince(old[2]!))).code).toBe("revision/compacted");
    expect((await rejection(exportAll(store, horizon - 1n))).code).toBe("revision/compacted");

    // A second run with nothing new to remove removes nothing and loses nothing.
    const again = await store.compactHistory!({ windowMs: 1_000, now: split + 1_000, graceMs: 0 });
    expect(again.relationshipVersions + again.changes + again.schemas + again.revisions).toBe(0);
    expect(await snapshot(store, inside)).toEqual(before);
  });

  it("publishes a horizon first and deletes below it only after the grace period", async () => {
    const { old, split } = await writeTimeline(store);
    const horizon = old[old.length - 1]!;
    const first = await store.compactHistory!({ windowMs: 0, now: split, graceMs: 60_000 });
    expect(first.horizon).toBe(horizon);
    expect(first.pending).toBe(horizon);
    expect(first.relationshipVersions).toBe(0);
    // Refused at once, though nothing is deleted yet.
    expect((await rejection(store.changesSince(old[0]!))).code).toBe("revision/compacted");
    const early = await store.compactHistory!({ windowMs: 0, now: split + 30_000, graceMs: 60_000 });
    expect(early.relationshipVersions).toBe(0);
    const late = await store.compactHistory!({ windowMs: 0, now: split + 61_000, graceMs: 60_000 });
    expect(late.applied).toBe(horizon);
    expect(late.relationshipVersions).toBeGreaterThan(0);
    // The run that applied one horizon published the next: everything up to its clock.
    expect(late.horizon).toBe(await store.currentRevision());
    expect(late.pending).toBe(late.horizon);
  });

  it("never moves the horizon past the current revision and keeps the live state", async () => {
    await writeTimeline(store);
    const live = await exportAll(store);
    const report = await store.compactHistory!({ windowMs: 0, now: Date.now() + 60_000, graceMs: 0 });
    const current = await store.currentRevision();
    expect(report.horizon).toBe(current);
    expect(await exportAll(store, current)).toEqual(live);
    expect((await store.at(current).readSchema())?.text).toBe(SCHEMA);
    // Writes go on after a full compaction.
    const next = await store.write([touch("document:c#viewer@user:z")]);
    expect(next).toBe(current + 1n);
    expect((await store.changesSince(current)).changes.length).toBe(1);
  });

  it("refuses bad options with a clear error", async () => {
    const error = await rejection(store.compactHistory!({ windowMs: -1 }));
    expect(error.code).toBe("store/invalid-limit");
    expect(error.message).toContain("window");
  });
}
