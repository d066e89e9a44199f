/**
 * The write thread's import protocol on its own: a thread that dies in the middle of an import
 * leaves nothing written, and the next import starts a thread of its own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { Relationship } from "../../src/core/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { encodeRows } from "../../src/store/sqlite/rows.js";
import { writeThread } from "../../src/store/sqlite/write-thread.js";
import { SCHEMA } from "./conformance/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "latch-write-thread-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const viewer = (i: number): Relationship => ({
  resource: { type: "document", id: `d${i}` },
  relation: "viewer",
  subject: { type: "user", id: "u" },
});

function chunksOf(from: number, chunks: number, size: number, onChunk?: (n: number) => void) {
  let n = 0;
  return () => {
    if (n === chunks) return undefined;
    onChunk?.(n);
    const rows = encodeRows(Array.from({ length: size }, (_, i) => viewer(from + n * size + i)));
    n += 1;
    return rows;
  };
}

describe("sqlite write thread", () => {
  it("loses the whole import with a thread that dies in it, and imports with the next", async () => {
    const path = join(dir, "dies.db");
    const store = await createSqliteStore({ path });
    await store.writeSchema(SCHEMA);
    await store.importRelationships([viewer(-1)]);
    await store.close();
    const db = new Database(path, { readonly: true });
    const schemaRevision = db.prepare("SELECT max(revision) FROM schemas").pluck().get() as number;
    const count = () => db.prepare("SELECT count(*) FROM relationships").pluck().get() as number;
    const revision = () => db.prepare("SELECT max(revision) FROM revisions").pluck().get() as number;
    const before = revision();

    const threads: Worker[] = [];
    const writer = writeThread({ path }, undefined, (thread) => threads.push(thread));
    const request = { createOnly: false, batchSize: 100, schemaRevision };
    // The thread is stopped while it holds the transaction, two chunks in (of six, each
    // milliseconds of work: termination interrupts it long before the commit).
    const next = chunksOf(0, 6, 5_000, (n) => {
      if (n === 2) void threads[0]!.terminate();
    });
    await expect(writer.import(request, next)).rejects.toThrow(/write thread stopped/);
    expect(count()).toBe(1);
    expect(revision()).toBe(before);

    const done = await writer.import(request, chunksOf(0, 3, 500));
    expect(done).toEqual({ revision: BigInt(before + 15), count: 1_500 });
    expect(count()).toBe(1_501);
    expect(threads).toHaveLength(2);
    await writer.close();
    db.close();
  });
});
