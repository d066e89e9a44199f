/**
 * The captured form of a decision (src/audit/record.ts): what the decision path pushes and the
 * writer thread turns into records. A witness crosses as its relationships' parts and is
 * formatted on the other side, so the round trip must give what formatting it in place gives.
 */
import { describe, expect, it } from "vitest";
import {
  type Captured,
  captureFacts,
  type DecisionFacts,
  encodedRecordsOf,
  isoTime,
  recordsOf,
} from "../../src/audit/record.js";
import { formatRelationshipWithoutContext, parseRelationship } from "../../src/core/index.js";
import { canonicalJson } from "../../src/store/index.js";

const witness = [
  "room:401#booker@group:ops#member",
  'group:ops#member@user:alice[from_office:{"ip":"10.0.0.1"}]',
  "user:alice#delegate@agent:bot[expiration:2027-01-01T00:00:00Z]",
  "doc:1#viewer@user:*[in_window][expiration:2027-05-15T14:00:02.250Z]",
  "doc:1#parent@folder:f#...",
].map(parseRelationship);

function facts(id: string, extra: Partial<DecisionFacts> = {}): DecisionFacts {
  return {
    operation: "check",
    subject: { type: "agent", id: "bot" },
    chain: undefined,
    resource: { type: "room", id },
    permission: "reserve",
    state: "ALLOWED",
    missing: [],
    context: undefined,
    consistency: undefined,
    revision: 7n,
    ...extra,
  };
}

describe("a captured batch", () => {
  it("gives back each record, its witness formatted as in place, across a thread's copy", () => {
    const batch: Captured = [];
    const at = Date.UTC(2026, 4, 15, 14, 0, 2);
    captureFacts(batch, facts("401", { witness }), { requestId: "r1", caller: "ci" }, new Set(), at);
    captureFacts(batch, facts("402", { state: "DENIED" }), undefined, new Set(), at + 1);
    captureFacts(batch, facts("403", { witness: [], sampled: true }), undefined, new Set(), at + 2);
    captureFacts(
      batch,
      facts("404", { witness: witness.slice(0, 1), chain: [{ type: "user", id: "alice" }] }),
      undefined,
      new Set(),
      at + 3,
    );
    // What the writer thread receives is a structured clone.
    const records = recordsOf(structuredClone(batch));
    expect(records.map((r) => r.resource)).toEqual(["room:401", "room:402", "room:403", "room:404"]);
    expect(records[0]).toEqual({
      time: "2026-05-15T14:00:02.000Z",
      operation: "check",
      subject: "agent:bot",
      resource: "room:401",
      permission: "reserve",
      answer: "ALLOWED",
      consistency: "minimize-latency",
      revision: "7",
      requestId: "r1",
      caller: "ci",
      witness: witness.map(formatRelationshipWithoutContext),
    });
    expect(records[0]!.witness).toEqual([
      "room:401#booker@group:ops#member",
      "group:ops#member@user:alice[from_office]",
      "user:alice#delegate@agent:bot[expiration:2027-01-01T00:00:00Z]",
      "doc:1#viewer@user:*[in_window][expiration:2027-05-15T14:00:02.250Z]",
      "doc:1#parent@folder:f",
    ]);
    expect(records[1]).not.toHaveProperty("witness");
    expect(records[1]!.answer).toBe("DENIED");
    expect(records[2]).not.toHaveProperty("witness");
    expect(records[2]!.sampled).toBe(true);
    expect(records[3]!.witness).toEqual(["room:401#booker@group:ops#member"]);
    expect(records[3]!.onBehalfOf).toEqual(["user:alice"]);
    expect(records[3]!.time).toBe("2026-05-15T14:00:02.003Z");
  });
});

describe("a captured batch in its stored form", () => {
  const at = Date.UTC(2026, 4, 15, 14, 0, 2, 7);
  /** What the general path stores for the same batch: each record built, then encoded. */
  const general = (batch: Captured) =>
    recordsOf(batch).map((r) => ({ at: Date.parse(r.time), subject: r.subject, body: canonicalJson(r) }));

  it("is what building and encoding each record gives, byte for byte, plain or not", () => {
    const batch: Captured = [];
    const odd = ['quote"d', "back\\slash", "tab\there", "lone\ud800", "emoji 😀", "é", "</script>"];
    captureFacts(batch, facts("401", { witness }), { requestId: "r1", caller: "ci" }, new Set(), at);
    captureFacts(batch, facts("402", { state: "DENIED" }), undefined, new Set(), at + 1001);
    captureFacts(
      batch,
      facts("403", { latencyUs: 12.5, consistency: { kind: "fully-consistent" } }),
      undefined,
      new Set(),
      at,
    );
    captureFacts(batch, facts("404", { sampled: true, witness }), undefined, new Set(), at);
    captureFacts(batch, facts("405", { latencyUs: -0 }), { caller: "" }, new Set(), at);
    for (const [n, text] of odd.entries()) {
      captureFacts(batch, facts(`5${n}`, { permission: text }), { requestId: text }, new Set(), at + n);
      captureFacts(batch, facts(`6${n}`), { caller: text }, new Set(), at - n * 86_400_000);
    }
    const copy = structuredClone(batch);
    const stored = encodedRecordsOf(copy);
    expect(stored).toEqual(general(copy));
    expect(stored[0]!.body).toBe(
      '{"answer":"ALLOWED","caller":"ci","consistency":"minimize-latency","operation":"check","permission":"reserve","requestId":"r1","resource":"room:401","revision":"7","subject":"agent:bot","time":"2026-05-15T14:00:02.007Z","witness":["room:401#booker@group:ops#member","group:ops#member@user:alice[from_office]","user:alice#delegate@agent:bot[expiration:2027-01-01T00:00:00Z]","doc:1#viewer@user:*[in_window][expiration:2027-05-15T14:00:02.250Z]","doc:1#parent@folder:f"]}',
    );
    expect(stored[2]!.body).toContain('"latencyUs":12.5');
  });

  it("writes every millisecond's time as Date does, across seconds and days", () => {
    for (let t = at - 5_000; t < at + 5_000; t += 7) expect(isoTime(t)).toBe(new Date(t).toISOString());
    for (const t of [0, -1, 1.5, 8.64e15, Date.UTC(2026, 11, 31, 23, 59, 59, 999)])
      expect(isoTime(t)).toBe(new Date(t).toISOString());
  });
});
