import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSqliteStore, MIGRATIONS } from "../../src/store/sqlite/index.js";
import { SCHEMA } from "./conformance/helpers.js";
import { storeConformance } from "./store.case.js";

const dir = mkdtempSync(join(tmpdir(), "latch-sqlite-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeConformance("sqlite :memory:", () => createSqliteStore({ path: ":memory:" }));
storeConformance("sqlite file", () => createSqliteStore({ path: join(dir, `store-${files++}.db`) }));

describe("sqlite file store", () => {
  it("keeps its identity, schema and relationships across reopen, with migrations recorded", async () => {
    const path = join(dir, "reopen.db");
    const first = await createSqliteStore({ path });
    await first.writeSchema(SCHEMA);
    const revision = await first.write([
      {
        operation: "create",
        relationship: {
          resource: { type: "document", id: "a" },
          relation: "owner",
          subject: { type: "user", id: "alice" },
        },
      },
    ]);
    const token = first.encodeRevision(revision);
    await first.close();

    const second = await createSqliteStore({ path });
    expect(second.storeId).toBe(first.storeId);
    expect(second.decodeRevision(token)).toBe(revision);
    expect(await second.currentRevision()).toBe(revision);
    expect((await second.readRelationships({ resourceType: "document" })).relationships).toHaveLength(1);
    await second.close();

    const Database = (await import("better-sqlite3")).default;
    const db = new Database(path, { readonly: true });
    const versions = db.prepare("SELECT version FROM migrations ORDER BY version").pluck().all();
    expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("serializes two connections writing one file", async () => {
    const path = join(dir, "two.db");
    const a = await createSqliteStore({ path });
    const b = await createSqliteStore({ path });
    expect(b.storeId).toBe(a.storeId);
    await a.writeSchema(SCHEMA);
    const revisions: bigint[] = [];
    for (let i = 0; i < 20; i++) {
      const store = i % 2 === 0 ? a : b;
      revisions.push(
        await store.write([
          {
            operation: "create",
            relationship: {
              resource: { type: "document", id: `d${i}` },
              relation: "owner",
              subject: { type: "user", id: "u" },
            },
          },
        ]),
      );
    }
    expect(new Set(revisions).size).toBe(20);
    expect([...revisions].sort((x, y) => (x < y ? -1 : 1))).toEqual(revisions);
    expect((await a.readRelationships({ resourceType: "document" })).relationships).toHaveLength(20);
    await a.close();
    await b.close();
  });

  it("announces commits to subscribers, including commits by another connection", async () => {
    const path = join(dir, "subscribe.db");
    const a = await createSqliteStore({ path, subscribePollMs: 20 });
    const b = await createSqliteStore({ path });
    const seen: bigint[] = [];
    const unsubscribe = a.subscribe!((revision) => seen.push(revision));
    const local = await a.writeSchema(SCHEMA);
    expect(seen).toEqual([local]);
    const remote = await b.write([
      {
        operation: "create",
        relationship: {
          resource: { type: "document", id: "x" },
          relation: "owner",
          subject: { type: "user", id: "u" },
        },
      },
    ]);
    for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((done) => setTimeout(done, 20));
    expect(seen).toEqual([local, remote]);
    unsubscribe();
    await a.close();
    await b.close();
  });
});
