/**
 * The batched evaluator asks for many objects in one frame, so one object's path can look like it
 * passes through another's: such a cut is a false cycle for that object, and the frame it points
 * at asks each object again on its own path (evaluator.ts, computeInto). It must do so even when
 * another cut in the same frame pointed further up, at a real cycle through an ancestor.
 *
 * The case is the counterexample property.test.ts found (seed 1734827110), made smaller:
 * `node:n1#every` needs `view` on both of its parents, n0 and n1, asked in one frame. n1's parent
 * n0 was cut as a cycle on n1's path (n0's own path met n0 again), and n0's `grant` led back to
 * the checked `n1#every` (a real cycle, one frame higher): both walks answered DENIED where every
 * path gives n0, and so n1, the caveated grant: CONDITIONAL.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { createMemoryStore } from "./memory-store.js";
import { referenceAnswer } from "./reference.js";

const SCHEMA = `
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

const RELATIONSHIPS = [
  "node:n1#parent@node:n0",
  "node:n1#parent@node:n1",
  "node:n0#parent@node:n0",
  "node:n0#grant@user:u[flagged]",
  "node:n0#grant@node:n1#every",
].map((text) => parseRelationship(text));

describe.each([
  ["the batched evaluator", false],
  ["the in-memory walk", true],
])("a false cycle beside a real one, through %s", (_name, snapshots) => {
  it.each([
    [{}, "CONDITIONAL"],
    [{ flag: true }, "ALLOWED"],
    [{ flag: false }, "DENIED"],
  ])("node:n1#every for user:u with context %j is %s, as the reference says", async (context, want) => {
    const store = await createMemoryStore({ snapshots });
    await store.writeSchema(SCHEMA);
    await store.write(RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })));
    const request = {
      resource: { type: "node", id: "n1" },
      permission: "every",
      subject: { type: "user", id: "u" },
      context,
    };
    expect(referenceAnswer(compileSchema(SCHEMA), RELATIONSHIPS, request, Date.now())).toBe(want);
    const engine = createEngine({ store, quantizationMs: 0 });
    const plain = await engine.check({ ...request, consistency: { kind: "fully-consistent" } });
    expect(plain.state).toBe(want);
    const explained = await engine.check({
      ...request,
      consistency: { kind: "fully-consistent" },
      explain: true,
    });
    expect(explained.state).toBe(want);
    const bulk = await engine.checkBulk({ items: [request], consistency: { kind: "fully-consistent" } });
    expect(bulk.results[0]).toMatchObject({ ok: true, state: want });
  });
});
