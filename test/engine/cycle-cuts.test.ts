/**
 * Cycles met by the batched evaluator, which asks for many objects in one frame and so merges their
 * paths: a cut can be a false cycle for one of them (its sibling's path reached it). The frame it
 * points at asks each object again on its own path, but only when no other cut pointed further up
 * (evaluator.ts, computeInto).
 *
 * The work this takes must stay linear in the data's depth: asking again whenever a cut pointed at
 * a frame, whatever else did, fixed the known defect below and made the ladder below cost
 * exponential work (2.4 million dispatches at eight levels), so it was reverted.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { createMemoryStore } from "./memory-store.js";
import { referenceAnswer } from "./reference.js";

const WALKS = [
  ["the batched evaluator", false],
  ["the in-memory walk", true],
] as const;

async function engineOver(schema: string, relationships: string[], snapshots: boolean) {
  const store = await createMemoryStore({ snapshots });
  await store.writeSchema(schema);
  await store.write(
    relationships.map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
  );
  return createEngine({ store, quantizationMs: 0, cache: false });
}

const LADDER = `
definition user {}

definition node {
  relation parent: node
  relation viewer: user
  permission view = viewer + parent->view
}
`;

/** `levels` rungs: a_i and b_i parents of each other and of both nodes of the next; the last back to a0. */
function ladder(levels: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < levels; i++) {
    for (const x of ["a", "b"])
      for (const y of ["a", "b"]) out.push(`node:${x}${i}#parent@node:${y}${i + 1}`);
    out.push(`node:a${i}#parent@node:b${i}`, `node:b${i}#parent@node:a${i}`);
  }
  out.push(`node:a${levels}#parent@node:a0`, `node:b${levels}#parent@node:a0`);
  return out;
}

describe.each(WALKS)("sibling cycles with a way back to the root, through %s", (_name, snapshots) => {
  it("cost dispatches that grow with the levels, not with the paths through them", async () => {
    const counts: number[] = [];
    for (const levels of [4, 8]) {
      const engine = await engineOver(
        LADDER,
        [...ladder(levels), `node:b${levels}#viewer@user:u`],
        snapshots,
      );
      const request = {
        resource: { type: "node", id: "a0" },
        permission: "view",
        subject: { type: "user", id: "u" },
        consistency: { kind: "fully-consistent" as const },
      };
      expect((await engine.check(request)).state).toBe("ALLOWED");
      const denied = { ...request, subject: { type: "user", id: "nobody" } };
      const before = engine.stats().dispatches;
      expect((await engine.check(denied)).state).toBe("DENIED");
      counts.push(engine.stats().dispatches - before);
    }
    // Four more levels, a few more dispatches each (exponential work was thousands more).
    expect(counts[1]! - counts[0]!).toBeLessThanOrEqual(4 * 8);
  });
});

/**
 * Known defect (README, "Status / Engine"), the counterexample the engine's property test found
 * (seed 1734827110), made smaller: `node:n1#every` needs `view` on both of its parents, n0 and n1,
 * asked in one frame. n1's parent n0 is cut as a cycle on n1's path (n0's own path met n0 again)
 * while n0's `grant` leads back to the checked `n1#every`, a real cycle one frame higher, so the
 * frame is not asked again and n1 misses n0's caveated grant: DENIED, where CONDITIONAL is right.
 */
const FOUND = `
caveat flagged(flag bool) {
  flag
}

definition user {}

definition node {
  relation parent: node
  relation grant: user with flagged | node#every
  permission view = parent->view + grant
  permission every = parent.all(view)
}
`;
const FOUND_RELATIONSHIPS = [
  "node:n1#parent@node:n0",
  "node:n1#parent@node:n1",
  "node:n0#parent@node:n0",
  "node:n0#grant@user:u[flagged]",
  "node:n0#grant@node:n1#every",
];
const FOUND_REQUEST = {
  resource: { type: "node", id: "n1" },
  permission: "every",
  subject: { type: "user", id: "u" },
  context: {},
  consistency: { kind: "fully-consistent" as const },
};

describe.each(WALKS)("a false cycle beside a real one, through %s", (_name, snapshots) => {
  it("is CONDITIONAL by the reference evaluator, and the engine answers without an error", async () => {
    const relationships = FOUND_RELATIONSHIPS.map((text) => parseRelationship(text));
    expect(referenceAnswer(compileSchema(FOUND), relationships, FOUND_REQUEST, Date.now())).toBe(
      "CONDITIONAL",
    );
    const engine = await engineOver(FOUND, FOUND_RELATIONSHIPS, snapshots);
    expect(["ALLOWED", "DENIED", "CONDITIONAL"]).toContain((await engine.check(FOUND_REQUEST)).state);
  });

  // Fails today (DENIED): when this starts to pass, the defect is fixed; make it a plain test.
  it.fails("the engine agrees with the reference (known defect)", async () => {
    const engine = await engineOver(FOUND, FOUND_RELATIONSHIPS, snapshots);
    expect((await engine.check(FOUND_REQUEST)).state).toBe("CONDITIONAL");
  });
});
