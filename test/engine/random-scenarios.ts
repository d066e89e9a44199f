/**
 * Random schemas and relationship sets for the property tests (check and lookups): two object
 * types whose permissions are random expressions over relations with caveats, wildcards (caveated
 * too, so exclusions from a wildcard may be conditional on either side), subject
 * sets, arrows, `.all()`, expiration and cycles, plus relationships that exercise all of them.
 */
import fc from "fast-check";
import type { Relationship, SubjectRef } from "../../src/core/index.js";

export const TYPES = ["typea", "typeb"] as const;
export const USERS = ["u0", "u1", "u2"] as const;
/** Subject-set targets allowed on the `rel0`/`rel1` relations. */
const SET_TARGETS = ["rel0", "perm0", "perm1"] as const;

export interface Shape {
  readonly schema: string;
  readonly sets: readonly (readonly [string, string])[];
}

export interface ScenarioOptions {
  readonly ids: readonly string[];
  /** One extra leaf beside the common ones, so each suite leans on the arrows it cares about. */
  readonly extraLeaf: string;
  /** Weights of `rel0` relationship kinds: repeat a mode to make it likelier. */
  readonly rel0Modes: readonly ("plain" | "caveat" | "expired" | "expires-later")[];
  readonly maxRelationships: number;
  /** Request contexts to check with. */
  readonly contexts: readonly (Readonly<Record<string, unknown>> | undefined)[];
  /**
   * Lean on wildcards with exclusions: half the permissions shaped as `rel0 - rel1` (plain,
   * intersected, nested, through arrows), and in three scenarios of four a `user:*` (caveated or
   * not) on some object with users in `rel1` beside it, caveated or not.
   */
  readonly wildcardExclusions?: boolean;
}

export interface Scenario {
  readonly shape: Shape;
  readonly relationships: readonly Relationship[];
  readonly context: Readonly<Record<string, unknown>> | undefined;
}

const leafArb = (level: 0 | 1, extra: readonly string[]) =>
  fc.oneof(
    fc.constantFrom("rel0", "rel1", "nil", "par->perm0", "par->rel0", "par.all(rel1)", ...extra),
    level === 1 ? fc.constant("perm0") : fc.constant("rel1"),
  );

const exprArb = (level: 0 | 1, extra: readonly string[]): fc.Arbitrary<string> =>
  fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leafArb(level, extra),
      fc
        .tuple(tie("e"), fc.constantFrom("+", "+", "&", "-"), tie("e"))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
    ),
  })).e;

/**
 * Permissions shaped around a wildcard in `rel0` minus `rel1`: plain, intersected, nested, through
 * an arrow, and the wildcard itself under a `-` (level 1 may name perm0).
 */
const WILDCARD_EXCLUSIONS = [
  ["(rel0 - rel1)", "((rel0 - rel1) & rel0)", "(rel0 - (rel1 - par->rel0))", "((rel0 - par->rel1) + rel1)"],
  ["(perm0 - rel1)", "(rel0 - (rel1 - perm0))", "((rel0 & perm0) - rel1)", "(rel0 - par->perm0)"],
] as const;

function permArb(level: 0 | 1, extra: readonly string[], wildcardExclusions: boolean) {
  const random = exprArb(level, extra);
  return wildcardExclusions ? fc.oneof(random, fc.constantFrom(...WILDCARD_EXCLUSIONS[level])) : random;
}

/** The schema of two object types whose permissions are `p0` and `p1` (one per type), with `sets` as subject sets. */
export function shapeOf({
  p0,
  p1,
  sets,
}: {
  p0: readonly [string, string];
  p1: readonly [string, string];
  sets: readonly (readonly [string, string])[];
}): Shape {
  const setList = sets.map(([t, r]) => `${t}#${r}`).join(" | ");
  const defs = TYPES.map(
    (t, i) => `definition ${t} {
  relation rel0: user | user:* | user with cav1 | user:* with cav1 | user with expiration | ${setList}
  relation rel1: user | user with cav2 | ${setList} | ${setList.replaceAll(" |", " with cav1 |")} with cav1
  relation par: typea | typeb | typea with cav1
  permission perm0 = ${p0[i]}
  permission perm1 = ${p1[i]}
}`,
  );
  const schema = `use expiration

caveat cav1(x int) {
  x > 5
}

caveat cav2(flag bool, x int) {
  flag || x > 7
}

definition user {}

${defs.join("\n\n")}
`;
  return { schema, sets };
}

function shapeArb(extra: readonly string[], wildcardExclusions: boolean): fc.Arbitrary<Shape> {
  const perm0 = permArb(0, extra, wildcardExclusions);
  const perm1 = permArb(1, extra, wildcardExclusions);
  return fc
    .record({
      p0: fc.tuple(perm0, perm0),
      p1: fc.tuple(perm1, perm1),
      sets: fc.uniqueArray(fc.tuple(fc.constantFrom(...TYPES), fc.constantFrom(...SET_TARGETS)), {
        minLength: 1,
        maxLength: 3,
        selector: ([t, r]) => `${t}#${r}`,
      }),
    })
    .map(shapeOf);
}

function relationshipsArb(shape: Shape, options: ScenarioOptions): fc.Arbitrary<Relationship[]> {
  const past = new Date(Date.now() - 86_400_000);
  const future = new Date(Date.now() + 86_400_000 * 365);
  const ctxArb = fc.constantFrom(undefined, undefined, { x: 3 }, { x: 9 });
  const withCaveat = (name: string, ctx: Record<string, unknown> | undefined) => ({
    caveat: { name, ...(ctx ? { context: ctx } : {}) },
  });
  const resource = fc.record({ type: fc.constantFrom(...TYPES), id: fc.constantFrom(...options.ids) });
  const setSubject = fc
    .tuple(fc.constantFrom(...shape.sets), fc.constantFrom(...options.ids))
    .map(([[type, relation], id]): SubjectRef => ({ type, id, relation }));
  const user = fc.constantFrom(...USERS).map((id): SubjectRef => ({ type: "user", id }));
  const r0 = fc
    .record({
      resource,
      subject: fc.oneof(user, fc.constant<SubjectRef>({ type: "user", id: "*" }), setSubject),
      mode: fc.constantFrom(...options.rel0Modes),
      ctx: ctxArb,
    })
    .map(({ resource, subject, mode, ctx }): Relationship => {
      const isUser = subject.type === "user" && subject.id !== "*";
      return {
        resource,
        relation: "rel0",
        subject,
        // A caveated wildcard too: a conditional `user:*`, with or without exclusions.
        ...(subject.type === "user" && mode === "caveat" ? withCaveat("cav1", ctx) : {}),
        ...(isUser && mode === "expired" ? { expiration: past } : {}),
        ...(isUser && mode === "expires-later" ? { expiration: future } : {}),
      };
    });
  const r1 = fc
    .record({ resource, subject: fc.oneof(user, setSubject), caveated: fc.boolean(), ctx: ctxArb })
    .map(
      ({ resource, subject, caveated, ctx }): Relationship => ({
        resource,
        relation: "rel1",
        subject,
        ...(caveated ? withCaveat(subject.type === "user" ? "cav2" : "cav1", ctx) : {}),
      }),
    );
  const r2 = fc.record({ resource, target: resource, caveated: fc.boolean(), ctx: ctxArb }).map(
    ({ resource, target, caveated, ctx }): Relationship => ({
      resource,
      relation: "par",
      subject: target,
      ...(caveated && target.type === "typea" ? withCaveat("cav1", ctx) : {}),
    }),
  );
  // A wildcard and the users `rel1` may exclude from it, on one object.
  const kit = fc
    .record({
      resource,
      wildcardCaveat: fc.boolean(),
      wildcardCtx: ctxArb,
      excluded: fc.uniqueArray(
        fc.record({ id: fc.constantFrom(...USERS), caveated: fc.boolean(), ctx: ctxArb }),
        { minLength: 1, maxLength: 2, selector: (u) => u.id },
      ),
    })
    .map(({ resource, wildcardCaveat, wildcardCtx, excluded }): Relationship[] => [
      {
        resource,
        relation: "rel0",
        subject: { type: "user", id: "*" },
        ...(wildcardCaveat ? withCaveat("cav1", wildcardCtx) : {}),
      },
      ...excluded.map(
        (u): Relationship => ({
          resource,
          relation: "rel1",
          subject: { type: "user", id: u.id },
          ...(u.caveated ? withCaveat("cav2", u.ctx) : {}),
        }),
      ),
    ]);
  const kits =
    options.wildcardExclusions === true
      ? fc.oneof({ arbitrary: fc.constant([]), weight: 1 }, { arbitrary: kit, weight: 3 })
      : fc.constant([]);
  const random = fc.array(fc.oneof(r0, r1, r2), { maxLength: options.maxRelationships });
  return fc.tuple(kits, random).map(([extra, list]) => {
    // One relationship per (resource, relation, subject), as a store keeps it.
    const byKey = new Map<string, Relationship>();
    for (const r of [...extra, ...list]) {
      const s = r.subject;
      byKey.set(`${r.resource.type}:${r.resource.id}#${r.relation}@${s.type}:${s.id}#${s.relation ?? ""}`, r);
    }
    return [...byKey.values()];
  });
}

export function scenarioArb(options: ScenarioOptions): fc.Arbitrary<Scenario> {
  return shapeArb([options.extraLeaf], options.wildcardExclusions === true).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      relationships: relationshipsArb(shape, options),
      context: fc.constantFrom(...options.contexts),
    }),
  );
}

/**
 * A fixed scenario that meets every kind of witness the witness tests require (allowed and
 * conditional, by one relationship and by several), run as an example beside the random ones so
 * that no seed can leave a kind unseen: `perm1` goes through `par` to `perm0` (= `rel0`), over a
 * plain `par` to `typea:o0` and a caveated one (no context: conditional) to `typeb:o0`.
 */
export function witnessKindsScenario(context: Readonly<Record<string, unknown>> | undefined): Scenario {
  const user = (id: string): SubjectRef => ({ type: "user", id });
  return {
    shape: shapeOf({ p0: ["rel0", "rel0"], p1: ["par->perm0", "par->perm0"], sets: [["typea", "rel0"]] }),
    relationships: [
      { resource: { type: "typea", id: "o1" }, relation: "rel0", subject: user("u0") },
      { resource: { type: "typea", id: "o0" }, relation: "par", subject: { type: "typea", id: "o1" } },
      {
        resource: { type: "typeb", id: "o0" },
        relation: "par",
        subject: { type: "typea", id: "o1" },
        caveat: { name: "cav1" },
      },
      {
        resource: { type: "typeb", id: "o1" },
        relation: "rel0",
        subject: user("u1"),
        caveat: { name: "cav1" },
      },
    ],
    context,
  };
}

/**
 * fast-check's run options: `LATCH_PROPERTY_RUNS` overrides the number of runs and
 * `LATCH_PROPERTY_SEED` fixes the seed (to replay a failure, or to try other inputs than CI's).
 */
export function propertyRuns(defaultRuns: number): { numRuns: number; seed?: number } {
  return {
    numRuns: Number(process.env.LATCH_PROPERTY_RUNS ?? defaultRuns),
    ...(process.env.LATCH_PROPERTY_SEED ? { seed: Number(process.env.LATCH_PROPERTY_SEED) } : {}),
  };
}

/** Whether relationships, read as edges from a resource to its subject's object, make a cycle. */
export function hasCycle(relationships: readonly Relationship[]): boolean {
  const next = new Map<string, string[]>();
  for (const r of relationships) {
    const from = `${r.resource.type}:${r.resource.id}`;
    const list = next.get(from) ?? [];
    list.push(`${r.subject.type}:${r.subject.id}`);
    next.set(from, list);
  }
  const state = new Map<string, "open" | "done">();
  const visit = (node: string): boolean => {
    const seen = state.get(node);
    if (seen !== undefined) return seen === "open";
    state.set(node, "open");
    for (const to of next.get(node) ?? []) if (visit(to)) return true;
    state.set(node, "done");
    return false;
  };
  return [...next.keys()].some(visit);
}
