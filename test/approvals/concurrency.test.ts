/**
 * Two agents consume one single-use approval at once: exactly one check is ALLOWED. On SQLite
 * (one process), and on PostgreSQL through two replicas (two openLatch on one datastore).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

describe("the gate's memory of 'no approval' across two openers of one file", () => {
  it("keeps the gate closed at most closedForMs after another opener approves, never opens it early", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-approvals-two-"));
    let clock = Date.parse("2026-12-04T09:00:00Z");
    const open = () =>
      openLatch({
        database: join(dir, "latch.db"),
        schema: SCHEMA,
        mirror: false,
        approvals: { rules: RULES, now: () => clock, closedForMs: 1_000 },
      });
    const a = await open();
    const b = await open();
    try {
      await seed(a);
      const check = { ...action, consumeApproval: false };
      expect((await b.decider.check(check)).state).toBe("APPROVAL_REQUIRED");
      const { id } = await a.approvals!.request({ ...action, message: "delete?" });
      await a.approvals!.decide({ id, approve: true, approver: { type: "user", id: "olga" } });
      // a forgot at once; b still remembers "none" within its second.
      expect((await a.decider.check(check)).state).toBe("ALLOWED");
      expect((await b.decider.check(check)).state).toBe("APPROVAL_REQUIRED");
      clock += 1_000;
      expect(await b.decider.check(check)).toMatchObject({ state: "ALLOWED", approvalId: id });
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("rules written through another opener", () => {
  it("apply at the next refresh; a stored version that does not compile is refused and the rules stay", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-approvals-rules-"));
    const open = () =>
      openLatch({
        database: join(dir, "latch.db"),
        schema: SCHEMA,
        mirror: false,
        approvals: { rulesRefreshMs: 0 },
      });
    const a = await open();
    const b = await open();
    try {
      await seed(a);
      const check = { ...action, consumeApproval: false };
      expect((await b.decider.check(check)).state).toBe("ALLOWED");
      await a.approvals!.writeRules(RULES, "rules.yaml");
      expect((await b.decider.check(check)).state).toBe("ALLOWED");
      await b.approvals!.loadRules();
      expect((await b.decider.check(check)).state).toBe("APPROVAL_REQUIRED");
      // Written past validation (as an older Latch or a schema change could leave it).
      await a.store.approvals.writeRules(RULES.replace("permission: delete", "permission: gone"), Date.now());
      await expect(b.approvals!.loadRules()).rejects.toMatchObject({ code: "approval/invalid-rules" });
      expect((await b.decider.check(check)).state).toBe("APPROVAL_REQUIRED");
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
