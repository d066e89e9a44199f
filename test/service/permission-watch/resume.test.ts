/**
 * Resuming WatchPermissions after a token. Property: after random write histories (with a schema
 * change), a stream resumed after any token a stream reported, applied to the set that stream
 * showed at that token, ends at its first SYNCED with exactly LookupResources at that revision (the
 * newest). On SQLite, and on PostgreSQL with writes through one replica and streams on another.
 * Then the refusals, and the cases answered with RESYNC and the whole set.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { isLatchError, type LatchError } from "../../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import type { PermissionEvent, WatchPermissionsRequest } from "../../../src/service/index.js";
import type { Store } from "../../../src/store/index.js";
import { createPostgresStore, type PostgresStore } from "../../../src/store/postgres/index.js";
import { admin, PG_SKIP_REASON, PG_URL, uniqueName } from "../../store/fixtures/pg-setup.js";
import {
  type History,
  historyArb,
  lookupSet,
  REQUESTS,
  type Recorded,
  runHistory,
  SCHEMA,
} from "./history.js";

interface Tally {
  resumed: number;
  /** Resumed streams answered with the difference (no RESYNC). */
  differences: number;
}

/** Applies events in the test's own notation (`id=STATE`) up to the first SYNCED, which it returns. */
async function firstSync(
  events: AsyncIterable<PermissionEvent>,
  set: Map<string, string>,
): Promise<{ synced: PermissionEvent; kinds: string[] }> {
  const kinds: string[] = [];
  for await (const e of events) {
    kinds.push(e.kind);
    if (e.kind === "RESYNC") set.clear();
    else if (e.kind === "REMOVED") set.delete(e.resourceId);
    else if (e.kind === "ADDED") set.set(e.resourceId, "ALLOWED");
    else if (e.kind === "CONDITIONAL") set.set(e.resourceId, `CONDITIONAL[${e.missing.join(",")}]`);
    else return { synced: e, kinds };
  }
  throw new Error("the resumed stream ended before its first SYNCED");
}

/** Resumes every request after every distinct token its stream reported; checks each final set. */
async function resumeEverywhere(
  watcher: OpenedLatch,
  newest: bigint,
  recorded: readonly Recorded[],
  tally: Tally,
): Promise<void> {
  for (const [i, request] of REQUESTS.entries()) {
    const tokens = new Map(recorded[i]!.synced.map((s) => [s.token, s.set]));
    for (const [token, entries] of tokens) {
      const set = new Map(entries.map((e) => e.split("=") as [string, string]));
      const controller = new AbortController();
      const events = watcher.permissions.watch({ ...request, after: token }, { signal: controller.signal });
      const { synced, kinds } = await firstSync(events, set);
      controller.abort();
      expect(synced.revision).toBeGreaterThanOrEqual(newest);
      const got = [...set].map(([k, v]) => `${k}=${v}`).sort();
      expect(got, `${JSON.stringify(request)} resumed after ${token}`).toEqual(
        await lookupSet(watcher, request, synced.token),
      );
      tally.resumed++;
      if (!kinds.includes("RESYNC")) tally.differences++;
    }
  }
}

async function runAndResume(writer: Store, watcher: OpenedLatch, history: History, tally: Tally) {
  let recorded: readonly Recorded[] = [];
  await runHistory(writer, watcher, history, (r) => {
    recorded = r;
  });
  await resumeEverywhere(watcher, await writer.currentRevision(), recorded, tally);
}

describe("WatchPermissions resumed on SQLite", () => {
  it("ends, from any token reported, at exactly LookupResources at the newest revision", async () => {
    const tally: Tally = { resumed: 0, differences: 0 };
    await fc.assert(
      fc.asyncProperty(historyArb, async (history) => {
        const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
        try {
          await runAndResume(latch.store, latch, history, tally);
        } finally {
          await latch.close();
        }
      }),
      { numRuns: 12 },
    );
    expect(tally.resumed).toBeGreaterThan(12 * REQUESTS.length);
    // Most resumptions are answered with the difference, not the whole set.
    expect(tally.differences).toBeGreaterThan(tally.resumed / 2);
  }, 300_000);
});

if (PG_URL === undefined) console.info(PG_SKIP_REASON);

describe.skipIf(PG_URL === undefined)("WatchPermissions resumed on PostgreSQL, two replicas", () => {
  const schemas: string[] = [];
  afterAll(async () => {
    await admin(async (client) => {
      for (const name of schemas) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    });
  });

  it("ends, from any token reported, at exactly LookupResources at the newest revision", async () => {
    const tally: Tally = { resumed: 0, differences: 0 };
    await fc.assert(
      fc.asyncProperty(historyArb, async (history) => {
        const schema = uniqueName("latch_wpr");
        schemas.push(schema);
        const url = PG_URL as string;
        const a: PostgresStore = await createPostgresStore({ url, schema, pollIntervalMs: 50 });
        await a.writeSchema(SCHEMA);
        const b = await openLatch({
          store: await createPostgresStore({ url, schema, pollIntervalMs: 50 }),
          approvals: false,
        });
        try {
          await runAndResume(a, b, history, tally);
        } finally {
          await b.close();
          await a.close();
        }
      }),
      { numRuns: 5 },
    );
    expect(tally.resumed).toBeGreaterThan(5 * REQUESTS.length);
    expect(tally.differences).toBeGreaterThan(tally.resumed / 2);
  }, 300_000);
});

const SMALL = `definition user {}
definition document {
  relation viewer: user
  permission read = viewer
}`;
const ALICE: WatchPermissionsRequest = {
  resourceType: "document",
  permission: "read",
  subject: { type: "user", id: "alice" },
};

async function grant(latch: OpenedLatch, op: "touch" | "delete", ...docs: string[]): Promise<string> {
  const revision = await latch.store.write(
    docs.map((id) => ({
      operation: op,
      relationship: {
        resource: { type: "document", id },
        relation: "viewer",
        subject: { type: "user", id: "alice" },
      },
    })),
  );
  return latch.store.encodeRevision(revision);
}

/** The events of a stream up to its first SYNCED, as `KIND:id`. */
async function opening(latch: OpenedLatch, request: WatchPermissionsRequest): Promise<string[]> {
  const controller = new AbortController();
  const out: string[] = [];
  try {
    for await (const e of latch.permissions.watch(request, { signal: controller.signal })) {
      out.push(`${e.kind}:${e.resourceId}`);
      if (e.kind === "SYNCED") break;
    }
  } finally {
    controller.abort();
  }
  return out;
}

async function refusal(latch: OpenedLatch, request: WatchPermissionsRequest): Promise<LatchError> {
  try {
    await opening(latch, request);
  } catch (e) {
    if (isLatchError(e)) return e;
    throw e;
  }
  throw new Error("the stream was not refused");
}

describe("WatchPermissions resumed: what it sends and what it refuses", () => {
  const open = () => openLatch({ database: ":memory:", schema: SMALL, approvals: false });

  it("sends only the changes since the token, then SYNCED", async () => {
    const latch = await open();
    try {
      const token = await grant(latch, "touch", "d1", "d2", "d3");
      await grant(latch, "delete", "d3");
      await grant(latch, "touch", "d4");
      expect(await opening(latch, { ...ALICE, after: token })).toEqual(["REMOVED:d3", "ADDED:d4", "SYNCED:"]);
      // Without a token: the whole set.
      expect(await opening(latch, ALICE)).toEqual(["ADDED:d1", "ADDED:d2", "ADDED:d4", "SYNCED:"]);
    } finally {
      await latch.close();
    }
  });

  it("sends RESYNC and the whole set when the difference is longer than the set", async () => {
    const latch = await open();
    try {
      const token = await grant(latch, "touch", "d1", "d2", "d3");
      await grant(latch, "delete", "d1", "d2", "d3");
      await grant(latch, "touch", "d9");
      expect(await opening(latch, { ...ALICE, after: token })).toEqual(["RESYNC:", "ADDED:d9", "SYNCED:"]);
    } finally {
      await latch.close();
    }
  });

  it("sends RESYNC and the whole set when a relation the set is computed from lets relationships expire", async () => {
    // The expiring relation is reached through a subject set: document#viewer allows group#member.
    const latch = await openLatch({
      database: ":memory:",
      schema: `use expiration
definition user {}
definition group { relation member: user with expiration }
definition document {
  relation viewer: user | group#member
  permission read = viewer
}`,
      approvals: false,
    });
    try {
      const token = await grant(latch, "touch", "d1", "d2");
      await grant(latch, "touch", "d3");
      expect(await opening(latch, { ...ALICE, after: token })).toEqual([
        "RESYNC:",
        "ADDED:d1",
        "ADDED:d2",
        "ADDED:d3",
        "SYNCED:",
      ]);
    } finally {
      await latch.close();
    }
  });

  it("sends the difference when only relations the set does not depend on can expire", async () => {
    const latch = await openLatch({
      database: ":memory:",
      schema: `use expiration
definition user {}
definition session { relation holder: user with expiration }
definition document {
  relation viewer: user
  permission read = viewer
}`,
      approvals: false,
    });
    try {
      const token = await grant(latch, "touch", "d1", "d2");
      await grant(latch, "touch", "d3");
      expect(await opening(latch, { ...ALICE, after: token })).toEqual(["ADDED:d3", "SYNCED:"]);
    } finally {
      await latch.close();
    }
  });

  it("sends RESYNC and the whole set when the request did not fit the schema at the token", async () => {
    const latch = await openLatch({ database: ":memory:", approvals: false });
    try {
      const before = latch.store.encodeRevision(await latch.store.currentRevision());
      await latch.store.writeSchema(SMALL);
      await grant(latch, "touch", "d1");
      expect(await opening(latch, { ...ALICE, after: before })).toEqual(["RESYNC:", "ADDED:d1", "SYNCED:"]);
    } finally {
      await latch.close();
    }
  });

  it("refuses a malformed token and another store's token with INVALID_ARGUMENT", async () => {
    const latch = await open();
    const other = await open();
    try {
      const malformed = await refusal(latch, { ...ALICE, after: "not-a-token" });
      expect([malformed.kind, malformed.code]).toEqual(["invalid-argument", "revision/malformed-token"]);
      const foreign = await refusal(latch, { ...ALICE, after: await grant(other, "touch", "d1") });
      expect([foreign.kind, foreign.code]).toEqual(["invalid-argument", "revision/foreign-token"]);
    } finally {
      await other.close();
      await latch.close();
    }
  });

  it("refuses a token older than the GC window with FAILED_PRECONDITION naming the window", async () => {
    const latch = await open();
    try {
      const old = await grant(latch, "touch", "d1");
      await grant(latch, "touch", "d2");
      await latch.store.compactHistory!({ windowMs: 60_000, now: Date.now() + 3_600_000, graceMs: 0 });
      const error = await refusal(latch, { ...ALICE, after: old });
      expect([error.kind, error.code]).toEqual(["failed-precondition", "revision/compacted"]);
      expect(error.details.gcWindow).toBe("1m");
      expect(error.message).toMatch(/GC window \(1m\)/);
    } finally {
      await latch.close();
    }
  });
});
