/**
 * The bulk load (an empty store, one transaction) must leave exactly what the batched import would:
 * the same relationships at every revision of the load, including keys repeated within a batch and
 * across batches, and the same changes feed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { Relationship } from "../../src/core/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { exportAll, fmt, readAll, rel, SCHEMA } from "./conformance/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "latch-bulk-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `writeThreadRows: 0` sends every import to the write thread. */
async function openStore(writeThreadRows?: number): Promise<Store> {
  const store = await createSqliteStore({
    path: join(dir, `bulk-${files++}.db`),
    ...(writeThreadRows === undefined ? {} : { writeThreadRows }),
  });
  await store.writeSchema(SCHEMA);
  return store;
}

/** Few keys, several versions each, so loads repeat keys within and across batches. */
const relationship = fc
  .record({ doc: fc.integer({ min: 0, max: 5 }), user: fc.integer({ min: 0, max: 3 }), shape: fc.nat(4) })
  .map(({ doc, user, shape }): Relationship => {
    const base = `document:d${doc}`;
    switch (shape) {
      case 0:
        return rel(`${base}#viewer@user:u${user}`);
      case 1:
        return rel(`${base}#viewer@user:u${user}[only_on:{"day":"tuesday"}]`);
      case 2:
        return rel(`${base}#viewer@user:u${user}[only_on:{"day":"monday"}]`);
      case 3:
        return rel(`${base}#temp@user:u${user}[expiration:2300-01-0${user + 1}T00:00:00Z]`);
      default:
        return rel(`${base}#viewer@group:g${user}#member`);
    }
  });

async function feed(store: Store, after: bigint): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const page = await store.changesSince(after, 1_000);
    for (const change of page.changes)
      out.push(`${change.revision - after} ${change.operation} ${fmt(change.relationship)}`);
    if (page.revision === after) return out;
    after = page.revision;
  }
}

describe("sqlite bulk load", () => {
  it("matches the batched import at every revision, duplicates included, in the write thread or not", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(relationship, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        fc.boolean(),
        async (input, batchSize, inThread) => {
          const bulk = await openStore(inThread ? 0 : undefined);
          const batched = await openStore();
          // One relationship first sends the second store down the batched path.
          await batched.write([{ operation: "touch", relationship: rel("folder:f#viewer@user:x") }]);
          const bulkStart = await bulk.currentRevision();
          const batchedStart = await batched.currentRevision();
          const a = await bulk.importRelationships(input, { batchSize });
          const b = await batched.importRelationships(input, { batchSize });
          expect(a.count).toBe(input.length);
          expect(a.revision - bulkStart).toBe(b.revision - batchedStart);
          for (let k = 1n; k <= a.revision - bulkStart; k++) {
            expect(await readAll(bulk, { resourceType: "document" }, bulkStart + k)).toEqual(
              await readAll(batched, { resourceType: "document" }, batchedStart + k),
            );
          }
          expect(await feed(bulk, bulkStart)).toEqual(await feed(batched, batchedStart));
          for (const user of ["u0", "u1", "g0"]) {
            const reverse = async (store: Store, revision: bigint) =>
              (
                await store.at(revision).lookupReverse({
                  resourceType: "document",
                  relations: ["viewer", "temp"],
                  subjectType: user.startsWith("g") ? "group" : "user",
                  subjectIds: [user],
                  subjectRelation: user.startsWith("g") ? "member" : "",
                })
              )
                .map(fmt)
                .sort();
            expect(await reverse(bulk, a.revision)).toEqual(await reverse(batched, b.revision));
          }
          await bulk.close();
          await batched.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it("lists every relationship of the load in the changes feed, repeated ones each time", async () => {
    const store = await openStore();
    const start = await store.currentRevision();
    const input = [
      rel("document:a#viewer@user:u1"),
      rel('document:a#viewer@user:u1[only_on:{"day":"tuesday"}]'),
      rel("document:b#viewer@user:u1"),
      rel("document:a#viewer@user:u1"),
    ];
    const result = await store.importRelationships(input, { batchSize: 2 });
    expect(result.revision).toBe(start + 2n);
    expect(await feed(store, start)).toEqual([
      "1 touch document:a#viewer@user:u1",
      '1 touch document:a#viewer@user:u1[only_on:{"day":"tuesday"}]',
      "2 touch document:b#viewer@user:u1",
      "2 touch document:a#viewer@user:u1",
    ]);
    expect(await readAll(store, { resourceType: "document" }, start + 1n)).toEqual([
      'document:a#viewer@user:u1[only_on:{"day":"tuesday"}]',
    ]);
    expect(await exportAll(store)).toEqual(["document:a#viewer@user:u1", "document:b#viewer@user:u1"]);
    await store.close();
  });

  it("rolls the whole load back when a later batch holds a bad relationship, and loads afterwards", async () => {
    const store = await openStore();
    const start = await store.currentRevision();
    const good = Array.from({ length: 20 }, (_, i) => rel(`document:d${i}#viewer@user:u${i % 3}`));
    await expect(
      store.importRelationships([...good, rel("document:x#view@user:u1")], { batchSize: 5 }),
    ).rejects.toMatchObject({ code: "relationship/not-a-relation" });
    expect(await store.currentRevision()).toBe(start);
    expect(await exportAll(store)).toEqual([]);
    expect((await store.changesSince(start)).changes).toEqual([]);

    const result = await store.importRelationships(good, { batchSize: 5 });
    expect(result.revision).toBe(start + 4n);
    const reverse = await store.at(result.revision).lookupReverse({
      resourceType: "document",
      relations: ["viewer"],
      subjectType: "user",
      subjectIds: ["u1"],
      subjectRelation: "",
    });
    expect(reverse).toHaveLength(7);
    await store.close();
  });
});
