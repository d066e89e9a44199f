/** `checkNowThrough`: a decorator's check passing the answer-at-once form on where it only forwards. */
import { describe, expect, it } from "vitest";
import {
  type AsAsked,
  type CheckRequest,
  type CheckResult,
  checkNowOf,
  checkNowThrough,
  type RequestOptions,
  withCheckNow,
} from "../../src/engine/index.js";

const request: CheckRequest = {
  resource: { type: "document", id: "d1" },
  permission: "view",
  subject: { type: "user", id: "alice" },
};
const witnessed: CheckResult = {
  state: "ALLOWED",
  missing: [],
  revision: 1n,
  token: "t",
  witness: [
    {
      resource: { type: "document", id: "d1" },
      relation: "viewer",
      subject: { type: "user", id: "alice" },
    },
  ],
};
const { witness: _, ...plain } = witnessed;

/** A `next` whose form answers at once, as the engine's does (check.ts). */
function next(asked: CheckRequest[]) {
  return withCheckNow(
    async (r: CheckRequest, _options?: RequestOptions) => {
      asked.push(r);
      return r.witness === true ? witnessed : plain;
    },
    (r, _options, asAsked?: AsAsked) => {
      asked.push(r);
      if (asAsked === undefined) return r.witness === true ? witnessed : plain;
      asAsked.answer = plain;
      return witnessed;
    },
  );
}

describe("checkNowThrough", () => {
  it("carries no form when next has none", () => {
    const check = async (r: CheckRequest) => ({ ...plain, token: r.permission });
    expect(checkNowOf(checkNowThrough(check, check, () => true))).toBeUndefined();
  });

  it("forwards a request at once, with next's form of the answer as asked", () => {
    const asked: CheckRequest[] = [];
    const inner = next(asked);
    const now = checkNowOf(
      checkNowThrough(
        (r, o) => inner(r, o),
        inner,
        () => true,
      ),
    )!;
    const asAsked: AsAsked = { answer: undefined };
    expect(now(request, undefined, asAsked)).toBe(witnessed);
    expect(asAsked.answer).toBe(plain);
    expect(asked).toEqual([request]);
  });

  it("takes check for a request it does not forward, asking for the witness the caller wants", async () => {
    const asked: CheckRequest[] = [];
    const inner = next(asked);
    const now = checkNowOf(
      checkNowThrough(
        async (r, o) => ({ ...(await inner(r, o)), approvalRule: "gated" }),
        inner,
        () => false,
      ),
    )!;
    const asAsked: AsAsked = { answer: undefined };
    const answered = now(request, undefined, asAsked);
    expect(answered).toBeInstanceOf(Promise);
    expect(await answered).toEqual({ ...witnessed, approvalRule: "gated" });
    expect(asAsked.answer).toBeUndefined();
    expect(asked).toEqual([{ ...request, witness: true }]);
  });

  it("leaves the caller to drop the witness of an answer `after` replaced", async () => {
    const inner = next([]);
    const denied: CheckResult = { ...plain, state: "DENIED" };
    const replacing = checkNowOf(
      checkNowThrough(
        (r, o) => inner(r, o),
        inner,
        () => true,
        () => denied,
      ),
    )!;
    const asAsked: AsAsked = { answer: undefined };
    expect(replacing(request, undefined, asAsked)).toBe(denied);
    expect(asAsked.answer).toBeUndefined();
    const keeping = checkNowOf(
      checkNowThrough(
        (r, o) => inner(r, o),
        inner,
        () => true,
        (answer, _r, _o, witness) => (witness ? answer : denied),
      ),
    )!;
    expect(keeping(request, undefined, asAsked)).toBe(witnessed);
    expect(asAsked.answer).toBe(plain);
    expect(keeping(request)).toBe(denied);
  });
});
