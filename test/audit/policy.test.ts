/**
 * The recorder's finer policy under `agents`: `include` (every decision on listed resource types
 * or permissions) and `sample` (a share of the plain decisions, drawn before each from an
 * injectable random source, marked `sampled`).
 */
import { afterEach, describe, expect, it } from "vitest";
import { type AuditOptions, createAuditRecorder, decisionSentence } from "../../src/audit/index.js";
import { parseRelationship } from "../../src/core/index.js";
import type { CheckRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import type { DecisionLog, DecisionRecord } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const SCHEMA = `
definition user {}

definition document {
  relation reader: user
  permission read = reader
  permission export = reader
}

definition folder {
  relation reader: user
  permission read = reader
}
`;

const opened: OpenedLatch[] = [];
afterEach(async () => {
  for (const latch of opened.splice(0)) await latch.close();
});

async function open(options: Omit<AuditOptions, "log">) {
  const store = await createSqliteStore({ path: ":memory:" });
  const recorder = createAuditRecorder({ mode: "sync", ...options, log: store.decisions });
  const latch = await openLatch({ store, schema: SCHEMA, mirror: false, decorators: [recorder.decorator] });
  opened.push(latch);
  await latch.store.write(
    ["document:a#reader@user:alice", "document:b#reader@user:alice", "folder:f#reader@user:alice"].map(
      (text) => ({ operation: "touch" as const, relationship: parseRelationship(text) }),
    ),
  );
  return { latch, recorder };
}

const check = (resource: string, permission: string, subject = "user:alice"): CheckRequest => ({
  resource: { type: resource.split(":")[0]!, id: resource.split(":")[1]! },
  permission,
  subject: { type: subject.split(":")[0]!, id: subject.split(":")[1]! },
});

async function records(latch: OpenedLatch): Promise<DecisionRecord[]> {
  return (await latch.store.decisions.read()).map((d) => d.record);
}

/** A seeded random source (mulberry32): the same draws for the recorder and the test's count. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Returns the given draws in turn. */
function draws(...values: number[]): () => number {
  let i = 0;
  return () => {
    const value = values[i++];
    if (value === undefined) throw new Error("the recorder drew more often than the test expected");
    return value;
  };
}

describe("audit include", () => {
  it("records every decision on an included type, with its witness; others as agents does", async () => {
    const { latch } = await open({ include: ["folder"] });
    expect((await latch.decider.check(check("folder:f", "read"))).state).toBe("ALLOWED");
    expect((await latch.decider.check(check("document:a", "read"))).state).toBe("ALLOWED");
    expect((await latch.decider.check(check("document:a", "read", "user:bob"))).state).toBe("DENIED");
    const got = await records(latch);
    expect(got.map((r) => [r.resource, r.permission, r.answer])).toEqual([
      ["folder:f", "read", "ALLOWED"],
      ["document:a", "read", "DENIED"],
    ]);
    expect(got[0]!.witness).toEqual(["folder:f#reader@user:alice"]);
    expect(got[0]!.sampled).toBeUndefined();
  });

  it("TYPE#PERMISSION includes that permission only, in Check, CheckBulk and LookupResources", async () => {
    const { latch } = await open({ include: ["document#export"] });
    await latch.decider.check(check("document:a", "export"));
    await latch.decider.check(check("document:a", "read"));
    await latch.decider.check(check("folder:f", "read"));
    const bulk = await latch.decider.checkBulk({
      items: [check("document:b", "read"), check("document:b", "export")],
    });
    // The caller did not ask for witnesses: it gets none, though the recorder asked.
    expect(bulk.results.every((r) => !("witness" in r))).toBe(true);
    const lookup = (permission: string) => ({
      resourceType: "document",
      permission,
      subject: { type: "user", id: "alice" },
    });
    for await (const _ of latch.decider.lookupResources(lookup("read"))) {
      // drain: not included, nothing recorded
    }
    for await (const _ of latch.decider.lookupResources(lookup("export"))) {
      // drain: one record per resource found
    }
    expect((await records(latch)).map((r) => [r.operation, r.resource, r.permission, r.witness])).toEqual([
      ["check", "document:a", "export", ["document:a#reader@user:alice"]],
      ["check-bulk", "document:b", "export", ["document:b#reader@user:alice"]],
      ["lookup-resources", "document:a", "export", ["document:a#reader@user:alice"]],
      ["lookup-resources", "document:b", "export", ["document:b#reader@user:alice"]],
    ]);
  });

  it("refuses a malformed entry, and include with a policy other than agents", () => {
    const log = {} as DecisionLog;
    for (const entry of ["", "Document", "document#", "document:a", "a b", "#read"]) {
      expect(() => createAuditRecorder({ log, include: [entry] }), entry).toThrow(
        expect.objectContaining({
          code: "audit/invalid-option",
          message: expect.stringContaining("TYPE#PERMISSION"),
        }),
      );
    }
    expect(() => createAuditRecorder({ log, include: ["ns/document#read"] })).not.toThrow();
    expect(() => createAuditRecorder({ log, policy: "all", include: ["document"] })).toThrow(
      expect.objectContaining({
        code: "audit/invalid-option",
        message: expect.stringContaining("policy agents"),
      }),
    );
  });
});

describe("audit sample", () => {
  it("records a drawn plain decision whatever its answer, with its witness, marked sampled", async () => {
    // A draw below the rate keeps the decision; one at or above it does not.
    const { latch } = await open({ sample: 0.5, random: draws(0.1, 0.7, 0.2) });
    expect((await latch.decider.check(check("document:a", "read"))).state).toBe("ALLOWED"); // 0.1: kept
    expect((await latch.decider.check(check("document:b", "read"))).state).toBe("ALLOWED"); // 0.7: not
    expect((await latch.decider.check(check("document:a", "read", "user:bob"))).state).toBe("DENIED"); // 0.2
    const got = await records(latch);
    expect(got.map((r) => [r.resource, r.subject, r.answer, r.sampled])).toEqual([
      ["document:a", "user:alice", "ALLOWED", true],
      // A DENIED one is kept anyway: it is not part of the sample.
      ["document:a", "user:bob", "DENIED", undefined],
    ]);
    expect(got[0]!.witness).toEqual(["document:a#reader@user:alice"]);
    expect(decisionSentence(got[0]!)).toMatch(/ALLOWED via document:a#reader@user:alice \[sampled\]$/);
    expect(await latch.store.decisions.verify()).toMatchObject({ ok: true, records: 2 });
  });

  it("keeps the share of plain decisions the seeded source draws below the rate", async () => {
    const rate = 0.25;
    const { latch } = await open({ sample: rate, random: seeded(7) });
    const expected = seeded(7);
    let kept = 0;
    for (let i = 0; i < 200; i++) {
      if (expected() < rate) kept++;
      await latch.decider.check(check("document:a", "read"));
    }
    const got = await records(latch);
    expect(got.length).toBe(kept);
    expect(got.every((r) => r.sampled === true && r.answer === "ALLOWED")).toBe(true);
  });

  it("draws per CheckBulk item and per resource a lookup finds, never for included ones", async () => {
    const { latch } = await open({
      sample: 0.5,
      include: ["folder"],
      // bulk items document:a (0.9: not), folder:f (included: no draw), document:b (0.1: kept);
      // then the lookup's two results: document:a (0.3: kept), document:b (0.8: not).
      random: draws(0.9, 0.1, 0.3, 0.8),
    });
    const bulk = await latch.decider.checkBulk({
      items: [check("document:a", "read"), check("folder:f", "read"), check("document:b", "read")],
    });
    expect(bulk.results.map((r) => (r.ok ? r.state : "error"))).toEqual(["ALLOWED", "ALLOWED", "ALLOWED"]);
    for await (const _ of latch.decider.lookupResources({
      resourceType: "document",
      permission: "read",
      subject: { type: "user", id: "alice" },
    })) {
      // drain
    }
    const got = await records(latch);
    expect(got.map((r) => [r.operation, r.resource, r.sampled, r.witness !== undefined])).toEqual([
      ["check-bulk", "folder:f", undefined, true],
      ["check-bulk", "document:b", true, true],
      ["lookup-resources", "document:a", true, true],
    ]);
    // The sampled result's witness, from a witnessing check at the lookup's revision.
    expect(got[2]!.witness).toEqual(["document:a#reader@user:alice"]);
  });

  it("draws nothing when the rate is 0 (the default) and for decisions kept anyway", async () => {
    const never = () => {
      throw new Error("drew a random number");
    };
    const plain = await open({ random: never });
    await plain.latch.decider.check(check("document:a", "read"));
    const all = await open({ policy: "all", random: never });
    await all.latch.decider.check(check("document:a", "read"));
    expect(await records(plain.latch)).toEqual([]);
    expect((await records(all.latch)).map((r) => r.sampled)).toEqual([undefined]);
  });

  it("refuses a rate outside 0..1 or not a number, and sample with a policy other than agents", () => {
    const log = {} as DecisionLog;
    for (const sample of [-0.1, 1.5, Number.NaN, "0.5" as never]) {
      expect(() => createAuditRecorder({ log, sample }), String(sample)).toThrow(
        expect.objectContaining({
          code: "audit/invalid-option",
          message: expect.stringContaining("between 0 and 1"),
        }),
      );
    }
    expect(() => createAuditRecorder({ log, sample: 1 })).not.toThrow();
    expect(() => createAuditRecorder({ log, policy: "all", sample: 0.1 })).toThrow(
      expect.objectContaining({ message: expect.stringContaining("policy agents") }),
    );
  });
});
