/**
 * Two walks, one meaning (SpiceDB keeps such a suite for its two engines): the synchronous
 * in-memory walk (snapshot-walk.ts) and the batched evaluator (evaluator.ts) run on the same random
 * schemas, relationships, subjects and depth limits, and wherever the in-memory walk answers, both
 * must build the same membership. Nothing else is compared: not the reference evaluator (see
 * property.test.ts), not the engine around them (no cache, no fallback from one walk to the other).
 *
 * Memberships are compared as boolean functions of their leaves (each caveat with its stored
 * context, and each "past the depth limit" leaf, taken as an independent variable): equal for
 * every assignment, so equal whatever the request context, however each walk ordered its work.
 *
 * The inputs cover unions, intersections, exclusions, arrows (`->` and `.all()`), subject sets
 * (with the subject's membership index where it applies), wildcards (with exclusions), caveats,
 * expired and expiring relationships, cycles, and chains of arrows and subject sets longer than
 * the depth limit. The in-memory walk gives up on cycles: there only the batched evaluator
 * answers, and the test checks that the walk does give up rather than answer otherwise.
 *
 * One exception, on cyclic data only: where a batch's merged paths make a cut a cycle on some of
 * them only, the batched evaluator answers as a fixpoint (src/engine/fixpoint.ts), which takes
 * what it found for the cut subproblem where a walk of one object goes on down and may pass the
 * limit. There the two may differ only where one of them is stopped (by the limit, or by a cycle
 * through an exclusion), and wherever either is not, it must say what the batched evaluator says
 * with no limit in reach.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Relationship, SubjectRef } from "../../src/core/index.js";
import { createRequestResults } from "../../src/engine/dispatch/index.js";
import { type CaveatExpr, type Member, TOO_DEEP, UNSTRATIFIED } from "../../src/engine/membership.js";
import type { Plan, PlanMember } from "../../src/engine/plan.js";
import type { MemorySnapshot } from "../../src/store/index.js";
import { createMemoryStore, type MemoryStore } from "./memory-store.js";
import { hasCycle, propertyRuns, type Scenario, scenarioArb, TYPES, USERS } from "./random-scenarios.js";
import { walkSetting } from "./walk-setting.js";

const IDS = ["o0", "o1"] as const;
const PERMISSIONS = ["rel0", "rel1", "perm0", "perm1"] as const;

const inputs = fc.record({
  scenario: fc.oneof(
    scenarioArb({
      ids: IDS,
      extraLeaf: "par.all(perm0)",
      rel0Modes: ["plain", "caveat", "caveat", "expired", "expires-later"],
      maxRelationships: 30,
      contexts: [undefined],
    }),
    scenarioArb({
      ids: IDS,
      extraLeaf: "par->perm1",
      rel0Modes: ["plain", "plain", "caveat", "expired", "expires-later"],
      maxRelationships: 30,
      contexts: [undefined],
      wildcardExclusions: true,
    }),
    // Subject sets only into `rel0`: membership relations, answered from the subject's index
    // where it fits under the limit (the set chain below then nests groups past it).
    scenarioArb({
      ids: IDS,
      extraLeaf: "par->rel0",
      rel0Modes: ["plain", "plain", "plain", "caveat", "expires-later"],
      maxRelationships: 20,
      contexts: [undefined],
    }).filter(({ shape }) => shape.sets.every(([, relation]) => relation === "rel0")),
  ),
  /** `par` links c0 <- c1 <- ... and subject-set links g0 <- g1 <- ...: longer than small limits. */
  chain: fc.integer({ min: 0, max: 9 }),
  maxDepth: fc.constantFrom(2, 3, 4, 6, 50),
});

/** The chains beside a scenario's random relationships, and the ids to ask about on them. */
function withChains(scenario: Scenario, chain: number) {
  const links: Relationship[] = [
    { resource: { type: "typea", id: "c0" }, relation: "rel0", subject: { type: "user", id: "u0" } },
  ];
  for (let i = 0; i < chain; i++) {
    links.push({
      resource: { type: "typea", id: `c${i + 1}` },
      relation: "par",
      subject: { type: "typea", id: `c${i}` },
    });
  }
  // A chain of subject sets through one the schema allows: `t:g{i+1}#rel0@t:g{i}#r`.
  const [setType, setRelation] = scenario.shape.sets[0]!;
  links.push({
    resource: { type: setType, id: "g0" },
    relation: "rel0",
    subject: { type: "user", id: "u1" },
  });
  for (let i = 0; i < chain; i++) {
    links.push({
      resource: { type: setType, id: `g${i + 1}` },
      relation: "rel0",
      subject: { type: setType, id: `g${i}`, relation: setRelation },
    });
  }
  const below = Math.max(0, chain - 1);
  return {
    relationships: [...scenario.relationships, ...links],
    ids: [...new Set([...IDS, "c0", `c${chain}`, `c${below}`, "g0", `g${chain}`, `g${below}`])],
    setSubject: { type: setType, id: "g0", relation: setRelation } as SubjectRef,
  };
}

const keyOf = (s: SubjectRef) => `${s.type}:${s.id}${s.relation === undefined ? "" : `#${s.relation}`}`;

/** Both walks over one store at one revision, each with nothing shared: no cache, own indexes. */
async function walksOver(store: MemoryStore, maxDepth: number) {
  const { revision, plan, deps, snapshot } = await walkSetting(store, maxDepth);
  if (snapshot.packedOf === undefined) throw new Error("the copy's snapshot packs no rows");
  // A snapshot without packed rows (as a wrapper may hand out): the walk packs them itself. Its
  // reads are the copy's, forwarded (the copy's snapshot keeps them as methods, not own properties).
  const unpacked: MemorySnapshot = {
    relationshipsOf: (type, id) => snapshot.relationshipsOf(type, id),
    lookupReverse: (query) => snapshot.lookupReverse(query),
    holds: (type, relation) => snapshot.holds?.(type, relation) ?? true,
  };
  return {
    plan,
    /** One in-memory walk for `subject`: it remembers answers across questions, as in CheckBulk. */
    inMemory: (subject: SubjectRef) => deps.snapshotWalk(plan, revision, snapshot, subject, keyOf(subject)),
    inMemoryUnpacked: (subject: SubjectRef) =>
      deps.snapshotWalk(plan, revision, unpacked, subject, keyOf(subject)),
    /** The batched evaluator over `ids` at once, in a fresh request. */
    batched: async (subject: SubjectRef, member: PlanMember, ids: readonly string[]) => {
      const ctx = deps.makeContext(
        plan,
        revision,
        subject,
        keyOf(subject),
        undefined,
        false,
        undefined,
        new Map(),
        createRequestResults(),
      );
      return (await deps.run(ctx, member, ids)).m;
    },
  };
}

function leavesOf(m: CaveatExpr, into: Map<string, number>): void {
  switch (m.op) {
    case "caveat": {
      const key = `${m.name}|${JSON.stringify(m.context ?? null)}`;
      if (!into.has(key)) into.set(key, into.size);
      return;
    }
    case "not":
      leavesOf(m.child, into);
      return;
    default:
      for (const c of m.children) leavesOf(c, into);
  }
}

function evaluate(m: CaveatExpr, leaves: Map<string, number>, bits: number): boolean {
  switch (m.op) {
    case "caveat":
      return ((bits >> leaves.get(`${m.name}|${JSON.stringify(m.context ?? null)}`)!) & 1) === 1;
    case "not":
      return !evaluate(m.child, leaves, bits);
    case "and":
      return m.children.every((c) => evaluate(c, leaves, bits));
    case "or":
      return m.children.some((c) => evaluate(c, leaves, bits));
  }
}

const truth = (m: Member | undefined, leaves: Map<string, number>, bits: number): boolean =>
  m === undefined ? false : m === true ? true : evaluate(m, leaves, bits);

/** Whether two memberships are the same boolean function of their leaves (every assignment). */
function sameMembership(a: Member | undefined, b: Member | undefined): boolean {
  const leaves = new Map<string, number>();
  if (a !== undefined && a !== true) leavesOf(a, leaves);
  if (b !== undefined && b !== true) leavesOf(b, leaves);
  // The random schemas have few distinct leaves; past 16 the cost would be felt, not the point.
  expect(leaves.size).toBeLessThanOrEqual(16);
  for (let bits = 0; bits < 1 << leaves.size; bits++) {
    if (truth(a, leaves, bits) !== truth(b, leaves, bits)) return false;
  }
  return true;
}

/**
 * Whether `a` and `b` agree with `unlimited` wherever they do not depend on a leaf that stops a
 * walk (past the limit, or a cycle through an exclusion, which the fixpoint carries to more
 * places): for every assignment of the other leaves, each of them that has one value whatever its
 * stopping leaves are must have `unlimited`'s.
 */
function agreeUpToLimit(
  a: Member | undefined,
  b: Member | undefined,
  unlimited: Member | undefined,
): boolean {
  const leaves = new Map<string, number>();
  for (const m of [a, b, unlimited]) if (m !== undefined && m !== true) leavesOf(m, leaves);
  expect(leaves.size).toBeLessThanOrEqual(16);
  const deep = [...leaves]
    .filter(([k]) => k.startsWith(`${TOO_DEEP}|`) || k.startsWith(`${UNSTRATIFIED}|`))
    .map(([, i]) => i);
  const deepMask = deep.reduce((mask, i) => mask | (1 << i), 0);
  for (let bits = 0; bits < 1 << leaves.size; bits++) {
    if ((bits & deepMask) !== 0) continue;
    const want = truth(unlimited, leaves, bits);
    for (const m of [a, b]) {
      // Its values over every assignment of the past-the-limit leaves.
      const values = new Set<boolean>();
      for (let d = 0; d < 1 << deep.length; d++) {
        let assignment = bits;
        deep.forEach((i, j) => {
          if (((d >> j) & 1) === 1) assignment |= 1 << i;
        });
        values.add(truth(m, leaves, assignment));
      }
      if (values.size === 1 && !values.has(want)) return false;
    }
  }
  return true;
}

function kindOf(m: Member | undefined): "none" | "yes" | "caveat" | "past the limit" {
  if (m === undefined) return "none";
  if (m === true) return "yes";
  const leaves = new Map<string, number>();
  leavesOf(m, leaves);
  return [...leaves.keys()].some((k) => k.startsWith(`${TOO_DEEP}|`)) ? "past the limit" : "caveat";
}

const anyIndexed = (plan: Plan) =>
  [...plan.defs.values()].some((d) => [...d.members.values()].some((m) => m.indexed));

describe("both walks build the same memberships", () => {
  it("on random schemas, relationships, subjects and depth limits", async () => {
    const seen = new Map<string, number>();
    const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(inputs, async ({ scenario, chain, maxDepth }) => {
        const { relationships, ids, setSubject } = withChains(scenario, chain);
        const store = await createMemoryStore({ snapshots: true });
        await store.writeSchema(scenario.shape.schema);
        await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
        const walks = await walksOver(store, maxDepth);
        const cyclic = hasCycle(relationships);
        const unlimited = cyclic ? await walksOver(store, 50) : undefined;
        if (anyIndexed(walks.plan)) count("scenario with an indexed relation");
        const subjects: SubjectRef[] = [
          ...USERS.map((id) => ({ type: "user", id })),
          { type: "typea", id: "o0", relation: "perm0" },
          { type: "typeb", id: "o1", relation: "rel0" },
          setSubject,
        ];
        for (const subject of subjects) {
          // One walk per subject across every question (memo and heights reused), as CheckBulk does.
          const shared = walks.inMemory(subject);
          for (const type of TYPES) {
            for (const permission of PERMISSIONS) {
              const member = walks.plan.defs.get(type)!.members.get(permission)!;
              // Recursion through an exclusion is a leaf of the membership, not an error here (it
              // fails a check only when the answer depends on it), so every batch answers.
              const many = await walks.batched(subject, member, ids);
              for (const id of ids) {
                const label = `${keyOf(subject)} in ${type}:${id}#${permission} (maxDepth ${maxDepth}, chain ${chain})`;
                const fresh = walks.inMemory(subject).check(member, id);
                const reused = shared.check(member, id);
                expect(walks.inMemoryUnpacked(subject).check(member, id), `unpacked: ${label}`).toEqual(
                  fresh,
                );
                if (fresh === undefined) count("in-memory walk gave up");
                if (fresh === undefined && reused === undefined) continue;
                // The batched walk reads every row, and so may meet a cycle the other skipped:
                // its leaf must then drop out of the answer (a plain yes or no decided it).
                const one = (await walks.batched(subject, member, [id])).get(id);
                for (const [name, walked] of [
                  ["fresh", fresh],
                  ["reused", reused],
                ] as const) {
                  if (walked === undefined) continue;
                  const m = walked === false ? undefined : walked;
                  expect(sameMembership(m, one), `${name} walk vs batched: ${label}`).toBe(true);
                  const batch = many.get(id);
                  if (unlimited !== undefined && !sameMembership(m, batch)) {
                    const free = (await unlimited.batched(subject, member, [id])).get(id);
                    expect(
                      agreeUpToLimit(m, batch, free),
                      `${name} walk vs batch, up to the limit: ${label}`,
                    ).toBe(true);
                    count("cycle answered as a fixpoint past the limit");
                    continue;
                  }
                  expect(sameMembership(m, batch), `${name} walk vs batch: ${label}`).toBe(true);
                }
                count(kindOf(one));
              }
            }
          }
        }
      }),
      propertyRuns(80),
    );
    // Every kind of answer must be compared, and the walk must give up somewhere (cycles), or the
    // comparison proves little.
    for (const kind of [
      "yes",
      "caveat",
      "past the limit",
      "none",
      "in-memory walk gave up",
      "scenario with an indexed relation",
    ]) {
      expect(seen.get(kind) ?? 0, `${kind}: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    }
  });
});
