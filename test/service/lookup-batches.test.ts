/**
 * LookupResources a chunk at a time (engine/lookup-batches.ts): the chunks pass through the
 * decorators that know them (delegation, the signal gate) and hold the same results, in the same
 * order and with the same cursors, as the per-result lookup; a decorator that replaces
 * `lookupResources` without them, even one that copies the rest of its `next`, is never gone round.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import type { LookupResourceResult, LookupResourcesRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import {
  createActorTokens,
  createDelegation,
  type Decorator,
  decorate,
  lookupBatches,
} from "../../src/service/index.js";

const SCHEMA = `definition user {}
definition group { relation member: user }
definition document {
  relation viewer: user | group#member
  permission view = viewer
}`;
const DOCS = Array.from({ length: 300 }, (_, i) => `d${String(i).padStart(3, "0")}`);
const request: LookupResourcesRequest = {
  resourceType: "document",
  permission: "view",
  subject: { type: "user", id: "alice" },
  consistency: { kind: "fully-consistent" },
};

const opened: OpenedLatch[] = [];
afterEach(async () => {
  for (const latch of opened.splice(0)) await latch.close();
});

async function latchWithDocs(decorators: Decorator[] = []): Promise<OpenedLatch> {
  const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false, decorators });
  opened.push(latch);
  await latch.store.write([
    ...DOCS.map((d) => ({
      operation: "touch" as const,
      relationship: parseRelationship(`document:${d}#viewer@group:all#member`),
    })),
    { operation: "touch", relationship: parseRelationship("group:all#member@user:alice") },
    { operation: "touch", relationship: parseRelationship("document:own#viewer@user:alice") },
  ]);
  return latch;
}

async function chunks(results: AsyncIterable<readonly LookupResourceResult[]>) {
  const out: (readonly LookupResourceResult[])[] = [];
  for await (const chunk of results) out.push(chunk);
  return out;
}

async function all(results: AsyncIterable<LookupResourceResult>) {
  const out: LookupResourceResult[] = [];
  for await (const r of results) out.push(r);
  return out;
}

const line = (r: LookupResourceResult) => `${r.resourceId} ${r.state} ${r.cursor}`;

describe("LookupResources in chunks", () => {
  it("through delegation and the signal gate: the per-result lookup's results, in chunks of many", async () => {
    const latch = await latchWithDocs();
    // The watch's own decider: engine, delegation, signal gate (openLatch wires it the same way).
    const decider = decorate(latch.engine, latch.signals!.gate, createDelegation());
    const got = await chunks(lookupBatches(decider, request));
    expect(got.some((c) => c.length > 1)).toBe(true);
    const flat = got.flat();
    expect(flat).toHaveLength(DOCS.length + 1);
    expect(flat.map(line)).toEqual((await all(latch.engine.lookupResources(request))).map(line));
  });

  it("through the actor-token decorator when a request carries no token (the server's fallback decider)", async () => {
    const latch = await latchWithDocs();
    const decider = decorate(latch.engine, createActorTokens(undefined), createDelegation());
    const got = await chunks(lookupBatches(decider, request));
    expect(got.some((c) => c.length > 1)).toBe(true);
    expect(got.flat().map(line)).toEqual((await all(latch.engine.lookupResources(request))).map(line));
  });

  it("without cursors, through delegation and the gate: the same results, none with a cursor", async () => {
    const latch = await latchWithDocs();
    const decider = decorate(latch.engine, latch.signals!.gate, createDelegation());
    const flat = (await chunks(lookupBatches(decider, request, { cursors: false }))).flat();
    expect(flat.every((r) => r.cursor === "")).toBe(true);
    const expected = (await all(latch.engine.lookupResources(request))).map(
      (r) => `${r.resourceId} ${r.state}`,
    );
    // The set, not the order: without cursors a level's results come in the order the walk reached them.
    expect(flat.map((r) => `${r.resourceId} ${r.state}`).sort()).toEqual(expected.sort());
    expect(expected).toHaveLength(DOCS.length + 1);
  });

  it("goes through a decorator that replaces lookupResources, even one that copies its next", async () => {
    const hideFirst: Decorator = (next) => ({
      ...next,
      lookupResources: (asked, options) =>
        (async function* () {
          for await (const r of next.lookupResources(asked, options)) if (r.resourceId !== "d000") yield r;
        })(),
    });
    const latch = await latchWithDocs();
    const decider = decorate(latch.engine, hideFirst);
    const got = await chunks(lookupBatches(decider, request));
    // No chunks of its own: one result a chunk, every one through the decorator.
    expect(got.every((c) => c.length === 1)).toBe(true);
    const ids = got.flat().map((r) => r.resourceId);
    expect(ids).toHaveLength(DOCS.length);
    expect(ids).not.toContain("d000");
  });
});
