import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { latestReader } from "../../src/store/index.js";
import { createSqliteStore, MIGRATIONS } from "../../src/store/sqlite/index.js";
import { compactionCases } from "./conformance/compaction.js";
import { decisions } from "./conformance/decisions.js";
import { SCHEMA } from "./conformance/helpers.js";
import { storeConformance } from "./store.case.js";

const dir = mkdtempSync(join(tmpdir(), "latch-sqlite-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeConformance("sqlite :memory:", () => createSqliteStore({ path: ":memory:" }));
storeConformance("sqlite file", () => createSqliteStore({ path: join(dir, `store-${files++}.db`) }));
storeConformance("sqlite file, every delete by filter and import in the write thread", () =>
  createSqliteStore({ path: join(dir, `store-${files++}.db`), writeThreadRows: 0 }),
);
describe("sqlite file: compaction in the background (its worker thread)", () =>
  compactionCases(() => createSqliteStore({ path: join(dir, `store-${files++}.db`) }), true));

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
    expect(
      (await (await latestReader(second)).readRelationships({ resourceType: "document" })).relationships,
    ).toHaveLength(1);
    await second.close();

    const Database = (await import("better-sqlite3")).default;
    const db = new Database(path, { readonly: true });
    const versions = db.prepare("SELECT version FROM migrations ORDER BY version").pluck().all();
    expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("keeps a decision log written before migration 8 verifiable and queryable by subject", async () => {
    const path = join(dir, "before-8.db");
    const first = await createSqliteStore({ path, decisionCheckpointEvery: 5 });
    await first.decisions.append(decisions(1, 24));
    await first.close();
    // The file as version 7 left it: the subject index present, migration 8 not run.
    const Database = (await import("better-sqlite3")).default;
    const raw = new Database(path);
    raw.exec(
      "CREATE INDEX decisions_subject ON decisions (subject, seq); DELETE FROM migrations WHERE version = 8",
    );
    raw.close();

    const second = await createSqliteStore({ path, decisionCheckpointEvery: 5 });
    await second.decisions.append(decisions(24, 30));
    expect(await second.decisions.verify()).toMatchObject({ ok: true, records: 29 });
    const bySubject = await second.decisions.read({ subject: "user:u1", limit: 100 });
    expect(bySubject.map((d) => d.record.requestId)).toEqual(["req-1", "req-11", "req-16", "req-26"]);
    await second.close();
    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT name FROM sqlite_master WHERE name = 'decisions_subject'").all()).toEqual(
      [],
    );
    after.close();
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
    expect(
      (await (await latestReader(a)).readRelationships({ resourceType: "document" })).relationships,
    ).toHaveLength(20);
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

  it("deletes many relationships in its write thread, one transaction, with writes after it", async () => {
    const threads: number[] = [];
    const store = await createSqliteStore({
      path: join(dir, `store-${files++}.db`),
      onWriteThreadRun: (id) => threads.push(id),
    });
    await store.writeSchema(SCHEMA);
    const viewer = (i: number) => ({
      resource: { type: "document", id: `d${i}` },
      relation: "viewer",
      subject: { type: "user", id: "u" },
    });
    await store.importRelationships(Array.from({ length: 1_500 }, (_, i) => viewer(i)));
    // The import ran in the thread too.
    expect(threads).toHaveLength(1);
    threads.length = 0;
    const owner = {
      resource: { type: "document", id: "d0" },
      relation: "owner",
      subject: { type: "user", id: "o" },
    };
    // Refused in the thread: the error keeps its code and kind, and nothing is deleted.
    const before = await store.currentRevision();
    await expect(
      store.deleteRelationships(
        { resourceType: "document", relation: "viewer" },
        {
          preconditions: [
            { operation: "must-match", filter: { resourceType: "document", relation: "owner" } },
          ],
        },
      ),
    ).rejects.toMatchObject({
      name: "StoreError",
      code: "write/precondition-failed",
      kind: "failed-precondition",
    });
    await expect(
      store.deleteRelationships({ resourceType: "document" }, { limit: 1_200, failOverLimit: true }),
    ).rejects.toMatchObject({ name: "StoreError", code: "delete/over-limit", kind: "invalid-argument" });
    expect(await store.currentRevision()).toBe(before);
    expect(threads).toEqual([]);

    // A write sent while the delete runs waits for it: its revision comes after the delete's.
    const deleting = store.deleteRelationships(
      { resourceType: "document", relation: "viewer" },
      { metadata: { reason: "cleanup" } },
    );
    const writing = store.write([{ operation: "touch", relationship: owner }]);
    // So does a security signal recorded through the same store (its own tables, the same lock).
    const signalled = store.signals.record(
      {
        issuer: "https://idp.example.com",
        jti: "j1",
        receivedAt: Date.now(),
        via: "api",
        events: ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"],
        effects: [],
      },
      [{ kind: "suspend", subject: "user:u", reason: "session revoked" }],
    );
    const [deleted, written, signal] = await Promise.all([deleting, writing, signalled]);
    expect(deleted.deleted).toBe(1_500);
    expect(deleted.revision).toBe(before + 1n);
    expect(written).toBe(before + 2n);
    expect(signal).toBe(before + 3n);
    expect(threads).toHaveLength(1);
    expect(threads[0]).not.toBe(threadId);
    const page = await store.changesSince(before, 1_000, 0);
    expect(page.metadata).toBeUndefined();
    const all = await store.changesSince(before);
    expect(all.metadata).toEqual([{ revision: deleted.revision, metadata: { reason: "cleanup" } }]);
    const left = await store.at(written).readRelationships({ resourceType: "document" });
    expect(left.relationships).toMatchObject([owner]);

    // A small delete stays on this thread.
    await store.deleteRelationships({ resourceType: "document", resourceId: "d0" });
    expect(threads).toHaveLength(1);
    await store.close();
  });

  it("imports many relationships in its write thread, all or nothing, with writes after it", async () => {
    const threads: number[] = [];
    const store = await createSqliteStore({
      path: join(dir, `store-${files++}.db`),
      onWriteThreadRun: (id) => threads.push(id),
    });
    await store.writeSchema(SCHEMA);
    const viewer = (i: number, relation = "viewer") => ({
      resource: { type: "document", id: `d${i}` },
      relation,
      subject: { type: "user", id: "u" },
    });
    const owner = {
      resource: { type: "document", id: "d0" },
      relation: "owner",
      subject: { type: "user", id: "o" },
    };
    const start = await store.currentRevision();
    // Into the empty store (the bulk loader, in the thread), one revision per batch.
    const loaded = await store.importRelationships(
      Array.from({ length: 4_500 }, (_, i) => viewer(i)),
      { batchSize: 2_000 },
    );
    expect(loaded).toEqual({ revision: start + 3n, count: 4_500 });
    expect(threads).toHaveLength(1);
    expect(threads[0]).not.toBe(threadId);

    // A bad relationship in a later chunk: the thread rolls back what it had inserted.
    const bad = Array.from({ length: 5_000 }, (_, i) => viewer(10_000 + i, i === 4_800 ? "nope" : "viewer"));
    await expect(store.importRelationships(bad)).rejects.toMatchObject({
      code: "relationship/unknown-relation",
    });
    // CREATE refuses one that is live already, found by the thread in its third chunk.
    const creates = Array.from({ length: 5_000 }, (_, i) => viewer(4_499 - i));
    await expect(store.importRelationships(creates, { createOnly: true })).rejects.toMatchObject({
      name: "StoreError",
      code: "relationship/already-exists",
      kind: "already-exists",
    });
    expect(await store.currentRevision()).toBe(loaded.revision);
    expect((await store.changesSince(loaded.revision)).changes).toEqual([]);

    // Into a store with rows, replacing some (TOUCH), while a write waits for it.
    const touching = store.importRelationships(Array.from({ length: 3_000 }, (_, i) => viewer(3_000 + i)));
    const writing = store.write([{ operation: "touch", relationship: owner }]);
    const [touched, written] = await Promise.all([touching, writing]);
    expect(touched).toEqual({ revision: loaded.revision + 1n, count: 3_000 });
    expect(written).toBe(loaded.revision + 2n);
    const read = await store.at(written).readRelationships({ resourceType: "document", relation: "viewer" });
    expect(read.relationships).toHaveLength(6_000);
    const changes = await store.changesSince(loaded.revision, 5_000);
    expect(changes.changes).toHaveLength(3_000);
    expect(threads).toHaveLength(2);

    // A schema written while a stream was read: its rows were validated against the one before.
    for (const size of [10, 1_500]) {
      async function* changing() {
        for (let i = 0; i < size; i++) {
          if (i === size / 2) await store.writeSchema(`${SCHEMA}\n// changed ${size}`);
          yield viewer(30_000 + i);
        }
      }
      const at = await store.currentRevision();
      await expect(store.importRelationships(changing())).rejects.toMatchObject({
        code: "schema/changed",
        kind: "failed-precondition",
      });
      expect((await store.changesSince(at)).changes).toEqual([]);
    }

    // A CREATE load of new relationships goes in as one revision.
    const beforeCreate = await store.currentRevision();
    const created = await store.importRelationships(
      Array.from({ length: 2_500 }, (_, i) => viewer(20_000 + i)),
      { createOnly: true },
    );
    expect(created).toEqual({ revision: beforeCreate + 1n, count: 2_500 });
    expect(threads).toHaveLength(3);
    await store.close();
  });

  it("reads a revision larger than a page in slices when asked, and whole when not", async () => {
    const store = await createSqliteStore({ path: ":memory:", changesPageSize: 1_000 });
    await store.writeSchema(SCHEMA);
    const viewers = Array.from({ length: 2_500 }, (_, i) => ({
      resource: { type: "document", id: `d${String(i).padStart(4, "0")}` },
      relation: "viewer",
      subject: { type: "user", id: "u" },
    }));
    await store.importRelationships(viewers);
    const before = await store.currentRevision();
    const { revision } = await store.deleteRelationships({ resourceType: "document" });
    const sizes: number[] = [];
    const ids: string[] = [];
    let within = 0;
    for (;;) {
      const page = await store.changesSince(before, undefined, within);
      sizes.push(page.changes.length);
      ids.push(...page.changes.map((c) => c.relationship.resource.id));
      if (page.within === undefined) {
        expect(page.revision).toBe(revision);
        break;
      }
      expect(page.revision).toBe(before);
      within = page.within;
    }
    expect(sizes).toEqual([1_000, 1_000, 500]);
    expect(ids).toEqual(viewers.map((v) => v.resource.id));
    // Without `within`, as before: the whole revision in a page of its own.
    expect((await store.changesSince(before)).changes).toHaveLength(2_500);
    await store.close();
  });

  it("bulk-loads an empty store in one transaction and rebuilds the reverse index", async () => {
    const path = join(dir, "bulk.db");
    const store = await createSqliteStore({ path });
    await store.writeSchema(SCHEMA);
    const rel = (i: number) => ({
      resource: { type: "document", id: `d${i}` },
      relation: "viewer",
      subject: { type: "user", id: `u${i % 10}` },
    });
    const bad = {
      resource: { type: "document", id: "x" },
      relation: "view",
      subject: { type: "user", id: "u" },
    };
    const before = await store.currentRevision();
    await expect(store.importRelationships([rel(1), rel(2), bad])).rejects.toMatchObject({
      code: "relationship/not-a-relation",
    });
    expect(await store.currentRevision()).toBe(before);

    const input = Array.from({ length: 1_000 }, (_, i) => rel(i));
    const result = await store.importRelationships([...input, rel(5)], { batchSize: 300 });
    expect(result.count).toBe(1_001);
    expect(result.revision).toBe(before + 4n);
    const reverse = await store.at(result.revision).lookupReverse({
      resourceType: "document",
      relations: ["viewer"],
      subjectType: "user",
      subjectIds: ["u3"],
      subjectRelation: "",
    });
    expect(reverse).toHaveLength(100);
    const feed = await store.changesSince(before, 400);
    expect(feed.changes).toHaveLength(300);
    expect(feed.revision).toBe(before + 1n);
    await store.close();

    const Database = (await import("better-sqlite3")).default;
    const db = new Database(path, { readonly: true });
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").pluck().all();
    expect(indexes).toContain("relationships_reverse");
    db.close();
  });
});
