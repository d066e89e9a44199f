/** Conformance: approval rules versions and approval requests (dedupe, decide once, consume once). */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { NewApproval, Store } from "../../../src/store/index.js";
import type { StoreFactory } from "./helpers.js";

const T0 = Date.parse("2026-05-15T14:00:00Z");
const MINUTE = 60_000;

export function approvalRequest(id: string, overrides: Partial<NewApproval> = {}): NewApproval {
  return {
    id,
    ruleId: "prod-delete",
    resource: "database:prod-orders",
    permission: "delete",
    subject: "agent:cleanup",
    chain: ["user:alice"],
    message: "Delete database prod-orders?",
    justification: "retired after the migration",
    context: { sensitivity: 3 },
    singleUse: true,
    validForMs: 15 * MINUTE,
    createdAt: T0,
    expiresAt: T0 + 10 * MINUTE,
    witness: ["database:prod-orders#operator@agent:cleanup"],
    ...overrides,
  };
}

export function approvalCases(factory: StoreFactory): void {
  let store: Store;
  beforeEach(async () => {
    store = await factory();
  });
  afterEach(async () => {
    await store.close();
  });

  it("keeps every version of the rules and reads the latest", async () => {
    expect(await store.approvals.readRules()).toBeUndefined();
    expect(await store.approvals.writeRules("rules: []", T0)).toBe(1);
    expect(await store.approvals.writeRules("rules: [] # two", T0 + 1)).toBe(2);
    expect(await store.approvals.readRules()).toEqual({
      version: 2,
      text: "rules: [] # two",
      writtenAt: T0 + 1,
    });
  });

  it("creates a pending request and hands the same id to a duplicate of it", async () => {
    const first = await store.approvals.create(approvalRequest("a1"));
    expect(first.created).toBe(true);
    expect(first.approval).toMatchObject({
      id: "a1",
      state: "pending",
      chain: ["user:alice"],
      singleUse: true,
    });
    const again = await store.approvals.create(approvalRequest("a2", { createdAt: T0 + 1_000 }));
    expect(again).toMatchObject({ created: false, approval: { id: "a1" } });
    // Another chain is another action.
    const other = await store.approvals.create(approvalRequest("a3", { chain: [] }));
    expect(other).toMatchObject({ created: true, approval: { id: "a3" } });
    expect(await store.approvals.get("a2", T0)).toBeUndefined();
  });

  it("decides a pending request once; the second decision finds nothing pending", async () => {
    await store.approvals.create(approvalRequest("a1"));
    const now = T0 + MINUTE;
    const approved = await store.approvals.decide({
      id: "a1",
      approve: true,
      decidedBy: "user:olga",
      reason: "ok",
      now,
    });
    expect(approved).toMatchObject({
      state: "approved",
      decidedBy: "user:olga",
      reason: "ok",
      decidedAt: now,
    });
    expect(approved?.validUntil).toBe(now + 15 * MINUTE);
    expect(
      await store.approvals.decide({ id: "a1", approve: false, decidedBy: "user:x", reason: "", now }),
    ).toBeUndefined();
    expect((await store.approvals.get("a1", now))?.state).toBe("approved");
  });

  it("refuses to decide an expired request and reads it as expired", async () => {
    await store.approvals.create(approvalRequest("a1"));
    const late = T0 + 10 * MINUTE;
    expect(
      await store.approvals.decide({
        id: "a1",
        approve: true,
        decidedBy: "user:olga",
        reason: "",
        now: late,
      }),
    ).toBeUndefined();
    expect((await store.approvals.get("a1", late))?.state).toBe("expired");
    // A new request for the same action is a new one once the old has lapsed.
    const fresh = await store.approvals.create(
      approvalRequest("a2", { createdAt: late, expiresAt: late + MINUTE }),
    );
    expect(fresh.created).toBe(true);
  });

  it("finds an approved, still valid approval for exactly its action and consumes it once", async () => {
    const action = approvalRequest("a1");
    await store.approvals.create(action);
    const now = T0 + MINUTE;
    expect(await store.approvals.findApproved(action, now)).toBeUndefined();
    await store.approvals.decide({ id: "a1", approve: true, decidedBy: "user:olga", reason: "", now });
    expect((await store.approvals.findApproved(action, now))?.id).toBe("a1");
    expect(await store.approvals.findApproved({ ...action, subject: "agent:other" }, now)).toBeUndefined();
    expect(await store.approvals.findApproved({ ...action, chain: ["user:bob"] }, now)).toBeUndefined();
    expect(await store.approvals.findApproved(action, now + 15 * MINUTE)).toBeUndefined();
    const results = await Promise.all([
      store.approvals.consume("a1", now),
      store.approvals.consume("a1", now),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.approvals.findApproved(action, now)).toBeUndefined();
    expect(await store.approvals.get("a1", now)).toMatchObject({ state: "consumed", consumedAt: now });
  });

  it("lists by state, resource and subject, newest first", async () => {
    await store.approvals.create(approvalRequest("a1"));
    await store.approvals.create(approvalRequest("a2", { resource: "database:staging", createdAt: T0 + 1 }));
    await store.approvals.create(approvalRequest("a3", { subject: "agent:b", createdAt: T0 + 2 }));
    await store.approvals.decide({
      id: "a3",
      approve: false,
      decidedBy: "user:olga",
      reason: "no",
      now: T0 + 3,
    });
    const ids = async (q: Parameters<Store["approvals"]["list"]>[0]) =>
      (await store.approvals.list(q, T0 + 5)).map((a) => a.id);
    expect(await ids({})).toEqual(["a3", "a2", "a1"]);
    expect(await ids({ state: "pending" })).toEqual(["a2", "a1"]);
    expect(await ids({ state: "denied" })).toEqual(["a3"]);
    expect(await ids({ resource: "database:staging" })).toEqual(["a2"]);
    expect(await ids({ subject: "agent:b" })).toEqual(["a3"]);
    expect(await ids({ limit: 1 })).toEqual(["a3"]);
    expect(await ids({ id: "a2" })).toEqual(["a2"]);
    expect(await ids({ id: "none" })).toEqual([]);
    expect((await store.approvals.list({ state: "expired" }, T0 + 11 * MINUTE)).map((a) => a.id)).toEqual([
      "a2",
      "a1",
    ]);
  });

  it("stores the witness with the request and returns it", async () => {
    await store.approvals.create(approvalRequest("a1"));
    expect((await store.approvals.get("a1", T0))?.witness).toEqual([
      "database:prod-orders#operator@agent:cleanup",
    ]);
    expect((await store.approvals.list({ id: "a1" }, T0))[0]?.witness).toEqual([
      "database:prod-orders#operator@agent:cleanup",
    ]);
  });

  it("keeps CIBA's poll clock with the request: too soon is slow_down, and the interval grows", async () => {
    const clock = { intervalMs: 5_000, stepMs: 5_000 };
    expect(await store.approvals.poll("none", T0, clock)).toBeUndefined();
    await store.approvals.create(approvalRequest("a1"));
    expect(await store.approvals.poll("a1", T0, clock)).toEqual({
      approval: expect.objectContaining({ id: "a1", state: "pending" }),
    });
    expect((await store.approvals.poll("a1", T0 + 1_000, clock))?.slowDown).toEqual({
      sinceMs: 1_000,
      intervalMs: 10_000,
    });
    // The grown interval is owed from the last poll on.
    expect((await store.approvals.poll("a1", T0 + 9_000, clock))?.slowDown).toEqual({
      sinceMs: 8_000,
      intervalMs: 15_000,
    });
    expect((await store.approvals.poll("a1", T0 + 24_000, clock))?.slowDown).toBeUndefined();
    // A decided request answers at once, however soon.
    await store.approvals.decide({
      id: "a1",
      approve: false,
      decidedBy: "user:olga",
      reason: "",
      now: T0 + 24_001,
    });
    expect(await store.approvals.poll("a1", T0 + 24_002, clock)).toEqual({
      approval: expect.objectContaining({ state: "denied" }),
    });
  });

  it("lists requests and decisions after a cursor, each once, in commit order", async () => {
    const start = await store.approvals.latestChange();
    expect(await store.approvals.changesSince(start, 10, T0)).toEqual({ approvals: [], cursor: start });
    await store.approvals.create(approvalRequest("a1"));
    await store.approvals.create(approvalRequest("a2", { resource: "database:staging" }));
    const first = await store.approvals.changesSince(start, 10, T0);
    expect(first.approvals.map((a) => [a.id, a.state])).toEqual([
      ["a1", "pending"],
      ["a2", "pending"],
    ]);
    expect(first.cursor).toBe(await store.approvals.latestChange());
    // A duplicate request and a consumption are no changes; a decision is.
    await store.approvals.create(approvalRequest("a3"));
    await store.approvals.decide({
      id: "a1",
      approve: true,
      decidedBy: "user:olga",
      reason: "",
      now: T0 + 1,
    });
    await store.approvals.consume("a1", T0 + 2);
    const second = await store.approvals.changesSince(first.cursor, 10, T0 + 3);
    expect(second.approvals.map((a) => [a.id, a.state, a.decidedBy])).toEqual([
      ["a1", "consumed", "user:olga"],
    ]);
    // Paged: a limit of one reads one change at a time.
    const paged = await store.approvals.changesSince(start, 1, T0 + 3);
    expect(paged.approvals.map((a) => a.id)).toEqual(["a2"]);
    expect((await store.approvals.changesSince(paged.cursor, 1, T0 + 3)).approvals.map((a) => a.id)).toEqual([
      "a1",
    ]);
  });

  it("tells a subscriber of a change made through the store", async () => {
    // A subscriber may first be told the cursor as it was when listening began (PostgreSQL's
    // catch-up poll after LISTEN); what must come is a cursor past the change.
    const before = await store.approvals.latestChange();
    const cursors: number[] = [];
    const told = new Promise<void>((resolve) => {
      const stop = store.approvals.subscribe((cursor) => {
        cursors.push(cursor);
        if (cursor <= before) return;
        stop();
        resolve();
      });
    });
    await store.approvals.create(approvalRequest("a1"));
    await told;
    expect(cursors.at(-1)).toBeGreaterThan(before);
    expect(cursors.every((cursor, i) => i === 0 || cursor > cursors[i - 1]!)).toBe(true);
  });

  it("validates rules against the stored schema inside the rules write; a refusal writes nothing", async () => {
    const seen: (string | undefined)[] = [];
    await expect(
      store.approvals.writeRules("rules: []", T0, (schema) => {
        seen.push(schema);
        throw new Error("refused");
      }),
    ).rejects.toThrow("refused");
    expect(seen).toEqual([undefined]);
    expect(await store.approvals.readRules()).toBeUndefined();
    await store.writeSchema("definition user {}");
    expect(await store.approvals.writeRules("rules: []", T0, (schema) => seen.push(schema))).toBe(1);
    expect(seen[1]).toBe("definition user {}");
  });

  it("gives a schema write the stored rules inside its transaction; a refusal writes nothing", async () => {
    await store.writeSchema("definition user {}");
    const before = await store.currentRevision();
    await store.approvals.writeRules("rules: [] # one", T0);
    const seen: unknown[] = [];
    await expect(
      store.writeSchema("definition user {}\ndefinition agent {}", {
        validateRules: (rules, schema) => {
          seen.push(rules?.text, [...schema.definitions.keys()]);
          throw new Error("breaks the rules");
        },
      }),
    ).rejects.toThrow("breaks the rules");
    expect(seen).toEqual(["rules: [] # one", ["user", "agent"]]);
    expect(await store.currentRevision()).toBe(before);
    const revision = await store.writeSchema("definition user {}\ndefinition agent {}", {
      validateRules: () => undefined,
    });
    expect(revision).toBeGreaterThan(before);
  });
}
