/**
 * A delegated Check takes one of two paths (delegation.ts): its parts asked one by one of the next
 * decider's form answered at once (parts-now.ts), or, when the next decider has no such form, one
 * CheckBulk of the parts folded back (`checkDelegatedInBulk`). Only the first runs over the engine
 * itself, so the same questions are asked here through both, and every answer must be the same:
 * state, missing parameters, witness (in order), or the error's code, message and details.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  formatRelationship,
  isLatchError,
  parseRelationship,
  type SubjectRef,
} from "../../../src/core/index.js";
import { type CheckRequest, checkNowOf, createEngine, type Engine } from "../../../src/engine/index.js";
import { createDelegation, type Decider, decorate } from "../../../src/service/index.js";
import { createMemoryStore, type MemoryStore } from "../../engine/memory-store.js";

/**
 * Every part can be conditional on a caveat of its own (a, b, c, d), so that a CONDITIONAL answer
 * merges their missing parameters; `team` has no delegation permission.
 */
const SCHEMA = `
caveat needs_a(a int) { a > 0 }
caveat needs_b(b int) { b > 0 }
caveat needs_c(c int) { c > 0 }
caveat needs_d(d int) { d > 0 }
caveat scoped(requested_permission string, allowed list<string>) { requested_permission in allowed }
definition agent {}
definition team {}
definition user {
  relation delegate_to: agent | user | agent with needs_c | user with needs_d | agent with scoped
  permission delegate = delegate_to
}
definition document {
  relation viewer: user | agent | agent with needs_a | user with needs_b | user with needs_d
  relation owner: user
  permission view = viewer + owner
  permission edit = owner
}`;

const RELATIONSHIPS = [
  // d1: bot and alice may view; alice delegates to bot plainly.
  "document:d1#viewer@agent:bot",
  "document:d1#viewer@user:alice",
  "document:d1#owner@user:alice",
  "user:alice#delegate_to@agent:bot",
  // d2: only bot may view.
  "document:d2#viewer@agent:bot",
  // d3: every part under a caveat of its own: bot (a), carol (b), carol's delegation to bot (c).
  "document:d3#viewer@agent:bot[needs_a]",
  "document:d3#viewer@user:carol[needs_b]",
  "user:carol#delegate_to@agent:bot[needs_c]",
  // A chain of two: bob delegates to alice under d, and may view d1 and d3 under d.
  "user:bob#delegate_to@user:alice[needs_d]",
  "document:d1#viewer@user:bob[needs_d]",
  "document:d3#viewer@user:bob[needs_d]",
  "user:bob#delegate_to@user:carol[needs_d]",
  // dave delegates to bot for view only.
  'user:dave#delegate_to@agent:bot[scoped:{"allowed":["document#view"]}]',
  "document:d1#owner@user:dave",
].map(parseRelationship);

const bot: SubjectRef = { type: "agent", id: "bot" };
const user = (id: string): SubjectRef => ({ type: "user", id });
const doc = (id: string) => ({ type: "document", id });

type Question = readonly [name: string, request: CheckRequest];

const ask = (
  id: string,
  onBehalfOf: readonly SubjectRef[],
  extra: Partial<CheckRequest> = {},
): CheckRequest => ({ resource: doc(id), permission: "view", subject: bot, onBehalfOf, ...extra });

/** Each question twice: as asked, and asking for the witness. */
const QUESTIONS: readonly Question[] = (
  [
    ["allowed", ask("d1", [user("alice")])],
    ["allowed, delegated only", ask("d1", [user("alice")], { subjectGrants: "not-required" })],
    ["denied by the principal", ask("d2", [user("alice")])],
    ["denied by the subject", ask("d1", [user("alice")], { permission: "edit" })],
    ["denied by the link", ask("d1", [user("carol")], { subjectGrants: "not-required", context: { c: 0 } })],
    ["conditional, every part's missing parameters merged", ask("d3", [user("carol")])],
    ["conditional, what the context gives not missing", ask("d3", [user("carol")], { context: { b: 1 } })],
    [
      "conditional, then allowed with the context",
      ask("d3", [user("carol")], { context: { a: 1, b: 2, c: 3 } }),
    ],
    ["a chain of two, conditional", ask("d1", [user("alice"), user("bob")])],
    ["a chain of two, allowed", ask("d1", [user("alice"), user("bob")], { context: { d: 1 } })],
    ["a chain of two over d3", ask("d3", [user("carol"), user("bob")], { context: { a: 1 } })],
    ["a scoped delegation, in scope", ask("d1", [user("dave")], { subjectGrants: "not-required" })],
    [
      "a scoped delegation, out of scope",
      ask("d1", [user("dave")], { permission: "edit", subjectGrants: "not-required" }),
    ],
    ["an unknown principal type", ask("d1", [user("alice"), { type: "robot", id: "r" }])],
    ["a type without a delegation permission", ask("d1", [{ type: "team", id: "t" }])],
    ["a type without one, after a denied part", ask("d2", [user("alice"), { type: "team", id: "t" }])],
    ["an unknown permission", ask("d1", [user("alice")], { permission: "nope" })],
    ["an unknown resource type", ask("d1", [user("alice")], { resource: { type: "folder", id: "f" } })],
    ["a caveat parameter of the wrong type", ask("d3", [user("carol")], { context: { a: "x" } })],
  ] as const
).flatMap(([name, request]): Question[] => [
  [name, request],
  [`${name}, with its witness`, { ...request, witness: true }],
]);

/** What an answer says, witness included, or the error it is refused with. */
async function outcome(decider: Decider, request: CheckRequest): Promise<unknown> {
  try {
    const r = await decider.check({ ...request, consistency: { kind: "fully-consistent" } });
    return {
      state: r.state,
      missing: r.missing,
      revision: r.revision,
      witness: r.witness?.map(formatRelationship),
    };
  } catch (e) {
    if (!isLatchError(e)) throw e;
    return { code: e.code, kind: e.kind, message: e.message, details: e.details };
  }
}

/** `engine` as a decider whose `check` is a plain async function: no form answered at once. */
function withoutCheckNow(engine: Engine, counts: { bulk: number }): Decider {
  return {
    check: async (request, options) => engine.check(request, options),
    checkBulk: (request, options) => {
      counts.bulk++;
      return engine.checkBulk(request, options);
    },
    lookupResources: engine.lookupResources,
  };
}

/** `engine` as it is (its `check` keeps its form answered at once), its CheckBulk calls counted. */
function counted(engine: Engine, counts: { bulk: number }): Decider {
  return {
    check: engine.check,
    checkBulk: (request, options) => {
      counts.bulk++;
      return engine.checkBulk(request, options);
    },
    lookupResources: engine.lookupResources,
  };
}

describe.each([
  ["over the in-memory copy (answered on the same turn)", true],
  ["over SQLite (parts waited for)", false],
])("a delegated Check %s", (_, snapshots) => {
  let store: MemoryStore;
  let engine: Engine;
  const nowCounts = { bulk: 0 };
  const bulkCounts = { bulk: 0 };
  let now: Decider;
  let bulk: Decider;

  beforeAll(async () => {
    store = await createMemoryStore({ snapshots });
    await store.writeSchema(SCHEMA);
    await store.write(RELATIONSHIPS.map((relationship) => ({ operation: "touch" as const, relationship })));
    engine = createEngine({ store, quantizationMs: 0 });
    now = decorate(counted(engine, nowCounts), createDelegation());
    bulk = decorate(withoutCheckNow(engine, bulkCounts), createDelegation());
  });
  afterAll(() => store.close());

  it("takes a different path through each decider", () => {
    expect(checkNowOf(engine.check)).toBeDefined();
    expect(checkNowOf(withoutCheckNow(engine, bulkCounts).check)).toBeUndefined();
  });

  it.each(QUESTIONS)("%s: the same answer either way", async (_, request) => {
    const before = { now: nowCounts.bulk, bulk: bulkCounts.bulk };
    const asked = await outcome(now, request);
    const inBulk = await outcome(bulk, request);
    expect(inBulk).toEqual(asked);
    // Each path is the one meant: no CheckBulk on the first, one on the second (a chain that
    // cannot be asked at all is refused before either path).
    expect(nowCounts.bulk).toBe(before.now);
    expect(bulkCounts.bulk).toBe(before.bulk + 1);
  });

  it("gives the answers expected of the parts", async () => {
    const got = new Map<string, unknown>();
    for (const [name, request] of QUESTIONS) got.set(name, await outcome(now, request));
    const state = (name: string) => {
      const o = got.get(name) as { state?: string; missing?: readonly string[]; code?: string };
      return o.code ?? `${o.state} [${o.missing?.join(",")}]`;
    };
    expect(state("allowed")).toBe("ALLOWED []");
    expect(state("allowed, delegated only")).toBe("ALLOWED []");
    expect(state("denied by the principal")).toBe("DENIED []");
    expect(state("denied by the subject")).toBe("DENIED []");
    expect(state("denied by the link")).toBe("DENIED []");
    expect(state("conditional, every part's missing parameters merged")).toBe("CONDITIONAL [a,b,c]");
    expect(state("conditional, what the context gives not missing")).toBe("CONDITIONAL [a,c]");
    expect(state("conditional, then allowed with the context")).toBe("ALLOWED []");
    expect(state("a chain of two, conditional")).toBe("CONDITIONAL [d]");
    expect(state("a chain of two, allowed")).toBe("ALLOWED []");
    expect(state("a chain of two over d3")).toBe("CONDITIONAL [b,c,d]");
    expect(state("a scoped delegation, in scope")).toBe("ALLOWED []");
    expect(state("a scoped delegation, out of scope")).toBe("DENIED []");
    expect(state("an unknown principal type")).toBe("delegation/unknown-principal-type");
    expect(state("a type without a delegation permission")).toBe("delegation/no-delegation-permission");
    expect(state("a type without one, after a denied part")).toBe("delegation/no-delegation-permission");
    expect(state("an unknown permission")).toBe("check/unknown-permission");
    expect(state("an unknown resource type")).toBe("check/unknown-type");
    expect(state("a caveat parameter of the wrong type")).toBe("check/caveat-error");
    // A failed principal is named by its field, however its error was found.
    expect(got.get("a type without one, after a denied part")).toMatchObject({
      message: "on_behalf_of[1]: team:t cannot delegate: type team has no permission delegate",
      details: { field: "on_behalf_of[1]", type: "team", permission: "delegate" },
    });
    // The witness: the permission's (the subject's, then each principal's), then the links'.
    const witness = (name: string) =>
      (got.get(`${name}, with its witness`) as { witness?: string[] }).witness;
    expect(witness("allowed")).toEqual([
      "document:d1#viewer@agent:bot",
      "document:d1#viewer@user:alice",
      "user:alice#delegate_to@agent:bot",
    ]);
    expect(witness("a chain of two, conditional")).toEqual([
      "document:d1#viewer@agent:bot",
      "document:d1#viewer@user:alice",
      "document:d1#viewer@user:bob[needs_d]",
      "user:alice#delegate_to@agent:bot",
      "user:bob#delegate_to@user:alice[needs_d]",
    ]);
    expect(witness("allowed, delegated only")).toEqual([
      "document:d1#viewer@user:alice",
      "user:alice#delegate_to@agent:bot",
    ]);
    expect(witness("denied by the principal")).toBeUndefined();
  });
});
