/**
 * The recorder's writer thread: records built, hashed and appended on a connection of its own,
 * in the order the decisions were made; `sync` answers only once committed; a thread that dies
 * fails its batch, and the next batch starts a new one; `close` writes what is queued.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type AuditOptions, createAuditRecorder } from "../../src/audit/index.js";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import type { CheckRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import type { Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "../store/fixtures/pg-setup.js";

const SCHEMA = `
definition user {}
definition room {
  relation booker: user
  permission reserve = booker
}
`;

const dir = mkdtempSync(join(tmpdir(), "latch-writer-thread-"));
const opened: OpenedLatch[] = [];
afterEach(async () => {
  for (const latch of opened.splice(0)) await latch.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
const sqliteFile = () => createSqliteStore({ path: join(dir, `audit-${++files}.db`) });

async function open(store: Store, options: Omit<AuditOptions, "log">) {
  const threads: Worker[] = [];
  const recorder = createAuditRecorder({
    ...options,
    log: store.decisions,
    policy: "all",
    onWriterThread: (thread) => {
      threads.push(thread);
      options.onWriterThread?.(thread);
    },
  });
  const latch = await openLatch({ store, schema: SCHEMA, mirror: false, decorators: [recorder.decorator] });
  opened.push(latch);
  await latch.store.write([
    { operation: "touch", relationship: parseRelationship("room:401#booker@user:u0") },
  ]);
  return { latch, recorder, threads };
}

const check = (user: string): CheckRequest => ({
  resource: { type: "room", id: "401" },
  permission: "reserve",
  subject: { type: "user", id: user },
});

describe("the audit writer thread", () => {
  it("appends in the order decisions were made, on its own connection; close writes what is queued", async () => {
    const { latch, recorder, threads } = await open(await sqliteFile(), { mode: "async", batchSize: 7 });
    const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
    for (const user of users) await latch.decider.check(check(user));
    await recorder.close();
    expect(threads).toHaveLength(1);
    expect(recorder.stats()).toEqual({ queued: 0, dropped: 0, written: 40, failed: 0 });
    const stored = await latch.store.decisions.read();
    expect(stored.map((d) => d.record.subject)).toEqual(users.map((u) => `user:${u}`));
    expect(stored.map((d) => d.record.answer)).toEqual(users.map((u) => (u === "u0" ? "ALLOWED" : "DENIED")));
    expect((await latch.store.decisions.verify()).ok).toBe(true);
    // A decision after close starts a new thread.
    await latch.decider.check(check("late"));
    await recorder.close();
    expect(threads).toHaveLength(2);
    expect((await latch.store.decisions.read()).map((d) => d.record.subject).at(-1)).toBe("user:late");
  });

  it("sync: each answer leaves only once its record is committed; concurrent ones share appends", async () => {
    let appends = 0;
    const { latch, recorder } = await open(await sqliteFile(), {
      mode: "sync",
      onAppend: () => {
        appends += 1;
      },
    });
    const users = Array.from({ length: 30 }, (_, i) => `u${i}`);
    await Promise.all(
      users.map(async (user) => {
        await latch.decider.check(check(user));
        // Read on the store's own connection: the thread's commit is visible once answered.
        const subjects = (await latch.store.decisions.read()).map((d) => d.record.subject);
        expect(subjects).toContain(`user:${user}`);
      }),
    );
    expect(appends).toBeLessThan(users.length);
    expect(recorder.stats()).toMatchObject({ written: 30, dropped: 0, failed: 0 });
    expect((await latch.store.decisions.verify()).ok).toBe(true);
    await recorder.close();
  });

  it("startWriter: the thread starts with the recorder, not with the first batch, and serves it", async () => {
    const late = await open(await sqliteFile(), { mode: "sync" });
    expect(late.threads).toHaveLength(0);
    const early = await open(await sqliteFile(), { mode: "sync", startWriter: true });
    expect(early.threads).toHaveLength(1);
    expect((await early.latch.decider.check(check("u0"))).state).toBe("ALLOWED");
    expect(early.threads).toHaveLength(1);
    expect(early.recorder.stats()).toMatchObject({ written: 1, failed: 0 });
    expect((await early.latch.store.decisions.read()).map((d) => d.record.subject)).toEqual(["user:u0"]);
    await late.recorder.close();
    await early.recorder.close();
  });

  it("startWriter, then close at once: close waits for the thread, and the process can exit", () => {
    // The reply to the thread's opening came after close had held the process for the thread's
    // exit, and let go of it: Node then found nothing to wait for and quit (exit code 13) with the
    // close unfinished, as `latch serve` did when it refused to start.
    const script = `
      import { createAuditRecorder } from "./src/audit/index.js";
      import { createSqliteStore } from "./src/store/sqlite/index.js";
      const store = await createSqliteStore({ path: ${JSON.stringify(join(dir, "closed-at-once.db"))} });
      const recorder = createAuditRecorder({ log: store.decisions, policy: "all", startWriter: true });
      await recorder.close();
      await store.close();
      console.log("closed");`;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: resolve(dirname(fileURLToPath(import.meta.url)), "../.."),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("closed");
    expect(run.status).toBe(0);
  });

  it("a thread that dies fails the batch it held; the next batch starts a new thread", async () => {
    const errors: unknown[] = [];
    let first = true;
    const { latch, recorder, threads } = await open(await sqliteFile(), {
      mode: "sync",
      onError: (error) => errors.push(error),
      // The first thread dies before it ever runs its batch.
      onWriterThread: (thread) => {
        if (first) void thread.terminate();
        first = false;
      },
    });
    const refused = await latch.decider.check(check("u0")).catch((error: unknown) => error);
    expect(isLatchError(refused) && refused.code).toBe("audit/unavailable");
    expect(String(errors[0])).toMatch(/writer thread stopped/);
    expect((await latch.decider.check(check("u1"))).state).toBe("DENIED");
    expect(threads).toHaveLength(2);
    expect(recorder.stats()).toMatchObject({ written: 1, failed: 1 });
    expect((await latch.store.decisions.read()).map((d) => d.record.subject)).toEqual(["user:u1"]);
    expect((await latch.store.decisions.verify()).ok).toBe(true);
    await recorder.close();
  });

  it("waits for a write lock held past the busy timeout instead of losing the batch", async () => {
    const path = join(dir, `audit-${++files}.db`);
    const store = await createSqliteStore({ path, busyTimeoutMs: 50 });
    for (const mode of ["async", "sync"] as const) {
      const { latch, recorder } = await open(store, { mode });
      // The thread up and its connection open first: the lock is what the batch waits for.
      await latch.decider.check(check("warm"));
      await recorder.flush();
      // Another connection takes the file's write lock, as a large import or delete does.
      const blocker = new Database(path);
      blocker.exec("BEGIN IMMEDIATE");
      const answers = Promise.all(["u0", "u1", "u2"].map((user) => latch.decider.check(check(user))));
      // Many busy timeouts pass before the lock is let go.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(recorder.stats()).toMatchObject({ written: 1, failed: 0 });
      blocker.exec("COMMIT");
      blocker.close();
      expect((await answers).map((a) => a.state)).toEqual(["ALLOWED", "DENIED", "DENIED"]);
      await recorder.flush();
      expect(recorder.stats()).toMatchObject({ written: 4, failed: 0, dropped: 0 });
      await recorder.close();
    }
    const subjects = (await store.decisions.read()).map((d) => d.record.subject);
    const one = ["user:warm", "user:u0", "user:u1", "user:u2"];
    expect(subjects).toEqual([...one, ...one]);
    expect((await store.decisions.verify()).ok).toBe(true);
  });

  it("writes on this thread when the log cannot be opened elsewhere (SQLite :memory:)", async () => {
    const { latch, recorder, threads } = await open(await createSqliteStore({ path: ":memory:" }), {
      mode: "sync",
    });
    await latch.decider.check(check("u0"));
    expect(threads).toHaveLength(0);
    expect((await latch.store.decisions.read()).map((d) => d.record.subject)).toEqual(["user:u0"]);
    await recorder.close();
  });
});

const schemas = new SchemaTracker();
afterAll(() => schemas.dropAll());

describe.skipIf(PG_URL === undefined)(
  "the audit writer thread on PostgreSQL",
  () => {
    it("shares one chain with another replica appending at the same time", async () => {
      const schema = schemas.next();
      const store = await createPostgresStore({ url: PG_URL!, schema });
      const replica = await createPostgresStore({ url: PG_URL!, schema });
      try {
        const { latch, recorder, threads } = await open(store, { mode: "sync" });
        const replicaRecord = (i: number) => ({
          time: new Date().toISOString(),
          operation: "check",
          subject: `user:r${i}`,
          resource: "room:401",
          permission: "reserve",
          answer: "DENIED" as const,
        });
        await Promise.all([
          ...Array.from({ length: 20 }, (_, i) => latch.decider.check(check(`t${i}`))),
          ...Array.from({ length: 5 }, (_, i) => replica.decisions.append([replicaRecord(i)])),
        ]);
        await recorder.close();
        expect(threads).toHaveLength(1);
        const subjects = (await replica.decisions.read()).map((d) => d.record.subject);
        expect(subjects).toHaveLength(25);
        const fromThread = subjects.filter((s) => s.startsWith("user:t"));
        expect(new Set(fromThread)).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `user:t${i}`)));
        expect((await replica.decisions.verify()).ok).toBe(true);
      } finally {
        await replica.close();
      }
    });
  },
  60_000,
);

if (PG_URL === undefined) console.info(PG_SKIP_REASON);
