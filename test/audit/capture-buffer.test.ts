/**
 * The decision path's capture buffer (src/audit/capture-buffer.ts): whatever it is given, the
 * writer's side must turn it back into exactly what `captureFacts` pushes, across a thread's copy,
 * batch after batch, with the dictionary of names sent once and in parts. (That a new writer thread
 * is sent the whole dictionary is test/audit/writer-thread.test.ts's thread that dies.)
 */
import { describe, expect, it } from "vitest";
import {
  CaptureBuffer,
  type CapturedBatch,
  capturedOf,
  ReceivedNames,
} from "../../src/audit/capture-buffer.js";
import {
  type AuditCallInfo,
  type Captured,
  captureFacts,
  checkFacts,
  type DecisionFacts,
  plainCheck,
  rarePartsOf,
  recordsOf,
} from "../../src/audit/record.js";
import { parseRelationship, type Relationship } from "../../src/core/index.js";
import type { CheckRequest, CheckResult } from "../../src/engine/index.js";
import { encodeDecision } from "../../src/store/index.js";

const witness = [
  "room:401#booker@group:ops#member",
  'group:ops#member@user:alice[from_office:{"ip":"10.0.0.1"}]',
  "user:alice#delegate@agent:bot[expiration:2027-01-01T00:00:00Z]",
  "doc:1#viewer@user:*[in_window][expiration:2027-05-15T14:00:02.250Z]",
  "doc:1#parent@folder:f#...",
].map(parseRelationship);

const loggable = new Set(["purpose"]);

/** A spread of decisions: every optional part present and absent, in varying combinations. */
function decision(i: number): { facts: DecisionFacts; info: AuditCallInfo | undefined; at: number } {
  const facts: DecisionFacts = {
    operation: ["check", "check-bulk", "lookup-resources"][i % 3]!,
    subject: i % 4 === 0 ? { type: "group", id: `g${i}`, relation: "member" } : { type: "user", id: `u${i}` },
    chain: i % 5 === 0 ? [{ type: "user", id: "alice" }] : undefined,
    subjectGrants: i % 10 === 0 ? "not-required" : undefined,
    // Ids cross in one text, cut by their lengths (UTF-16 units): non-ASCII ones and empty ones too.
    resource: { type: i % 2 === 0 ? "document" : "room", id: i % 19 === 0 ? `dök-😀-${i}` : `r-${i}` },
    permission: ["view", "edit", "reserve"][i % 3]!,
    state: (["ALLOWED", "DENIED", "CONDITIONAL"] as const)[i % 3]!,
    missing: i % 3 === 2 ? ["clearance"] : [],
    context: i % 6 === 0 ? { purpose: "support", ip: "10.0.0.1", n: 7n } : undefined,
    consistency: i % 7 === 0 ? { kind: "fully-consistent" } : undefined,
    revision: i % 11 === 0 ? 2n ** 60n + BigInt(i) : BigInt(1000 + (i % 4)),
    latencyUs: i % 8 === 0 ? undefined : i * 3,
    reason: i % 13 === 0 ? "suspended" : undefined,
    approvalId: i % 17 === 0 ? `ap-${i}` : undefined,
    approvalRule: i % 17 === 0 ? "big-export" : undefined,
    witness: i % 3 === 1 ? undefined : witness.slice(0, i % (witness.length + 1)),
    sampled: i % 9 === 0 ? true : undefined,
  };
  const info =
    i % 4 === 3
      ? undefined
      : { requestId: i % 2 === 0 ? (i % 10 === 0 ? "" : `req-${i}`) : undefined, caller: `svc-${i % 3}` };
  return { facts, info, at: Date.UTC(2026, 11, 4) + i };
}

/** The writer thread's side: the dictionary grows by what each message carries. */
function threadSide() {
  const names: string[] = [];
  let sent = 0;
  return (batch: CapturedBatch): Captured => {
    const message = structuredClone({
      batch: { numbers: batch.numbers, length: batch.length, text: batch.text, rare: batch.rare },
      names: batch.names.slice(sent, batch.namesUpTo),
    });
    sent = batch.namesUpTo;
    names.push(...message.names);
    return capturedOf(message.batch, names);
  };
}

/** A batch with its buffer cut to the slots it holds (the rest of the buffer is not its own). */
function used(batch: CapturedBatch) {
  return { ...batch, numbers: batch.numbers.slice(0, batch.length) };
}

function expected(from: number, to: number): Captured {
  const out: Captured = [];
  for (let i = from; i < to; i++) {
    const { facts, info, at } = decision(i);
    captureFacts(out, facts, info, loggable, at);
  }
  return out;
}

describe("the capture buffer", () => {
  it("gives back what captureFacts pushes, batch after batch, with names sent once", () => {
    const buffer = new CaptureBuffer(loggable, undefined);
    const receive = threadSide();
    // Batches of several sizes; the second is large enough to grow the buffer (4,096 slots).
    const bounds = [0, 7, 400, 401, 530];
    const batches: CapturedBatch[] = [];
    for (let b = 1; b < bounds.length; b++) {
      for (let i = bounds[b - 1]!; i < bounds[b]!; i++) {
        const { facts, info, at } = decision(i);
        buffer.capture(facts, info, at);
      }
      expect(buffer.count).toBe(bounds[b]! - bounds[b - 1]!);
      batches.push(buffer.take());
      expect(buffer.count).toBe(0);
    }
    // Each batch keeps its own slots although the buffer was reused after it.
    batches.forEach((batch, b) => {
      expect(batch.count).toBe(bounds[b + 1]! - bounds[b]!);
      expect(receive(batch)).toEqual(expected(bounds[b]!, bounds[b + 1]!));
    });
    // Names were sent once: the last batches brought none that the first ones had not.
    expect(batches[3]!.namesUpTo).toBe(batches[2]!.namesUpTo);
    expect(new Set(batches[3]!.names).size).toBe(batches[3]!.names.length);
  });

  it("captures later batches into the buffers the writer gives back, whatever they held", () => {
    const buffer = new CaptureBuffer(loggable, undefined);
    const receive = threadSide();
    const captureRange = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const { facts, info, at } = decision(i);
        buffer.capture(facts, info, at);
      }
      return buffer.take();
    };
    // A large batch, read and given back while the next is open (in a buffer of its own); the
    // batch after that goes into the buffer given back, over what the large batch left there.
    const large = captureRange(0, 300);
    expect(receive(large)).toEqual(expected(0, 300));
    buffer.reuse(large.numbers);
    const next = captureRange(300, 305);
    expect(next.numbers).not.toBe(large.numbers);
    const small = captureRange(305, 310);
    expect(small.numbers).toBe(large.numbers);
    expect(receive(next)).toEqual(expected(300, 305));
    expect(receive(small)).toEqual(expected(305, 310));
    // A batch larger than its buffer grows it, keeping what was written.
    const first = captureRange(310, 320);
    buffer.reuse(first.numbers);
    const tiny = first.numbers.length;
    const grown = captureRange(320, 320 + Math.ceil(tiny / 8));
    expect(grown.length).toBeGreaterThan(tiny);
    expect(receive(grown)).toEqual(expected(320, 320 + Math.ceil(tiny / 8)));
  });

  it("holds none of a closed batch's ids once the batch is taken", () => {
    const buffer = new CaptureBuffer(loggable, undefined);
    for (let i = 0; i < 50; i++) {
      const { facts, info, at } = decision(i);
      buffer.capture(facts, info, at);
    }
    const batch = buffer.take();
    expect(batch.text.length).toBeGreaterThan(0);
    // The id list is private; what matters is that it keeps no strings of a batch that has left.
    const kept = (buffer as unknown as { ids: string[] }).ids;
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.every((id) => id === "")).toBe(true);
  });

  it("sends an id its decision repeats once, whether witness rows repeat the request's ids or not", () => {
    const buffer = new CaptureBuffer(loggable, undefined);
    const proofs = [
      // A direct grant: both ids are the request's.
      ["document:d1#viewer@user:alice"],
      // A group: the first row's resource is the document, the second's the group above it.
      ["document:d1#viewer@group:eng#member", "group:eng#member@user:alice"],
      // A folder, then a union branch that starts over at the document.
      ["document:d1#parent@folder:f", "folder:f#viewer@user:alice", "document:d1#owner@user:alice"],
      // Ids that repeat nothing (another subject, a wildcard) and a row that names the same id twice.
      ["document:d2#viewer@user:*", "group:g#member@group:g#member", "user:bob#delegate@agent:alice"],
    ].map((rows) => rows.map(parseRelationship));
    const facts = proofs.map(
      (witness): DecisionFacts => ({
        ...decision(3).facts,
        subject: { type: "user", id: "alice" },
        resource: { type: "document", id: "d1" },
        witness,
      }),
    );
    for (const f of facts) buffer.capture(f, undefined, 1);
    const batch = buffer.take();
    const out: Captured = [];
    for (const f of facts) captureFacts(out, f, undefined, loggable, 1);
    expect(threadSide()(batch)).toEqual(out);
    // Each decision's text: its subject's and resource's ids, then only the witness ids that
    // repeat neither the subject's nor the one above them (the resource's, for the first row).
    expect(batch.text).toBe(["aliced1", "aliced1eng", "aliced1fd1", "aliced1d2*ggbob"].join(""));
  });

  it("codes a name alike whether it comes as V8's unique string of it or as another copy", () => {
    // Names in witness rows, operations and answers usually come interned (the in-memory copy's,
    // string literals) and are then compared by reference; a copy made at run time is not interned.
    const copy = (name: string) => `#${name}`.slice(1);
    const fresh = (r: Relationship): Relationship => ({
      ...r,
      resource: { type: copy(r.resource.type), id: r.resource.id },
      relation: copy(r.relation),
      subject: {
        type: copy(r.subject.type),
        id: r.subject.id,
        ...(r.subject.relation === undefined ? {} : { relation: copy(r.subject.relation) }),
      },
    });
    const buffer = new CaptureBuffer(loggable, undefined);
    const facts: DecisionFacts[] = [];
    for (let i = 0; i < 60; i++) {
      const base = decision(i).facts;
      const copied = i % 2 === 1;
      facts.push({
        ...base,
        operation: copied ? copy(base.operation) : base.operation,
        state: (copied ? copy(base.state) : base.state) as DecisionFacts["state"],
        witness: copied ? base.witness?.map(fresh) : base.witness,
      });
    }
    for (const f of facts) buffer.capture(f, undefined, 1);
    const batch = buffer.take();
    const out: Captured = [];
    for (const f of facts) captureFacts(out, f, undefined, loggable, 1);
    expect(threadSide()(batch)).toEqual(out);
    // Each name once in the dictionary, however many copies of it came.
    expect(new Set(batch.names.slice(0, batch.namesUpTo)).size).toBe(batch.namesUpTo);
  });

  it("sends names past its dictionary's limit as strings, like ids", () => {
    const buffer = new CaptureBuffer(loggable, undefined, 3);
    for (let i = 0; i < 20; i++) {
      const { facts, info, at } = decision(i);
      buffer.capture(facts, info, at);
    }
    const batch = buffer.take();
    expect(batch.namesUpTo).toBe(3);
    expect(threadSide()(batch)).toEqual(expected(0, 20));
  });

  it("captures a plain Check from its request and answer as from its facts, and knows which are plain", () => {
    const viaFacts = new CaptureBuffer(loggable, "embedded");
    const direct = new CaptureBuffer(loggable, "embedded");
    let plain = 0;
    for (let i = 0; i < 60; i++) {
      const { facts, info, at } = decision(i);
      const request = {
        subject: facts.subject,
        resource: facts.resource,
        permission: facts.permission,
        consistency: facts.consistency,
        ...(facts.context === undefined ? {} : { context: facts.context }),
        ...(facts.chain === undefined ? {} : { onBehalfOf: facts.chain }),
        ...(facts.subjectGrants === undefined ? {} : { subjectGrants: facts.subjectGrants }),
      } as CheckRequest;
      const result = {
        state: facts.state,
        missing: facts.missing,
        revision: facts.revision,
        token: "t",
        ...(facts.witness === undefined ? {} : { witness: facts.witness }),
        ...(facts.reason === undefined ? {} : { reason: facts.reason }),
        ...(facts.approvalId === undefined ? {} : { approvalId: facts.approvalId }),
        ...(facts.approvalRule === undefined ? {} : { approvalRule: facts.approvalRule }),
        ...(i % 23 === 0 ? { explain: { label: "x", state: facts.state } } : {}),
      } as CheckResult;
      const asFacts = checkFacts(request, result, facts.chain, facts.latencyUs);
      expect(plainCheck(request, result)).toBe(rarePartsOf(asFacts, loggable) === undefined);
      if (!plainCheck(request, result)) continue;
      plain += 1;
      viaFacts.capture(asFacts, info, at);
      direct.captureCheck(request, result, facts.latencyUs, info, at);
    }
    // Both kinds were met, and the plain ones gave the same slots, text and names.
    expect(plain).toBeGreaterThan(5);
    expect(plain).toBeLessThan(60);
    expect(used(direct.take())).toEqual(used(viaFacts.take()));
  });
});

describe("the writer's side of the dictionary", () => {
  /** Plain decisions (no rare parts), `odd` in the slot `where` of the `n`th. */
  function plainBatch(
    buffer: CaptureBuffer,
    from: number,
    odd?: { n: number; where: "id" | "name"; text: string },
  ): CapturedBatch {
    for (let i = from; i < from + 12; i++) {
      const { facts, at } = decision(i);
      const text = odd?.n === i ? odd.text : undefined;
      const plain: DecisionFacts = {
        ...facts,
        chain: undefined,
        subjectGrants: undefined,
        missing: [],
        context: undefined,
        reason: undefined,
        approvalId: undefined,
        approvalRule: undefined,
        sampled: undefined,
        resource: odd?.where === "id" && text !== undefined ? { type: "doc", id: text } : facts.resource,
        permission: odd?.where === "name" && text !== undefined ? text : facts.permission,
      };
      buffer.capture(plain, { requestId: `req-${i}`, caller: "svc" }, at);
    }
    return buffer.take();
  }

  it("encodes each batch as building and encoding each record does, byte for byte, escapes or not", () => {
    const buffer = new CaptureBuffer(loggable, undefined);
    const received = new ReceivedNames();
    const batches = [
      plainBatch(buffer, 0),
      // Escapes in the text: that batch alone; then in a name: every batch after it.
      plainBatch(buffer, 100, { n: 103, where: "id", text: 'q"uote' }),
      plainBatch(buffer, 200),
      plainBatch(buffer, 300, { n: 305, where: "id", text: "lone\ud800 and 😀" }),
      plainBatch(buffer, 400, { n: 401, where: "name", text: "back\\slash\n" }),
      plainBatch(buffer, 500),
      // A batch with rare parts and witnesses of every kind, after all that.
      (() => {
        for (let i = 0; i < 40; i++) {
          const { facts, info, at } = decision(i);
          buffer.capture(facts, info, at);
        }
        return buffer.take();
      })(),
    ];
    let sent = 0;
    const bodies: string[] = [];
    for (const batch of batches) {
      const message = structuredClone({
        batch: { numbers: batch.numbers, length: batch.length, text: batch.text, rare: batch.rare },
        names: batch.names.slice(sent, batch.namesUpTo),
      });
      sent = batch.namesUpTo;
      received.add(message.names);
      const stored = received.encoded(message.batch);
      expect(stored).toEqual(recordsOf(capturedOf(message.batch, received.names)).map(encodeDecision));
      bodies.push(...stored.map((r) => r.body));
    }
    expect(bodies.some((b) => b.includes('"resource":"doc:q\\"uote"'))).toBe(true);
    expect(bodies.some((b) => b.includes('"permission":"back\\\\slash\\n"'))).toBe(true);
    expect(bodies.some((b) => b.includes('"resource":"doc:lone\\ud800 and 😀"'))).toBe(true);
  });
});
