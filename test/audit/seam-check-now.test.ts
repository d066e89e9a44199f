/**
 * A recorded Check through `openLatch`'s seam (approval gate, signal gate, delegation) reaches the
 * engine's answer-at-once form (engine/check-now.ts) where the decorators only forward it, and
 * records and answers exactly what the recorder did when it had to wait for their promise.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { type AsAsked, type CheckRequest, type CheckResult, checkNowOf } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import type { Decider, Decorator } from "../../src/service/index.js";
import type { DecisionRecord } from "../../src/store/index.js";
import { RULES, SCHEMA } from "../approvals/fixtures.js";

const opened: OpenedLatch[] = [];
afterEach(async () => {
  for (const latch of opened.splice(0)) await latch.close();
});

/** Hands every call on with a `check` of its own, so the recorder above it sees no form to answer at once. */
const opaque: Decorator = (next) => ({
  check: (request, options) => next.check(request, options),
  checkBulk: (request, options) => next.checkBulk(request, options),
  lookupResources: (request, options) => next.lookupResources(request, options),
});

/** Keeps the decider the recorder calls (the one below `decorators`). */
function below(seen: Decider[]): Decorator {
  return (next) => {
    seen.push(next);
    return next;
  };
}

async function open(decorators: Decorator[]): Promise<OpenedLatch> {
  const latch = await openLatch({
    database: ":memory:",
    schema: SCHEMA,
    audit: { policy: "all", mode: "sync" },
    approvals: { rules: RULES },
    decorators,
  });
  opened.push(latch);
  await latch.store.write(
    [
      "database:prod#owner@user:alice",
      "database:prod#operator@agent:cleanup",
      "database:prod#operator@user:bob",
      "user:alice#delegate_to@agent:cleanup",
    ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
  );
  return latch;
}

const ask = (resource: string, permission: string, subject: string, extra: object = {}): CheckRequest =>
  ({
    resource: { type: "database", id: resource },
    permission,
    subject: { type: subject.split(":")[0]!, id: subject.split(":")[1]! },
    consistency: { kind: "fully-consistent" },
    ...extra,
  }) as CheckRequest;

const alice = { type: "user", id: "alice" };

/** Every kind of Check the seam treats apart, the last one after a signal suspended bob. */
async function exercise(
  latch: OpenedLatch,
): Promise<{ answers: Omit<CheckResult, "token">[]; records: object[] }> {
  const answers: Omit<CheckResult, "token">[] = [];
  for (const request of [
    ask("prod", "delete", "user:alice"),
    ask("prod", "delete", "user:carol"),
    ask("prod", "read", "user:alice", { witness: true }),
    // An approval rule gates an agent's delete: APPROVAL_REQUIRED.
    ask("prod", "delete", "agent:cleanup"),
    // Delegation answers a chain by a CheckBulk of its own.
    ask("prod", "read", "agent:cleanup", { onBehalfOf: [alice] }),
    ask("prod", "read", "agent:cleanup", { onBehalfOf: [alice], witness: true }),
  ])
    answers.push(withoutToken(await latch.decider.check(request)));
  await latch.store.signals.record(
    { issuer: "test", jti: "j1", receivedAt: 0, via: "api", events: [], effects: [] },
    [{ kind: "suspend", subject: "user:bob", reason: "disabled" }],
  );
  answers.push(withoutToken(await latch.decider.check(ask("prod", "read", "user:bob"))));
  answers.push(withoutToken(await latch.decider.check(ask("prod", "read", "user:alice"))));
  const records = (await latch.store.decisions.read()).map(({ record }) => stable(record));
  return { answers, records };
}

/** An answer without its token, which names the store it came from. */
function withoutToken({ token: _, ...rest }: CheckResult): Omit<CheckResult, "token"> {
  return rest;
}

/** A record without what differs from one run to the next (times, latency, ids, hashes). */
function stable(record: DecisionRecord): object {
  const { time: _time, latencyUs: _latency, ...rest } = record;
  return rest;
}

describe("a recorded Check through openLatch's seam", () => {
  it("reaches the engine's answer-at-once form: answered without a promise when nothing is pending", async () => {
    const seen: Decider[] = [];
    const latch = await open([below(seen)]);
    const now = checkNowOf(seen[0]!.check);
    expect(now).toBeDefined();
    // The view and the revisions current: the engine answers at once, through every decorator.
    await latch.decider.check(ask("prod", "delete", "user:alice"));
    const asAsked: AsAsked = { answer: undefined };
    const request = ask("prod", "delete", "user:alice", { consistency: undefined });
    const answered = now!(request, undefined, asAsked);
    expect(answered).not.toBeInstanceOf(Promise);
    expect(answered).toMatchObject({ state: "ALLOWED", witness: [expect.anything()] });
    expect(asAsked.answer).toEqual(await latch.engine.check(request));
    // A request a decorator does not merely forward takes its promise, with the witness asked.
    const gated = now!(
      ask("prod", "delete", "agent:cleanup", { consistency: undefined }),
      undefined,
      asAsked,
    );
    expect(gated).toBeInstanceOf(Promise);
    expect(await gated).toMatchObject({ state: "APPROVAL_REQUIRED", approvalRule: "prod-delete" });
  });

  it("answers and records what it did when the recorder waited for the decorators' promises", async () => {
    const through = await exercise(await open([]));
    const waited = await exercise(await open([opaque]));
    expect(through).toEqual(waited);
    expect(through.records).toHaveLength(8);
    expect(through.answers.map((a) => a.state)).toEqual([
      "ALLOWED",
      "DENIED",
      "ALLOWED",
      "APPROVAL_REQUIRED",
      "ALLOWED",
      "ALLOWED",
      "DENIED",
      "ALLOWED",
    ]);
    // The caller gets the witness only when it asked; the records carry it for every ALLOWED one.
    expect(through.answers.map((a) => a.witness !== undefined)).toEqual([
      false,
      false,
      true,
      false,
      false,
      true,
      false,
      false,
    ]);
    expect(through.records.map((r) => "witness" in r)).toEqual([
      true,
      false,
      true,
      true,
      true,
      true,
      false,
      true,
    ]);
  });
});
