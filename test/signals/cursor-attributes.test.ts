/**
 * A lookup's later pages are asked with the attributes in force at its cursor's revision, as its
 * first page was: asked with today's, their context (which the cursor is bound to) differed after
 * a signal and the resume was refused as "another lookup".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import type { LookupResourcesRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import { AUDIENCE, createTransmitter, ISSUER, type Transmitter } from "./fixtures.js";

const SCHEMA = `
definition agent {}
caveat risky(risk int) { risk < 5 }
definition doc {
  relation viewer: agent with risky
  permission read = viewer
}`;
const RULES = `
subjects:
  - { format: opaque, as: "agent:{id}" }
events:
  "${EVENT_TYPES.tokenClaimsChange}":
    set-attributes: { risk: claims.risk }
`;

describe("a lookup's cursor and signal attributes", () => {
  let latch: OpenedLatch;
  let transmitter: Transmitter;
  const risk = async (value: number) =>
    latch.signals!.receiver.receive(
      await transmitter.sign(
        { [EVENT_TYPES.tokenClaimsChange]: { claims: { risk: value } } },
        { subId: { format: "opaque", id: "bot" } },
      ),
      "api",
    );
  const ids = async (request: LookupResourcesRequest) => {
    const out: { id: string; cursor: string }[] = [];
    for await (const r of latch.decider.lookupResources(request))
      out.push({ id: r.resourceId, cursor: r.cursor });
    return out;
  };

  beforeAll(async () => {
    transmitter = await createTransmitter();
    latch = await openLatch({
      database: ":memory:",
      schema: SCHEMA,
      approvals: false,
      signals: { transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE }, rules: RULES },
    });
    await latch.store.write(
      ["a", "b", "c"].map((id) => ({
        operation: "touch" as const,
        relationship: parseRelationship(`doc:${id}#viewer@agent:bot[risky]`),
      })),
    );
    await risk(1);
  });
  afterAll(() => latch.close());

  it("resumes at the cursor's revision, with the attributes in force there", async () => {
    const asked = {
      resourceType: "doc",
      permission: "read",
      subject: { type: "agent", id: "bot" },
      consistency: { kind: "fully-consistent" as const },
    };
    const first = await ids({ ...asked, limit: 1 });
    expect(first.map((r) => r.id)).toEqual(["a"]);
    await risk(2);
    expect((await ids({ ...asked, cursor: first[0]!.cursor })).map((r) => r.id)).toEqual(["b", "c"]);
    // Even an attribute that would deny now: the pages are one answer, at one revision.
    await risk(7);
    expect((await ids({ ...asked, cursor: first[0]!.cursor })).map((r) => r.id)).toEqual(["b", "c"]);
    expect(await ids(asked)).toEqual([]);
  });
});
