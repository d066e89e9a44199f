/**
 * Two agents consume one single-use approval at once: exactly one check is ALLOWED. On SQLite
 * (one process), and on PostgreSQL through two replicas (two openLatch on one datastore).
 */
import { afterAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import type { CheckRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "../store/fixtures/pg-setup.js";
import { RULES, SCHEMA } from "./fixtures.js";

const action: CheckRequest = {
  resource: { type: "database", id: "prod-orders" },
  permission: "delete",
  subject: { type: "agent", id: "cleanup" },
  consistency: { kind: "fully-consistent" },
  consumeApproval: true,
};

async function seed(latch: OpenedLatch): Promise<void> {
  await latch.store.write(
    ["database:prod-orders#operator@agent:cleanup", "database:prod-orders#approver@user:olga"].map(
      (text) => ({
        operation: "touch" as const,
        relationship: parseRelationship(text),
      }),
    ),
  );
}

/** Approves one request, then races `replicas` consuming checks, several rounds. */
async function race(first: OpenedLatch, replicas: readonly OpenedLatch[]): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const { id } = await first.approvals!.request({ ...action, message: `round ${round}` });
    await first.approvals!.decide({ id, approve: true, approver: { type: "user", id: "olga" } });
    const answers = await Promise.all(
      replicas.flatMap((latch) => [latch.decider.check(action), latch.decider.check(action)]),
    );
    const allowed = answers.filter((a) => a.state === "ALLOWED");
    expect(allowed.map((a) => a.approvalId)).toEqual([id]);
    expect(answers.filter((a) => a.state === "APPROVAL_REQUIRED")).toHaveLength(answers.length - 1);
  }
}

describe("single-use approvals under concurrency", () => {
  it("SQLite: exactly one of the concurrent consuming checks is ALLOWED", async () => {
    const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: { rules: RULES } });
    try {
      await seed(latch);
      await race(latch, [latch]);
    } finally {
      await latch.close();
    }
  });

  if (PG_URL === undefined) console.info(PG_SKIP_REASON);
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());

  it.skipIf(PG_URL === undefined)("PostgreSQL, two replicas: exactly one ALLOWED", async () => {
    const schema = schemas.next();
    const open = async () =>
      openLatch({
        store: await createPostgresStore({ url: PG_URL as string, schema }),
        schema: SCHEMA,
        // Every replica asks the store each time, so each of them races in every round.
        approvals: { rules: RULES, closedForMs: 0 },
        mirror: false,
      });
    const a = await open();
    const b = await open();
    try {
      await seed(a);
      await race(a, [a, b]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
