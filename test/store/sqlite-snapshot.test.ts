import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Relationship } from "../../src/core/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { SCHEMA } from "./conformance/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "latch-snapshot-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const owner = (doc: string, user: string): Relationship => ({
  resource: { type: "document", id: doc },
  relation: "owner",
  subject: { type: "user", id: user },
});

// Lookups on a file share one read transaction within a turn of the event loop; these run
// without yielding to it, so they read through the same snapshot unless it is renewed.
describe("sqlite file store lookups within one turn of the event loop", () => {
  it("see a write made by this store after an earlier lookup", async () => {
    const store = await createSqliteStore({ path: join(dir, "same.db") });
    try {
      await store.writeSchema(SCHEMA);
      const r1 = await store.write([{ operation: "create", relationship: owner("a", "alice") }]);
      const query = { resourceType: "document", resourceIds: ["a"], relations: ["owner"] };
      expect((await store.at(r1).lookupForward(query)).map((r) => r.subject.id)).toEqual(["alice"]);
      const r2 = await store.write([{ operation: "create", relationship: owner("a", "bob") }]);
      const ids = (await store.at(r2).lookupForward(query)).map((r) => r.subject.id).sort();
      expect(ids).toEqual(["alice", "bob"]);
      // An older revision still reads as it was.
      expect((await store.at(r1).lookupForward(query)).map((r) => r.subject.id)).toEqual(["alice"]);
      const reverse = await store.at(r2).lookupReverse({
        resourceType: "document",
        relations: ["owner"],
        subjectType: "user",
        subjectIds: ["bob"],
        subjectRelation: "...",
      });
      expect(reverse.map((r) => r.resource.id)).toEqual(["a"]);
    } finally {
      await store.close();
    }
  });

  it("see a write made through another connection to the same file", async () => {
    const path = join(dir, "other.db");
    const reader = await createSqliteStore({ path });
    const writer = await createSqliteStore({ path });
    try {
      await writer.writeSchema(SCHEMA);
      const r1 = await writer.write([{ operation: "create", relationship: owner("a", "alice") }]);
      const query = { resourceType: "document", resourceIds: ["a"], relations: ["owner"] };
      expect(await reader.at(r1).lookupForward(query)).toHaveLength(1);
      const r2 = await writer.write([{ operation: "delete", relationship: owner("a", "alice") }]);
      expect(await reader.currentRevision()).toBe(r2);
      expect(await reader.at(r2).lookupForward(query)).toHaveLength(0);
      expect(await reader.at(r1).lookupForward(query)).toHaveLength(1);
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});

describe("sqlite file store WAL under interleaved lookups and writes", () => {
  it("stays near the autocheckpoint size when every write follows a lookup in the same turn", async () => {
    const path = join(dir, "wal.db");
    const store = await createSqliteStore({ path });
    try {
      await store.writeSchema(SCHEMA);
      const query = { resourceType: "document", resourceIds: ["d0"], relations: ["owner"] };
      // A checkpoint cannot copy the WAL past a snapshot a reader holds, and a WAL never wholly
      // copied is never restarted: a snapshot held across every commit would grow it by each write.
      for (let i = 0; i < 1_500; i++) {
        const revision = await store.currentRevision();
        await store.at(revision).lookupForward(query);
        await store.write(
          Array.from({ length: 20 }, (_, j) => ({
            operation: "touch" as const,
            relationship: owner(`d${(i * 20 + j) % 2_000}`, `u${i}`),
          })),
        );
      }
      // SQLite's autocheckpoint starts at 1,000 pages of 4 KiB; a restarted WAL stays near that.
      expect(statSync(`${path}-wal`).size).toBeLessThan(8 * 2 ** 20);
    } finally {
      await store.close();
    }
  });
});
