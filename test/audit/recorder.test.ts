/** The recording Decorator: what each policy records, the two modes and their guarantees, redaction. */
import { afterEach, describe, expect, it } from "vitest";
import { type AuditOptions, createAuditRecorder, decisionSentence, REDACTED } from "../../src/audit/index.js";
import { parseRelationship } from "../../src/core/index.js";
import { type CheckRequest, checkNowOf } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import type { DecisionLog, DecisionRecord, StoredDecision } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const SCHEMA = `
caveat from_office(ip string, purpose string) {
  ip == "10.0.0.1"
}

definition user {
  relation delegate: agent | user
}
definition agent {}

definition room {
  relation booker: user | agent | user with from_office
  permission reserve = booker
}
`;

const opened: OpenedLatch[] = [];
afterEach(async () => {
  for (const latch of opened.splice(0)) await latch.close();
});

/** `mirrored`: with the in-memory copy, so the engine answers a Check on the turn it is asked. */
async function open(options: Omit<AuditOptions, "log">, log?: DecisionLog, mirrored = false) {
  const store = await createSqliteStore({ path: ":memory:" });
  const recorder = createAuditRecorder({ ...options, log: log ?? store.decisions });
  const latch = await openLatch({
    store,
    schema: SCHEMA,
    ...(mirrored ? {} : { mirror: false as const }),
    decorators: [recorder.decorator],
  });
  opened.push(latch);
  await latch.store.write(
    [
      "room:401#booker@user:alice",
      "room:401#booker@agent:calendar-bot-v2",
      "room:402#booker@user:bob[from_office]",
      // Requests with an on-behalf-of chain are decided by delegation (docs/delegation.md).
      "user:alice#delegate@agent:calendar-bot-v2",
      "room:401#booker@user:zed",
      "user:zed#delegate@user:alice",
    ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
  );
  return { latch, recorder };
}

const check = (
  resource: string,
  subject: string,
  extra: Partial<CheckRequest> & { onBehalfOf?: unknown } = {},
) =>
  ({
    resource: { type: resource.split(":")[0]!, id: resource.split(":")[1]! },
    permission: "reserve",
    subject: { type: subject.split(":")[0]!, id: subject.split(":")[1]! },
    ...extra,
  }) as CheckRequest;

const alice = { type: "user", id: "alice" };

/** A decision log whose every append fails. */
function failingLog(): DecisionLog {
  return {
    append: async () => {
      throw new Error("disk full");
    },
    read: async () => [],
    checkpoints: async () => [],
    prune: async () => 0,
    verify: async () => ({ ok: true, records: 0 }),
  };
}

async function records(latch: OpenedLatch): Promise<DecisionRecord[]> {
  return (await latch.store.decisions.read()).map((d) => d.record);
}

describe("audit recorder", () => {
  it("agents (the default): records decisions acting for someone and every DENIED, not a plain ALLOWED", async () => {
    const { latch, recorder } = await open({ mode: "sync" });
    expect((await latch.decider.check(check("room:401", "user:alice"))).state).toBe("ALLOWED");
    expect(await records(latch)).toEqual([]);
    expect((await latch.decider.check(check("room:401", "user:carol"))).state).toBe("DENIED");
    await latch.decider.check(
      check("room:401", "agent:calendar-bot-v2", {
        onBehalfOf: [alice],
        subjectGrants: "not-required",
      } as never),
    );
    const got = await records(latch);
    expect(got.map((r) => [r.subject, r.onBehalfOf, r.answer])).toEqual([
      ["user:carol", undefined, "DENIED"],
      ["agent:calendar-bot-v2", ["user:alice"], "ALLOWED"],
    ]);
    expect(got[1]).toMatchObject({
      operation: "check",
      subjectGrants: "not-required",
      resource: "room:401",
      permission: "reserve",
      consistency: "minimize-latency",
      revision: expect.stringMatching(/^\d+$/),
      latencyUs: expect.any(Number),
    });
    expect(recorder.stats()).toEqual({ queued: 0, dropped: 0, written: 2, failed: 0 });
    expect(await latch.store.decisions.verify()).toMatchObject({ ok: true, records: 2 });
  });

  it("all: records every decision, with call info and redacted context; off adds no decorator", async () => {
    const { latch } = await open({ mode: "sync", policy: "all", loggableParameters: ["ip"] });
    await latch.decider.check(check("room:401", "user:alice"), { requestId: "r-1", caller: "ci" } as never);
    await latch.decider.check(
      check("room:402", "user:bob", { context: { ip: "10.0.0.1", purpose: "offsite" } }),
    );
    const got = await records(latch);
    expect(got[0]).toMatchObject({ answer: "ALLOWED", requestId: "r-1", caller: "ci" });
    expect(got[1]).toMatchObject({ answer: "ALLOWED", context: { ip: "10.0.0.1", purpose: REDACTED } });

    const off = createAuditRecorder({ log: latch.store.decisions, policy: "off" });
    expect(off.decorator(latch.engine)).toBe(latch.engine);
  });

  it("gives the caller every part of the answer but the witness it did not ask for", async () => {
    const { latch } = await open({ mode: "sync", policy: "all" });
    for (const extra of [{}, { explain: true }]) {
      const asked = { ...check("room:402", "user:bob"), ...extra };
      const answer = await latch.decider.check(asked);
      const { witness, ...rest } = await latch.engine.check({ ...asked, witness: true });
      expect(witness?.length).toBe(1);
      expect(answer).toStrictEqual(rest);
    }
  });

  it("asks the decider below with a witness and every field the caller gave, whatever the request's shape", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    const recorder = createAuditRecorder({ log: store.decisions, policy: "all", writerThread: false });
    const seen: unknown[] = [];
    const below = {
      check: async (request: CheckRequest) => {
        seen.push(request);
        return { state: "ALLOWED", missing: [], revision: 1n, token: "t", witness: [] } as never;
      },
    } as never;
    const decider = recorder.decorator(below);
    const base = check("room:401", "user:alice");
    const asked = [
      base,
      { ...base, consistency: { kind: "fully-consistent" } },
      { ...base, context: { ip: "10.0.0.1" } },
      // A field the copy does not name, and one given as undefined: both reach the decider below.
      { ...base, consistency: { kind: "minimize-latency" }, consumeApproval: true },
      { ...base, consistency: undefined },
      { ...base, witness: false },
    ] as CheckRequest[];
    for (const request of asked) {
      const answer = await decider.check(request);
      expect("witness" in answer).toBe(false);
    }
    expect(seen).toStrictEqual(asked.map((request) => ({ ...request, witness: true })));
    await recorder.close();
    await store.close();
  });

  it("awaits whatever thenable a decider below returns: its DENIED recorded, its ALLOWED kept whole", async () => {
    const { latch } = await open({ policy: "off" });
    const recorder = createAuditRecorder({ log: latch.store.decisions, mode: "sync", policy: "agents" });
    // A promise of another kind than this realm's (a library's, another vm context's).
    const thenable = <T>(value: T): PromiseLike<T> => ({
      // biome-ignore lint/suspicious/noThenProperty: the point is an object that is a thenable only
      then: (resolve, reject) => Promise.resolve(value).then(resolve, reject),
    });
    const below = {
      check: (request: CheckRequest) => thenable(latch.engine.check(request)),
    } as never;
    const decider = recorder.decorator(below);
    const denied = check("room:401", "user:carol");
    const allowed = check("room:401", "user:alice");
    expect(await decider.check(denied)).toEqual(await latch.engine.check(denied));
    expect(await decider.check(allowed)).toEqual(await latch.engine.check(allowed));
    const got = (await records(latch)).map((r) => [r.subject, r.answer]);
    expect(got).toEqual([["user:carol", "DENIED"]]);
    await recorder.close();
  });

  it("on the engine itself (its answer at once, check-now.ts): answers as the engine, records as above", async () => {
    const { latch } = await open({ policy: "off" });
    const recorder = createAuditRecorder({ log: latch.store.decisions, mode: "sync", policy: "agents" });
    const decider = recorder.decorator(latch.engine);
    const sampling = createAuditRecorder({ log: latch.store.decisions, mode: "sync", sample: 1 });
    const asked = [
      check("room:401", "user:alice"),
      check("room:401", "user:alice", { witness: true }),
      check("room:402", "user:bob", { context: { ip: "10.0.0.1" } }),
      check("room:401", "user:carol"),
    ];
    // Kept only if DENIED (agents), and kept whatever the answer (a sample of every one).
    for (const d of [decider, sampling.decorator(latch.engine)]) {
      for (const request of asked) expect(await d.check(request)).toEqual(await latch.engine.check(request));
    }
    const got = (await records(latch)).map((r) => [r.subject, r.answer, r.sampled, r.witness]);
    expect(got).toEqual([
      ["user:carol", "DENIED", undefined, undefined],
      ["user:alice", "ALLOWED", true, ["room:401#booker@user:alice"]],
      ["user:alice", "ALLOWED", true, ["room:401#booker@user:alice"]],
      ["user:bob", "ALLOWED", true, ["room:402#booker@user:bob[from_office]"]],
      ["user:carol", "DENIED", undefined, undefined],
    ]);
    // A refusal of the engine's is the caller's, through the recorder too.
    const chained = check("room:401", "agent:calendar-bot-v2", { onBehalfOf: [alice] } as never);
    await expect(sampling.decorator(latch.engine).check(chained)).rejects.toMatchObject({
      code: "delegation/not-enabled",
    });
    // The engine's form throws a request it refuses at once: either path hands it on as a rejection.
    const unknown = check("room:401", "user:alice", { permission: "fly" });
    // The premise: the engine's same-turn form throws it (not a rejected promise).
    const checkNow = checkNowOf(latch.engine.check);
    expect(checkNow).toBeDefined();
    expect(() => checkNow!(unknown)).toThrow(expect.objectContaining({ code: "check/unknown-permission" }));
    for (const d of [decider, sampling.decorator(latch.engine)]) {
      let refused: Promise<unknown> | undefined;
      expect(() => {
        refused = d.check(unknown);
      }).not.toThrow();
      await expect(refused).rejects.toMatchObject({ code: "check/unknown-permission" });
    }
    await recorder.close();
    await sampling.close();
  });

  it("witness: a kept ALLOWED or CONDITIONAL record carries the relationships that proved it", async () => {
    const { latch } = await open({ mode: "sync", policy: "all" });
    const plain = await latch.decider.check(check("room:401", "user:alice"));
    // The recorder asked for the witness; the caller, who did not, gets the answer as it asked.
    expect(plain.state).toBe("ALLOWED");
    expect("witness" in plain).toBe(false);
    const asked = await latch.decider.check({ ...check("room:401", "user:alice"), witness: true });
    expect(asked.witness?.length).toBe(1);
    await latch.decider.check(check("room:402", "user:bob"));
    await latch.decider.check(check("room:401", "user:carol"));
    const bulk = await latch.decider.checkBulk({
      items: [
        check("room:401", "agent:calendar-bot-v2", { onBehalfOf: [alice] } as never),
        check("room:401", "user:alice", { onBehalfOf: [{ type: "user", id: "zed" }] } as never),
      ],
    });
    expect(bulk.results.every((r) => r.ok && !("witness" in r))).toBe(true);
    const got = (await records(latch)).map((r) => [r.subject, r.answer, r.witness]);
    expect(got).toEqual([
      ["user:alice", "ALLOWED", ["room:401#booker@user:alice"]],
      ["user:alice", "ALLOWED", ["room:401#booker@user:alice"]],
      ["user:bob", "CONDITIONAL", ["room:402#booker@user:bob[from_office]"]],
      ["user:carol", "DENIED", undefined],
      [
        "agent:calendar-bot-v2",
        "ALLOWED",
        [
          "room:401#booker@agent:calendar-bot-v2",
          "room:401#booker@user:alice",
          "user:alice#delegate@agent:calendar-bot-v2",
        ],
      ],
      [
        "user:alice",
        "ALLOWED",
        ["room:401#booker@user:alice", "room:401#booker@user:zed", "user:zed#delegate@user:alice"],
      ],
    ]);
    expect(await latch.store.decisions.verify()).toMatchObject({ ok: true, records: 6 });
  });

  it("caller: names the caller of calls whose options name none (embedded mode); a given one wins", async () => {
    const { latch } = await open({ mode: "sync", policy: "all", caller: "embedded" });
    await latch.decider.check(check("room:401", "user:alice"));
    await latch.decider.check(check("room:401", "user:alice"), { requestId: "r-2", caller: "ci" });
    await latch.decider.checkBulk({ items: [check("room:401", "user:alice")] }, { requestId: "r-3" });
    const got = (await records(latch)).map((r) => [r.caller, r.requestId]);
    expect(got).toEqual([
      ["embedded", undefined],
      ["ci", "r-2"],
      ["embedded", "r-3"],
    ]);
  });

  it("records CONDITIONAL answers with their missing parameters and bulk items one by one", async () => {
    const { latch } = await open({ mode: "sync", policy: "all" });
    const result = await latch.decider.check(check("room:402", "user:bob"));
    expect(result.state).toBe("CONDITIONAL");
    await latch.decider.checkBulk({
      items: [check("room:401", "user:alice"), check("room:401", "user:dave")],
    });
    const got = await records(latch);
    expect(got.map((r) => [r.operation, r.subject, r.answer, r.missing])).toEqual([
      ["check", "user:bob", "CONDITIONAL", ["ip"]],
      ["check-bulk", "user:alice", "ALLOWED", undefined],
      ["check-bulk", "user:dave", "DENIED", undefined],
    ]);
  });

  it("records each resource a lookup finds: with a chain under agents, always under all", async () => {
    const { latch } = await open({ mode: "sync" });
    await latch.store.write([
      { operation: "touch", relationship: parseRelationship("room:403#booker@user:alice") },
    ]);
    const lookup = (extra: object) => ({
      resourceType: "room",
      permission: "reserve",
      subject: alice,
      ...extra,
    });
    const plain: string[] = [];
    for await (const r of latch.decider.lookupResources(lookup({}))) plain.push(r.resourceId);
    expect(plain).toEqual(["401", "403"]);
    expect(await records(latch)).toEqual([]);
    const found: string[] = [];
    for await (const r of latch.decider.lookupResources(
      lookup({ onBehalfOf: [{ type: "user", id: "zed" }] }),
    )) {
      found.push(r.resourceId);
      break; // a consumer that stops early: what it was given is recorded
    }
    expect(found).toEqual(["401"]);
    expect((await records(latch)).map((r) => [r.operation, r.resource, r.onBehalfOf, r.answer])).toEqual([
      ["lookup-resources", "room:401", ["user:zed"], "ALLOWED"],
    ]);

    const every = await open({ mode: "async", policy: "all" });
    for await (const _ of every.latch.decider.lookupResources(lookup({}))) {
      // drain
    }
    await every.recorder.flush();
    expect((await records(every.latch)).map((r) => r.resource)).toEqual(["room:401"]);
  });

  it("sync: refuses the decision with audit/unavailable when it cannot be recorded", async () => {
    const errors: unknown[] = [];
    const failing = failingLog();
    const { latch, recorder } = await open(
      { mode: "sync", policy: "all", onError: (e) => errors.push(e) },
      failing,
    );
    await expect(latch.decider.check(check("room:401", "user:alice"))).rejects.toMatchObject({
      code: "audit/unavailable",
      kind: "unavailable",
    });
    expect(errors).toHaveLength(1);
    expect(recorder.stats()).toMatchObject({ failed: 1, written: 0, dropped: 0 });
  });

  it("sync under agents (the default): refuses a DENIED decision it cannot record, on either path", async () => {
    const errors: unknown[] = [];
    // On the engine over its in-memory copy: its answer at once, recorded on this turn.
    const { latch, recorder } = await open(
      { mode: "sync", onError: (e) => errors.push(e) },
      failingLog(),
      true,
    );
    const denied = check("room:401", "user:carol");
    // The premise, once a first check has resolved a revision and its plan: an answer, not a promise.
    await latch.engine.check(denied);
    expect(checkNowOf(latch.engine.check)!(denied)).not.toBeInstanceOf(Promise);
    await expect(latch.decider.check(denied)).rejects.toMatchObject({
      code: "audit/unavailable",
      kind: "unavailable",
    });
    expect(errors).toHaveLength(1);
    expect(recorder.stats()).toMatchObject({ failed: 1, written: 0, dropped: 0 });
    // A plain ALLOWED is not recorded under agents: nothing to fail.
    expect((await latch.decider.check(check("room:401", "user:alice"))).state).toBe("ALLOWED");
    expect(recorder.stats().failed).toBe(1);

    // On a decider below that answers through a thenable: the answer is awaited, then recorded.
    const later = createAuditRecorder({ log: failingLog(), mode: "sync", onError: (e) => errors.push(e) });
    const below = {
      check: (request: CheckRequest) => Promise.resolve().then(() => latch.engine.check(request)),
    } as never;
    await expect(later.decorator(below).check(denied)).rejects.toMatchObject({
      code: "audit/unavailable",
      kind: "unavailable",
    });
    expect(errors).toHaveLength(2);
    expect(later.stats()).toMatchObject({ failed: 1, written: 0, dropped: 0 });
    await later.close();
    // And a kept decision (policy all) through that decider below.
    const kept = createAuditRecorder({
      log: failingLog(),
      mode: "sync",
      policy: "all",
      onError: (e) => errors.push(e),
    });
    await expect(kept.decorator(below).check(check("room:401", "user:alice"))).rejects.toMatchObject({
      code: "audit/unavailable",
    });
    expect(kept.stats()).toMatchObject({ failed: 1, written: 0 });
    await kept.close();
  });

  it("sync with allow-and-alert: answers a decision it cannot record, tells onError and counts it", async () => {
    const errors: unknown[] = [];
    const failing = failingLog();
    const { latch, recorder } = await open(
      { mode: "sync", policy: "all", failure: "allow-and-alert", onError: (e) => errors.push(e) },
      failing,
    );
    expect((await latch.decider.check(check("room:401", "user:alice"))).state).toBe("ALLOWED");
    expect(errors).toHaveLength(1);
    expect(recorder.stats()).toMatchObject({ failed: 1, written: 0, dropped: 0 });
  });

  it("refuses failure deny with async mode (it never waits for a record) and an unknown failure", () => {
    const log = {} as DecisionLog;
    expect(() => createAuditRecorder({ log, mode: "async", failure: "deny" })).toThrow(/failure `deny`/);
    expect(() => createAuditRecorder({ log, mode: "sync", failure: "shrug" as never })).toThrow(/failure/);
    expect(createAuditRecorder({ log, mode: "async", failure: "allow-and-alert" }).stats().failed).toBe(0);
  });

  it("sync: concurrent decisions share appends (group commit) and each waits for its own", async () => {
    let appends = 0;
    const { latch } = await open({ mode: "sync", policy: "all" });
    const log = latch.store.decisions;
    const counting: DecisionLog = {
      ...log,
      append: async (r: readonly DecisionRecord[]): Promise<readonly StoredDecision[]> => {
        appends += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return log.append(r);
      },
    };
    const recorder = createAuditRecorder({ log: counting, mode: "sync", policy: "all" });
    const decider = recorder.decorator(latch.engine);
    await Promise.all(Array.from({ length: 20 }, (_, i) => decider.check(check("room:401", `user:u${i}`))));
    expect((await log.read()).length).toBe(20);
    expect(appends).toBeLessThan(20);
    expect(recorder.stats()).toMatchObject({ written: 20, dropped: 0 });
  });

  it("async: answers without waiting, appends in batches, drops and counts past the queue limit", async () => {
    const { latch } = await open({ policy: "all" });
    const log = latch.store.decisions;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: DecisionLog = {
      ...log,
      append: async (r: readonly DecisionRecord[]) => {
        await gate;
        return log.append(r);
      },
    };
    const recorder = createAuditRecorder({ log: slow, policy: "all", queueLimit: 5, batchSize: 2 });
    const decider = recorder.decorator(latch.engine);
    for (let i = 0; i < 8; i++) await decider.check(check("room:401", `user:u${i}`));
    // A full batch (u0, u1) is taken at once and waits on the slow log; the queue then holds the
    // next five and drops the eighth.
    expect(recorder.stats()).toMatchObject({ queued: 5, dropped: 1, written: 0 });
    release();
    await recorder.flush();
    expect(recorder.stats()).toEqual({ queued: 0, dropped: 1, written: 7, failed: 0 });
    expect((await log.read()).map((d) => d.record.subject)).toEqual([
      "user:u0",
      "user:u1",
      "user:u2",
      "user:u3",
      "user:u4",
      "user:u5",
      "user:u6",
    ]);
    expect(await log.verify()).toMatchObject({ ok: true, records: 7 });
  });

  it("refuses an unknown policy or mode", () => {
    const log = {} as DecisionLog;
    expect(() => createAuditRecorder({ log, policy: "most" as never })).toThrow(
      expect.objectContaining({ code: "audit/invalid-option" }),
    );
    expect(() => createAuditRecorder({ log, mode: "later" as never })).toThrow(
      expect.objectContaining({ code: "audit/invalid-option" }),
    );
  });
});

describe("decision sentences", () => {
  it("reads a record as one line", () => {
    expect(
      decisionSentence({
        time: "2026-05-15T14:00:02.000Z",
        operation: "check",
        subject: "agent:calendar-bot-v2",
        onBehalfOf: ["user:alice"],
        resource: "room:401",
        permission: "reserve",
        answer: "ALLOWED",
        witness: ["room:401#booker@user:alice", "user:alice#delegate@agent:calendar-bot-v2"],
      }),
    ).toBe(
      "2026-05-15T14:00:02Z agent:calendar-bot-v2 acting for user:alice: reserve on room:401 ALLOWED via room:401#booker@user:alice, user:alice#delegate@agent:calendar-bot-v2",
    );
    expect(
      decisionSentence({
        time: "2026-05-15T14:00:03.120Z",
        operation: "check",
        subject: "user:bob",
        resource: "room:402",
        permission: "reserve",
        answer: "CONDITIONAL",
        missing: ["ip"],
        caller: "ci",
        requestId: "r-9",
      }),
    ).toBe(
      "2026-05-15T14:00:03Z user:bob: reserve on room:402 CONDITIONAL (missing ip) [caller ci, request r-9]",
    );
  });
});
