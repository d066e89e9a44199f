/**
 * LookupResources with a chain: a delegation whose caveat reads `resource_id` holds per resource,
 * and the results page and resume with the cursor as without a chain.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
import type { LookupResourcesRequest } from "../../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";

const SCHEMA = `
caveat only(resource_id string, ids list<string>) { resource_id in ids }
definition agent {}
definition user {
  relation delegate_to: agent | agent with only
  permission delegate = delegate_to
}
definition document {
  relation viewer: user | agent
  permission view = viewer
}`;

describe("LookupResources on behalf of a principal", () => {
  let latch: OpenedLatch;
  beforeAll(async () => {
    latch = await openLatch({ database: ":memory:", schema: SCHEMA });
    const texts = [
      ...["d0", "d1", "d2", "d3", "d4"].map((id) => `document:${id}#viewer@user:alice`),
      'user:alice#delegate_to@agent:bot[only:{"ids":["d1","d3","d9"]}]',
      "user:bob#delegate_to@agent:bot",
      "document:d9#viewer@agent:bot",
      "document:d3#viewer@agent:bot",
    ];
    await latch.store.write(
      texts.map((t) => ({ operation: "touch" as const, relationship: parseRelationship(t) })),
    );
  });
  afterAll(() => latch.close());

  const base: LookupResourcesRequest = {
    resourceType: "document",
    permission: "view",
    subject: { type: "agent", id: "bot" },
    onBehalfOf: [{ type: "user", id: "alice" }],
    subjectGrants: "not-required",
    consistency: { kind: "fully-consistent" },
  };

  async function ids(
    request: LookupResourcesRequest,
  ): Promise<{ ids: string[]; cursor: string | undefined }> {
    const found: string[] = [];
    let cursor: string | undefined;
    for await (const r of latch.decider.lookupResources(request)) {
      found.push(r.resourceId);
      cursor = r.cursor;
    }
    return { ids: found, cursor };
  }

  it("keeps only the resources the scoped delegation covers", async () => {
    expect((await ids(base)).ids).toEqual(["d1", "d3"]);
  });

  it("intersects with the subject's own grants when they are required", async () => {
    expect((await ids({ ...base, subjectGrants: "required" })).ids).toEqual(["d3"]);
  });

  it("finds nothing through a principal who delegated nothing", async () => {
    expect((await ids({ ...base, onBehalfOf: [{ type: "user", id: "carol" }] })).ids).toEqual([]);
  });

  it("pages with limit and resumes with the cursor", async () => {
    const first = await ids({ ...base, limit: 1 });
    expect(first.ids).toEqual(["d1"]);
    const rest = await ids({ ...base, cursor: first.cursor! });
    expect(rest.ids).toEqual(["d3"]);
    const after = await ids({ ...base, cursor: rest.cursor! });
    expect(after.ids).toEqual([]);
  });

  it("refuses a bad chain on resume too, even where nothing is left to find", async () => {
    const all = await ids(base);
    const resumed = ids({ ...base, cursor: all.cursor!, onBehalfOf: [{ type: "robot", id: "r" }] });
    await expect(resumed).rejects.toMatchObject({ code: "delegation/unknown-principal-type" });
  });

  it("gives the resume cursor of the last result given when it is aborted", async () => {
    const signal = { aborted: false };
    const given: string[] = [];
    let cursor: unknown;
    try {
      for await (const r of latch.decider.lookupResources(base, { signal })) {
        given.push(r.resourceId);
        signal.aborted = true;
      }
    } catch (e) {
      cursor = (e as { code: string; details: { cursor?: string } }).details.cursor;
      expect((e as { code: string }).code).toBe("request/deadline-exceeded");
    }
    expect(given).toEqual(["d1"]);
    expect((await ids({ ...base, cursor: cursor as string })).ids).toEqual(["d3"]);
  });
});
