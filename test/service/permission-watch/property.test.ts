/**
 * WatchPermissions against random write histories: every set a stream reports (at each SYNCED)
 * equals LookupResources at that revision. On SQLite (one store), and on PostgreSQL with two
 * replicas: writes through one store instance, subscriptions on another over the same database.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { openLatch } from "../../../src/open/index.js";
import { createPostgresStore, type PostgresStore } from "../../../src/store/postgres/index.js";
import { admin, PG_SKIP_REASON, PG_URL, uniqueName } from "../../store/fixtures/pg-setup.js";
import { historyArb, runHistory, SCHEMA } from "./history.js";

describe("WatchPermissions on SQLite", () => {
  it("streams exactly the LookupResources set at every revision it reports", async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(historyArb, async (history) => {
        const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
        try {
          compared += await runHistory(latch.store, latch, history);
        } finally {
          await latch.close();
        }
      }),
      { numRuns: 25 },
    );
    expect(compared).toBeGreaterThan(25);
  }, 300_000);
});

describe("WatchPermissions on SQLite, sets looked up whole whenever a step reaches as many as they hold", () => {
  it("streams exactly the LookupResources set at every revision it reports", async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(historyArb, async (history) => {
        const latch = await openLatch({
          database: ":memory:",
          schema: SCHEMA,
          approvals: false,
          watchPermissions: { recheckFloor: 0, concurrency: 2 },
        });
        try {
          compared += await runHistory(latch.store, latch, history);
        } finally {
          await latch.close();
        }
      }),
      { numRuns: 15 },
    );
    expect(compared).toBeGreaterThan(15);
  }, 300_000);
});

if (PG_URL === undefined) console.info(PG_SKIP_REASON);

describe.skipIf(PG_URL === undefined)("WatchPermissions on PostgreSQL, two replicas", () => {
  const schemas: string[] = [];
  afterAll(async () => {
    await admin(async (client) => {
      for (const name of schemas) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    });
  });

  it("streams from replica B exactly the LookupResources set for writes through replica A", async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(historyArb, async (history) => {
        const schema = uniqueName("latch_wp");
        schemas.push(schema);
        const url = PG_URL as string;
        const a: PostgresStore = await createPostgresStore({ url, schema, pollIntervalMs: 50 });
        await a.writeSchema(SCHEMA);
        const b = await openLatch({
          store: await createPostgresStore({ url, schema, pollIntervalMs: 50 }),
          approvals: false,
        });
        try {
          compared += await runHistory(a, b, history);
        } finally {
          await b.close();
          await a.close();
        }
      }),
      { numRuns: 8 },
    );
    expect(compared).toBeGreaterThan(8);
  }, 300_000);
});
