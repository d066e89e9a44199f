/** The OCSF mapping of stored decisions: the class's required fields, the actor and its chain. */
import { describe, expect, it } from "vitest";
import { OCSF_VERSION, toOcsfEvent } from "../../src/audit/ocsf.js";
import type { DecisionRecord, StoredDecision } from "../../src/store/index.js";

function stored(record: DecisionRecord, seq = 7): StoredDecision {
  return { seq, record, prevHash: "a".repeat(64), hash: `${seq}`.padStart(64, "b") };
}

const base: DecisionRecord = {
  time: "2026-05-15T14:00:02.123Z",
  operation: "check",
  subject: "user:bob",
  resource: "document:q3",
  permission: "read",
  answer: "DENIED",
};

/** The attributes OCSF 1.3 requires of every API Activity event (and of its objects we use). */
function expectRequired(event: Record<string, unknown>) {
  for (const field of [
    "class_uid",
    "category_uid",
    "activity_id",
    "type_uid",
    "severity_id",
    "time",
    "metadata",
    "actor",
    "api",
    "src_endpoint",
  ])
    expect(event, field).toHaveProperty(field);
  expect(event.type_uid).toBe((event.class_uid as number) * 100 + (event.activity_id as number));
  expect(event).toMatchObject({
    class_uid: 6003,
    category_uid: 6,
    metadata: { version: OCSF_VERSION, product: { name: "Latch", vendor_name: "Latch" } },
    api: { operation: expect.any(String) },
    src_endpoint: { name: expect.any(String) },
  });
  expect(Number.isInteger(event.time)).toBe(true);
}

describe("toOcsfEvent", () => {
  it("maps a plain DENIED check: actor, resource, decision, Failure status; a line of valid JSON", () => {
    const event = toOcsfEvent(stored(base), { version: "9.9.9" });
    expectRequired(event);
    const line = JSON.stringify(event);
    expect(line).not.toContain("\n");
    expect(JSON.parse(line)).toEqual(event);
    expect(event).toMatchObject({
      time: Date.parse(base.time),
      activity_id: 99,
      activity_name: "CheckPermission",
      status_id: 2,
      status_detail: "DENIED",
      metadata: { uid: stored(base).hash, sequence: 7, product: { version: "9.9.9" } },
      actor: {
        user: { uid: "user:bob", name: "bob", type: "user" },
        authorizations: [{ decision: "denied", policy: { name: "document#read" } }],
      },
      resources: [{ uid: "document:q3", type: "document", name: "q3" }],
      message: "2026-05-15T14:00:02Z user:bob: read on document:q3 DENIED",
    });
    const actor = event.actor as Record<string, unknown>;
    expect(actor).not.toHaveProperty("session");
    expect(event.unmapped).not.toHaveProperty("on_behalf_of");
    expect(event.unmapped).not.toHaveProperty("witness");
  });

  it("maps a delegated decision's chain, caller, request id and witness", () => {
    const record: DecisionRecord = {
      ...base,
      time: "2026-05-15T14:00:02Z",
      requestId: "req-42",
      caller: "rag-pipeline",
      operation: "check-bulk",
      subject: "agent:calendar-bot-v2",
      onBehalfOf: ["agent:planner", "user:alice"],
      subjectGrants: "not-required",
      resource: "room:401",
      permission: "reserve",
      answer: "ALLOWED",
      witness: ["room:401#booker@user:alice", "user:alice#delegate@agent:planner"],
      latencyUs: 31,
    };
    const event = toOcsfEvent(stored(record, 3));
    expectRequired(event);
    expect(event).toMatchObject({
      status_id: 1,
      activity_name: "CheckBulkPermissions",
      actor: {
        user: { uid: "agent:calendar-bot-v2", type: "agent" },
        app_name: "rag-pipeline",
        session: { issuer: "user:alice" },
        authorizations: [
          {
            decision: "allowed",
            policy: {
              name: "room#reserve",
              desc: "granted via room:401#booker@user:alice, user:alice#delegate@agent:planner",
            },
          },
        ],
      },
      api: { request: { uid: "req-42" } },
      src_endpoint: { name: "rag-pipeline" },
      unmapped: {
        on_behalf_of: ["agent:planner", "user:alice"],
        subject_grants: "not-required",
        witness: record.witness,
        latency_us: 31,
        chain: { seq: 3, hash: stored(record, 3).hash },
      },
    });
    expect(event.message).toContain("agent:calendar-bot-v2 acting for agent:planner acting for user:alice");
    expect(event.message).toContain("via room:401#booker@user:alice");
  });

  it("a DENIED answer with a reason (outside an actor token's scope) carries it in the status detail", () => {
    const reason =
      "outside the actor token's scope (document#view): it lists neither export nor document#export";
    const event = toOcsfEvent(stored({ ...base, permission: "export", onBehalfOf: ["user:alice"], reason }));
    expect(event).toMatchObject({
      status_id: 2,
      status_detail: `DENIED: ${reason}`,
      actor: { session: { issuer: "user:alice" } },
      unmapped: { reason, on_behalf_of: ["user:alice"] },
    });
    expect(event.message).toContain(`DENIED (${reason})`);
  });

  it("a CONDITIONAL answer is status Other with its missing parameters", () => {
    const event = toOcsfEvent(stored({ ...base, answer: "CONDITIONAL", missing: ["ip"] }));
    expect(event).toMatchObject({ status_id: 99, unmapped: { missing: ["ip"] } });
  });
});
