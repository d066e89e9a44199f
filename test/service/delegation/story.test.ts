/**
 * The scenario of issue 14, told as it happens: agent:calendar-bot-v2, acting on behalf of
 * user:alice, reserves room:401. The agent reaches nothing alone, never more than alice, and only
 * what alice's delegation is scoped to; and the audit trail tells afterwards, in one sentence, who
 * did what for whom and which relationships allowed it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditRecorder, createAuditRecorder, decisionSentence } from "../../../src/audit/index.js";
import { parseRelationship } from "../../../src/core/index.js";
import type { CheckRequest } from "../../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import { createSqliteStore } from "../../../src/store/sqlite/index.js";

const SCHEMA = `
caveat scoped_to(requested_permission string, allowed list<string>) {
  requested_permission in allowed
}
definition agent {}
definition user {
  relation delegate: agent with scoped_to
}
definition room {
  relation manager: user
  relation booker: user | agent
  permission reserve = booker + manager
  permission cancel_others = manager
}`;

const bot = { type: "agent", id: "calendar-bot-v2" } as const;
const alice = { type: "user", id: "alice" } as const;
const room = (id: string) => ({ type: "room", id });

describe("agent:calendar-bot-v2, acting on behalf of user:alice, reserves room:401", () => {
  let latch: OpenedLatch;
  let recorder: AuditRecorder;
  const consistency = { kind: "fully-consistent" } as const;
  const decide = async (request: Omit<CheckRequest, "consistency">) =>
    (await latch.decider.check({ ...request, consistency })).state;

  beforeAll(async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    // Every decision that acts for someone is recorded (the default policy), committed before
    // its answer leaves; the clock is the scenario's.
    recorder = createAuditRecorder({
      log: store.decisions,
      mode: "sync",
      now: () => Date.parse("2026-05-15T14:00:02Z"),
    });
    latch = await openLatch({ store, schema: SCHEMA, mirror: false, decorators: [recorder.decorator] });
    await latch.store.write(
      [
        // alice manages room:401 and books it: she may reserve it and cancel others' bookings there.
        "room:401#manager@user:alice",
        "room:401#booker@user:alice",
        // The bot has a booking right of its own on room:402, where alice has none.
        "room:402#booker@agent:calendar-bot-v2",
        // alice lets her calendar agent reserve rooms for her, and nothing else.
        'user:alice#delegate@agent:calendar-bot-v2[scoped_to:{"allowed":["room#reserve"]}]',
      ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
    );
  });
  afterAll(() => latch.close());

  it("the agent alone holds no grant on room:401", async () => {
    expect(await decide({ resource: room("401"), permission: "reserve", subject: bot })).toBe("DENIED");
  });

  it("acting for alice, with only her delegation (delegated-only), it reserves room:401", async () => {
    expect(
      await decide({
        resource: room("401"),
        permission: "reserve",
        subject: bot,
        onBehalfOf: [alice],
        subjectGrants: "not-required",
      }),
    ).toBe("ALLOWED");
  });

  it("but the delegation is scoped to reserve: it cannot cancel others' bookings, which alice can", async () => {
    expect(await decide({ resource: room("401"), permission: "cancel_others", subject: alice })).toBe(
      "ALLOWED",
    );
    expect(
      await decide({
        resource: room("401"),
        permission: "cancel_others",
        subject: bot,
        onBehalfOf: [alice],
        subjectGrants: "not-required",
      }),
    ).toBe("DENIED");
  });

  it("where alice is denied, the agent acting for her is denied, whatever grants it holds itself", async () => {
    expect(await decide({ resource: room("402"), permission: "reserve", subject: alice })).toBe("DENIED");
    expect(await decide({ resource: room("402"), permission: "reserve", subject: bot })).toBe("ALLOWED");
    expect(
      await decide({ resource: room("402"), permission: "reserve", subject: bot, onBehalfOf: [alice] }),
    ).toBe("DENIED");
  });

  it("explains itself part by part", async () => {
    const answer = await latch.decider.check({
      resource: room("401"),
      permission: "cancel_others",
      subject: bot,
      onBehalfOf: [alice],
      subjectGrants: "not-required",
      consistency,
      explain: true,
    });
    expect(answer.explain?.label).toBe("delegation agent:calendar-bot-v2 for user:alice");
    expect(answer.explain?.children?.map((c) => `${c.label} ${c.state}`)).toEqual([
      "link user:alice#delegate@agent:calendar-bot-v2 DENIED",
      "principal room:401#cancel_others@user:alice ALLOWED",
    ]);
  });

  it("with its own grants required (the default), it needs them as well as alice's", async () => {
    expect(
      await decide({ resource: room("401"), permission: "reserve", subject: bot, onBehalfOf: [alice] }),
    ).toBe("DENIED");
  });

  it("lists exactly the rooms it may reserve for alice", async () => {
    const found: string[] = [];
    for await (const r of latch.decider.lookupResources({
      resourceType: "room",
      permission: "reserve",
      subject: bot,
      onBehalfOf: [alice],
      subjectGrants: "not-required",
      consistency,
    }))
      found.push(`${r.resourceId} ${r.state}`);
    expect(found).toEqual(["401 ALLOWED"]);
  });

  it("answers a bulk check the same way, item by item", async () => {
    const answer = await latch.decider.checkBulk({
      consistency,
      items: [
        {
          resource: room("401"),
          permission: "reserve",
          subject: bot,
          onBehalfOf: [alice],
          subjectGrants: "not-required",
        },
        {
          resource: room("401"),
          permission: "cancel_others",
          subject: bot,
          onBehalfOf: [alice],
          subjectGrants: "not-required",
        },
        { resource: room("402"), permission: "reserve", subject: bot },
        { resource: room("402"), permission: "reserve", subject: bot, onBehalfOf: [alice] },
      ],
    });
    expect(answer.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual([
      "ALLOWED",
      "DENIED",
      "ALLOWED",
      "DENIED",
    ]);
  });

  it("the audit query tells what the agent did for alice, and which relationships allowed it", async () => {
    const sentences = (await latch.store.decisions.read({ subject: "agent:calendar-bot-v2" })).map((d) =>
      decisionSentence(d.record),
    );
    expect(sentences).toContain(
      "2026-05-15T14:00:02Z agent:calendar-bot-v2 acting for user:alice: reserve on room:401 ALLOWED via room:401#booker@user:alice, user:alice#delegate@agent:calendar-bot-v2[scoped_to]",
    );
    // A DENIED answer has no witness; the agent alone on room:402 (allowed, no chain) is not kept.
    expect(sentences).toContain(
      "2026-05-15T14:00:02Z agent:calendar-bot-v2 acting for user:alice: cancel_others on room:401 DENIED",
    );
    expect(sentences.filter((s) => s.includes(" room:402 ALLOWED"))).toEqual([]);
    expect(recorder.stats().dropped).toBe(0);
  });
});
