/** The change feed's filters and checkpoints, on a real store. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Relationship } from "../../src/core/index.js";
import { relationshipMatches, type WatchBatch, watchChanges } from "../../src/service/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const SCHEMA = `definition user {}
definition group { relation member: user }
definition document {
  relation viewer: user | group#member
  relation owner: user
}`;

const rel = (resource: string, relation: string, subject: string, subjectRelation?: string): Relationship => {
  const [rt, rid] = resource.split(":") as [string, string];
  const [st, sid] = subject.split(":") as [string, string];
  return {
    resource: { type: rt, id: rid },
    relation,
    subject:
      subjectRelation === undefined
        ? { type: st, id: sid }
        : { type: st, id: sid, relation: subjectRelation },
  };
};

let store: Store;
beforeEach(async () => {
  store = await createSqliteStore({ path: ":memory:" });
  await store.writeSchema(SCHEMA);
});
afterEach(() => store.close());

/** Reads batches until one reaches `until`, then stops the feed. */
async function readUntil(feed: (signal: AbortSignal) => AsyncGenerator<WatchBatch>, until: bigint) {
  const controller = new AbortController();
  const out: WatchBatch[] = [];
  for await (const batch of feed(controller.signal)) {
    out.push(batch);
    if (batch.revision >= until) controller.abort();
  }
  return out;
}

describe("relationshipMatches", () => {
  const r = rel("document:report-1", "viewer", "group:eng", "member");
  it("matches each field of a filter, an empty resource type matching every type", () => {
    expect(relationshipMatches(r, { resourceType: "" })).toBe(true);
    expect(relationshipMatches(r, { resourceType: "document", resourceIdPrefix: "report-" })).toBe(true);
    expect(relationshipMatches(r, { resourceType: "document", resourceId: "report-2" })).toBe(false);
    expect(relationshipMatches(r, { resourceType: "group" })).toBe(false);
    expect(relationshipMatches(r, { resourceType: "", relation: "owner" })).toBe(false);
    expect(relationshipMatches(r, { resourceType: "", subject: { type: "group", relation: "member" } })).toBe(
      true,
    );
    expect(relationshipMatches(r, { resourceType: "", subject: { type: "group", relation: "" } })).toBe(
      false,
    );
    expect(relationshipMatches(r, { resourceType: "", subject: { type: "group", id: "ops" } })).toBe(false);
    expect(relationshipMatches(r, { resourceType: "", caveatName: "some_caveat" })).toBe(false);
  });
});

describe("watchChanges", () => {
  it("filters changes and yields a checkpoint at the start and at each newer revision", async () => {
    const start = await store.currentRevision();
    await store.write([
      { operation: "touch", relationship: rel("document:a", "viewer", "user:alice") },
      { operation: "touch", relationship: rel("document:a", "owner", "user:bob") },
    ]);
    const last = await store.write([
      { operation: "touch", relationship: rel("document:b", "owner", "user:carol") },
    ]);
    const batches = await readUntil(
      (signal) =>
        watchChanges(store, {
          after: start,
          filter: (r) => relationshipMatches(r, { resourceType: "document", relation: "viewer" }),
          checkpoints: true,
          signal,
          pollMs: 5,
        }),
      last,
    );
    const changes = batches.filter((b) => !b.checkpoint);
    expect(
      changes.map((b) => b.changes.map((c) => `${c.relationship.resource.id}#${c.relationship.relation}`)),
    ).toEqual([["a#viewer"]]);
    // The second write's changes were all filtered out: only the checkpoint says the feed got there.
    const checkpoints = batches.filter((b) => b.checkpoint === true);
    expect(checkpoints.at(-1)?.revision).toBe(last);
    expect(checkpoints.every((b) => b.changes.length === 0)).toBe(true);
  });

  it("yields a revision the store reads in slices as one batch, whole and in order", async () => {
    const start = await store.currentRevision();
    const ids = Array.from({ length: 25 }, (_, i) => `d${String(i).padStart(2, "0")}`);
    await store.write(
      ids.map((id) => ({ operation: "touch", relationship: rel(`document:${id}`, "viewer", "user:u") })),
    );
    const { revision } = await store.deleteRelationships({ resourceType: "document" });
    // A page of 10: the store (SQLite) returns the 25 deletes of `revision` in three slices.
    const sliced = await store.changesSince(revision - 1n, 10, 0);
    expect(sliced.within).toBeDefined();
    const batches = await readUntil(
      (signal) => watchChanges(store, { after: start, pageSize: 10, signal, pollMs: 5 }),
      revision,
    );
    expect(batches.map((b) => b.revision)).toEqual([revision - 1n, revision]);
    const deleted = batches[1]!.changes;
    expect(deleted.every((c) => c.operation === "delete" && c.revision === revision)).toBe(true);
    expect(deleted.map((c) => c.relationship.resource.id)).toEqual(ids);
  });
});
