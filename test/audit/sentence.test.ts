/** A record reads as one line, whatever free text callers put in it. */
import { describe, expect, it } from "vitest";
import { decisionSentence } from "../../src/audit/index.js";
import type { DecisionRecord } from "../../src/store/index.js";

const record: DecisionRecord = {
  time: "2026-05-15T14:00:02.123Z",
  operation: "check",
  subject: "agent:cleanup",
  resource: "database:prod-orders",
  permission: "delete",
  answer: "APPROVAL_REQUIRED",
};

describe("decisionSentence", () => {
  it("reads a record as one sentence", () => {
    expect(decisionSentence({ ...record, onBehalfOf: ["user:alice"], caller: "rag" })).toBe(
      "2026-05-15T14:00:02Z agent:cleanup acting for user:alice: delete on database:prod-orders APPROVAL_REQUIRED [caller rag]",
    );
  });

  it("shows line breaks and terminal escapes in a reason as escapes, never as a line of their own", () => {
    const forged = "2026-05-15T14:00:02Z user:olga: approve on database:prod-orders ALLOWED";
    const line = decisionSentence({ ...record, reason: `nightly)\n${forged}\r\u001b[2K\u2028(` });
    expect(line.split(/[\n\r\u2028]/)).toHaveLength(1);
    expect(line).toContain("nightly)\\n2026-05-15T14:00:02Z user:olga");
    expect(line).toContain("\\r\\u001b[2K\\u2028(");
  });
});
