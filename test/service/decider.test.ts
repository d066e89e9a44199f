/** The decision seam: no decorator costs nothing, decorators compose outermost first. */
import { describe, expect, it } from "vitest";
import type { CheckRequest, CheckResult } from "../../src/engine/index.js";
import { type Decider, type Decorator, decorate } from "../../src/service/index.js";

function fakeDecider(calls: string[]): Decider {
  return {
    async check() {
      calls.push("engine");
      return { state: "ALLOWED", missing: [], token: "t", revision: 1n };
    },
    async checkBulk() {
      return { results: [], token: "t", revision: 1n };
    },
    async *lookupResources() {},
  };
}

function tracing(name: string, calls: string[]): Decorator {
  return (next) => ({
    ...next,
    async check(request, options) {
      calls.push(`${name} before`);
      const result = await next.check(request, options);
      calls.push(`${name} after`);
      return result;
    },
  });
}

const request: CheckRequest = {
  resource: { type: "document", id: "a" },
  permission: "view",
  subject: { type: "user", id: "alice" },
};

describe("decorate", () => {
  it("returns the decider itself when there is no decorator", () => {
    const decider = fakeDecider([]);
    expect(decorate(decider)).toBe(decider);
  });

  it("runs the first decorator outermost", async () => {
    const calls: string[] = [];
    const decider = decorate(fakeDecider(calls), tracing("audit", calls), tracing("suspension", calls));
    await decider.check(request);
    expect(calls).toEqual(["audit before", "suspension before", "engine", "suspension after", "audit after"]);
  });

  it("lets a decorator answer without asking the engine", async () => {
    const calls: string[] = [];
    const deny: Decorator = (next) => ({
      ...next,
      check: async (): Promise<CheckResult> => ({ state: "DENIED", missing: [], token: "t", revision: 1n }),
    });
    const result = await decorate(fakeDecider(calls), deny).check(request);
    expect(result.state).toBe("DENIED");
    expect(calls).toEqual([]);
  });
});
