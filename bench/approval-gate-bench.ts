/**
 * `npx tsx bench/approval-gate-bench.ts`: what the approval gate adds to an embedded Check.
 * Three cases on one in-memory database, the same permitted check each time: ungated (no rule
 * names the action), gated with no pending approval (answer APPROVAL_REQUIRED; the gate's memory
 * of "no approval" is on, as by default), gated and approved (ALLOWED with the approval's id; one
 * store read per check). Numbers from a shared machine are not reliable: compare on a quiet one.
 */
import { Bench } from "tinybench";
import { parseRelationship } from "../src/core/index.js";
import type { CheckRequest } from "../src/engine/index.js";
import { openLatch } from "../src/open/index.js";

const SCHEMA = `
definition agent {}
definition user {}
definition database {
  relation operator: agent
  relation approver: user
  permission delete = operator
  permission drop = operator
  permission approve = approver
}`;
const RULES = `rules:
  - id: gated
    resource: database
    permission: delete
    subjects: [agent]
    approvers: approve
  - id: approved
    resource: database
    permission: drop
    subjects: [agent]
    approvers: approve
`;

const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: { rules: RULES } });
await latch.store.write(
  ["database:a#operator@agent:x", "database:b#operator@agent:x", "database:a#approver@user:o"].map((t) => ({
    operation: "touch" as const,
    relationship: parseRelationship(t),
  })),
);
const base: CheckRequest = {
  resource: { type: "database", id: "a" },
  permission: "delete",
  subject: { type: "agent", id: "x" },
};
const ungated: CheckRequest = { ...base, resource: { type: "database", id: "a" }, permission: "operator" };
const gated: CheckRequest = base;
const approved: CheckRequest = { ...base, permission: "drop" };
const { id } = await latch.approvals!.request({ ...approved, message: "bench" });
await latch.approvals!.decide({ id, approve: true, approver: { type: "user", id: "o" } });
for (const [name, r, want] of [
  ["ungated", ungated, "ALLOWED"],
  ["gated", gated, "APPROVAL_REQUIRED"],
  ["approved", approved, "ALLOWED"],
] as const) {
  const state = (await latch.decider.check(r)).state;
  if (state !== want) throw new Error(`${name}: ${state}, expected ${want}`);
}

const bench = new Bench({ time: 1_000, warmupTime: 300 });
bench
  .add("check/ungated", () => latch.decider.check(ungated))
  .add("check/gated-no-approval", () => latch.decider.check(gated))
  .add("check/gated-approved", () => latch.decider.check(approved));
await bench.run();
console.table(bench.table());
await latch.close();
