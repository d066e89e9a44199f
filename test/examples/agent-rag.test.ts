/**
 * The runnable example (`npm run example`) keeps working: the story it tells holds, step by step.
 */
import { describe, expect, it } from "vitest";
import { runExample } from "../../examples/agent-rag/run-example.js";

describe("examples/agent-rag", () => {
  it("filters the agent's retrieval, refuses, gates and approves its tool calls, and records all of it", async () => {
    const lines: string[] = [];
    const outcome = await runExample((line) => lines.push(line));
    // Internal documents reach the agent; financial ones (above alice's clearance) and hana's do not.
    expect([...outcome.seen].sort()).toEqual(["design-notes", "launch-plan"]);
    expect([...outcome.withheld].sort()).toEqual(["budget", "hr-notes"]);
    // Export is outside alice's delegation; the edit waits for a person, then runs once approved.
    expect(outcome.refused).toEqual(["export_document", "update_document"]);
    expect(outcome.approvedBy).toBe("user:lena");
    expect(outcome.ran).toEqual(["summarize_document(launch-plan)", "update_document(launch-plan)"]);
    const trail = outcome.auditSentences.join("\n");
    expect(trail).toContain("agent:assistant acting for user:alice: export on document:launch-plan DENIED");
    expect(trail).toContain("edit on document:launch-plan APPROVAL_REQUIRED");
    expect(trail).toMatch(/request retrieval:/);
    expect(lines.join("\n")).toContain("hash chain: intact");
  });
});
