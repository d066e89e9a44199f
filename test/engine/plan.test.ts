/**
 * The plan's marks that change how answers are reused: `recursesThroughExclusion` on exactly the
 * members of a cycle of the schema that passes an exclusion's right-hand side (see plan.ts).
 */
import { describe, expect, it } from "vitest";
import { buildPlan } from "../../src/engine/plan.js";
import { compileSchema } from "../../src/schema/index.js";

function marked(schema: string): string[] {
  const plan = buildPlan(compileSchema(schema));
  const out: string[] = [];
  for (const def of plan.defs.values())
    for (const m of def.members.values()) if (m.recursesThroughExclusion) out.push(m.label);
  return out.sort();
}

describe("members on a cycle through an exclusion", () => {
  it("marks none where exclusions subtract what does not lead back (folders, banned groups)", () => {
    expect(
      marked(`definition user {}
definition group {
  relation member: user | group#member
}
definition folder {
  relation parent: folder
  relation viewer: user | group#member
  relation banned: user | group#member
  permission view = (viewer + parent->view) - banned
}`),
    ).toEqual([]);
  });

  it("marks the whole cycle, and nothing that only leads into it", () => {
    expect(
      marked(`definition user {}
definition node {
  relation granted: user
  relation excluded: node#reach
  relation parent: node
  permission reach = excluded + parent->view + granted
  permission view = (granted & reach) - excluded
  permission outside = view + granted
}`),
    ).toEqual(["node#excluded", "node#reach", "node#view"]);
  });

  it("marks a cycle that passes the right-hand side of an exclusion nested in another's", () => {
    expect(
      marked(`definition user {}
definition doc {
  relation viewer: user | doc#inner
  permission inner = viewer - (viewer - viewer)
}`),
    ).toEqual(["doc#inner", "doc#viewer"]);
  });

  it("marks no cycle that stays out of every right-hand side", () => {
    expect(
      marked(`definition user {}
definition doc {
  relation viewer: user | doc#view
  relation blocked: user
  permission view = viewer - blocked
}`),
    ).toEqual([]);
  });
});
