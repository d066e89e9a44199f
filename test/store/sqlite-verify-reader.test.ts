/**
 * The SQLite decision log's verify opens a read-only connection of its own and holds a read
 * transaction on it across turns of the event loop. A reader left open would hold back WAL
 * checkpoints for good (and leak a file handle per verify), so it is closed however verify ends:
 * with a report, or with an error thrown between its pages.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openConnection, openReader } from "../../src/store/sqlite/connection.js";
import { createSqliteDecisionLog } from "../../src/store/sqlite/decisions.js";
import { decisions } from "./conformance/decisions.js";

const dir = mkdtempSync(join(tmpdir(), "latch-verify-reader-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const connections: Database.Database[] = [];
afterEach(() => {
  for (const db of connections.splice(0)) if (db.open) db.close();
});

/** A log of 60 records on a file, whose verify walks 9 pages with a turn between each two. */
async function logWith(pause: () => Promise<void>) {
  const path = join(dir, `log-${files++}.db`);
  const { db, storeId, tokenSecret } = openConnection({ path });
  connections.push(db);
  const readers: Database.Database[] = [];
  const log = createSqliteDecisionLog(db, storeId, tokenSecret, {
    checkpointEvery: 10,
    openReader: () => {
      const reader = openReader({ path });
      readers.push(reader);
      connections.push(reader);
      return reader;
    },
    longReads: { verifyPageRows: 7, scanRangeRows: 5, pause },
  });
  await log.append(decisions(1, 61));
  return { log, readers };
}

describe("sqlite decision log: verify's reader", () => {
  it("is closed when verify reports", async () => {
    let pauses = 0;
    const { log, readers } = await logWith(async () => {
      pauses++;
    });
    expect(await log.verify()).toMatchObject({ ok: true, records: 60 });
    expect(pauses).toBeGreaterThan(2);
    expect(readers).toHaveLength(1);
    expect(readers.map((r) => r.open)).toEqual([false]);
  });

  it("is closed when verify fails between its pages", async () => {
    let pauses = 0;
    const { log, readers } = await logWith(async () => {
      if (++pauses === 3) throw new Error("stopped at the third turn");
    });
    await expect(log.verify()).rejects.toThrow("stopped at the third turn");
    // A second verify opens (and closes) a reader of its own: none is left open by the first.
    await expect(log.verify()).resolves.toMatchObject({ ok: true, records: 60 });
    expect(pauses).toBeGreaterThan(3);
    expect(readers).toHaveLength(2);
    expect(readers.map((r) => r.open)).toEqual([false, false]);
  });
});
