/**
 * A revision token ahead of this replica (written through another replica, not yet seen here)
 * is waited for, not refused: two store instances on one datastore (SQLite: one file; PostgreSQL:
 * one schema), the token's write made through one while a check through the other is waiting.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Revision } from "../../src/core/index.js";
import { parseRelationship } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { readRevision } from "../../src/service/index.js";
import { delegateStore, type Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "../store/fixtures/pg-setup.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}
`;

const dir = mkdtempSync(join(tmpdir(), "latch-token-ahead-"));
const schemas = new SchemaTracker();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await schemas.dropAll();
});

/** The store, and a promise of the first revision it reports (the moment a request has looked). */
function watched(store: Store): { store: Store; firstLook: Promise<Revision> } {
  let seen!: (revision: Revision) => void;
  const firstLook = new Promise<Revision>((resolve) => {
    seen = resolve;
  });
  return {
    store: {
      ...delegateStore(store),
      async currentRevision() {
        const revision = await store.currentRevision();
        seen(revision);
        return revision;
      },
    },
    firstLook,
  };
}

type Pair = { readonly a: Store; readonly b: Store; close(): Promise<void> };

const backends: { name: string; skip: string | undefined; open: () => Promise<Pair> }[] = [
  {
    name: "SQLite, two instances on one file",
    skip: undefined,
    async open() {
      const path = join(dir, `${Math.random().toString(36).slice(2)}.db`);
      const a = await createSqliteStore({ path });
      const b = await createSqliteStore({ path });
      return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
  },
  {
    name: "PostgreSQL, two instances on one schema",
    skip: PG_URL === undefined ? PG_SKIP_REASON : undefined,
    async open() {
      const schema = schemas.next();
      const a = await createPostgresStore({ url: PG_URL!, schema });
      const b = await createPostgresStore({ url: PG_URL!, schema });
      return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
  },
];

for (const backend of backends) {
  if (backend.skip !== undefined) console.info(backend.skip);
  describe.skipIf(backend.skip !== undefined)(`a token ahead of this replica: ${backend.name}`, () => {
    it("a check waits for the write its token stands for, then sees it", async () => {
      const { a, b: rawB, close } = await backend.open();
      try {
        await a.writeSchema(SCHEMA);
        const { store: b, firstLook } = watched(rawB);
        const engine = createEngine({ store: b });
        // The revision A's next write gets: its token is what A's client will hand to B.
        const next = (await a.currentRevision()) + 1n;
        const token = a.encodeRevision(next);
        const checking = engine.check({
          resource: { type: "document", id: "d" },
          permission: "view",
          subject: { type: "user", id: "u" },
          consistency: { kind: "at-least-as-fresh", token },
        });
        // B has looked and not found the revision: the token is ahead of it.
        expect(await firstLook).toBeLessThan(next);
        const written = await a.write([
          { operation: "touch", relationship: parseRelationship("document:d#viewer@user:u") },
        ]);
        expect(a.encodeRevision(written)).toBe(token);
        const result = await checking;
        expect(result.state).toBe("ALLOWED");
        expect(result.revision).toBeGreaterThanOrEqual(next);
      } finally {
        await close();
      }
    });

    it("a read at an exact snapshot waits too; an aborted request ends with a deadline error", async () => {
      const { a, b: rawB, close } = await backend.open();
      try {
        await a.writeSchema(SCHEMA);
        const { store: b, firstLook } = watched(rawB);
        const next = (await a.currentRevision()) + 1n;
        const token = a.encodeRevision(next);
        const reading = readRevision(b, { kind: "at-exact-snapshot", token });
        expect(await firstLook).toBeLessThan(next);
        await a.write([{ operation: "touch", relationship: parseRelationship("document:e#viewer@user:u") }]);
        expect(await reading).toBe(next);
        const page = await rawB.at(next).readRelationships({ resourceType: "document", resourceId: "e" });
        expect(page.relationships).toHaveLength(1);

        const ahead = a.encodeRevision(next + 1n);
        await expect(
          readRevision(b, { kind: "at-least-as-fresh", token: ahead }, { aborted: true }),
        ).rejects.toMatchObject({ code: "request/deadline-exceeded", kind: "deadline-exceeded" });
        await expect(
          readRevision(b, { kind: "at-least-as-fresh", token: ahead }, undefined, 1),
        ).rejects.toMatchObject({ code: "revision/not-reached", kind: "failed-precondition" });
      } finally {
        await close();
      }
    });
  });
}
