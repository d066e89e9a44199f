/**
 * Random schemas and relationships (caveats, wildcards, subject sets, nested sets, arrows,
 * `.all()`, intersections, exclusions, expiration, cycles): LookupResources and LookupSubjects
 * return exactly what the naive reference evaluator says, object by object and subject by subject.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Relationship, SubjectRef } from "../../src/core/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { crossCheck, type Oracle, type Verdict } from "./lookup-crosscheck.js";
import { createLookupEngine } from "./lookup-harness.js";
import { createMemoryStore } from "./memory-store.js";
import { CycleThroughExclusion, referenceCheck } from "./reference.js";

const TYPES = ["typea", "typeb"] as const;
const IDS = ["o0", "o1", "o2"] as const;
const USERS = ["u0", "u1", "u2"] as const;
const SET_TARGETS = ["rel0", "perm0", "perm1"] as const;

const leaf = (level: 0 | 1) =>
  fc.oneof(
    fc.constantFrom("rel0", "rel1", "nil", "par->perm0", "par->rel0", "par.all(rel1)", "par->perm1"),
    level === 1 ? fc.constant("perm0") : fc.constant("rel1"),
  );

const expr = (level: 0 | 1): fc.Arbitrary<string> =>
  fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf(level),
      fc
        .tuple(tie("e"), fc.constantFrom("+", "+", "&", "-"), tie("e"))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
    ),
  })).e;

interface Shape {
  readonly schema: string;
  readonly sets: readonly (readonly [string, string])[];
}

const shapeArb: fc.Arbitrary<Shape> = fc
  .record({
    p0: fc.tuple(expr(0), expr(0)),
    p1: fc.tuple(expr(1), expr(1)),
    sets: fc.uniqueArray(fc.tuple(fc.constantFrom(...TYPES), fc.constantFrom(...SET_TARGETS)), {
      minLength: 1,
      maxLength: 3,
      selector: ([t, r]) => `${t}#${r}`,
    }),
  })
  .map(({ p0, p1, sets }) => {
    const setList = sets.map(([t, r]) => `${t}#${r}`).join(" | ");
    const defs = TYPES.map(
      (t, i) => `definition ${t} {
  relation rel0: user | user:* | user with cav1 | user with expiration | ${setList}
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
  });

const past = new Date(Date.now() - 86_400_000);
const future = new Date(Date.now() + 86_400_000 * 365);
const ctxArb = fc.constantFrom(undefined, undefined, { x: 3 }, { x: 9 });

function relationshipsArb(shape: Shape): fc.Arbitrary<Relationship[]> {
  const resource = fc.record({ type: fc.constantFrom(...TYPES), id: fc.constantFrom(...IDS) });
  const setSubject = fc
    .tuple(fc.constantFrom(...shape.sets), fc.constantFrom(...IDS))
    .map(([[type, relation], id]): SubjectRef => ({ type, id, relation }));
  const user = fc.constantFrom(...USERS).map((id): SubjectRef => ({ type: "user", id }));
  const r0 = fc
    .record({
      resource,
      subject: fc.oneof(user, fc.constant<SubjectRef>({ type: "user", id: "*" }), setSubject),
      mode: fc.constantFrom("plain", "plain", "caveat", "expired", "expires-later"),
      ctx: ctxArb,
    })
    .map(({ resource, subject, mode, ctx }): Relationship => {
      const isUser = subject.type === "user" && subject.id !== "*";
      return {
        resource,
        relation: "rel0",
        subject,
        ...(isUser && mode === "caveat"
          ? { caveat: { name: "cav1", ...(ctx ? { context: ctx } : {}) } }
          : {}),
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
        ...(caveated
          ? { caveat: { name: subject.type === "user" ? "cav2" : "cav1", ...(ctx ? { context: ctx } : {}) } }
          : {}),
      }),
    );
  const r2 = fc.record({ resource, target: resource, caveated: fc.boolean(), ctx: ctxArb }).map(
    ({ resource, target, caveated, ctx }): Relationship => ({
      resource,
      relation: "par",
      subject: target,
      ...(caveated && target.type === "typea"
        ? { caveat: { name: "cav1", ...(ctx ? { context: ctx } : {}) } }
        : {}),
    }),
  );
  return fc.array(fc.oneof(r0, r1, r2), { maxLength: 25 }).map((list) => {
    const byKey = new Map<string, Relationship>();
    for (const r of list) {
      const s = r.subject;
      byKey.set(`${r.resource.type}:${r.resource.id}#${r.relation}@${s.type}:${s.id}#${s.relation ?? ""}`, r);
    }
    return [...byKey.values()];
  });
}

const scenarioArb = shapeArb.chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    relationships: relationshipsArb(shape),
    context: fc.constantFrom(undefined, { x: 6 }, { flag: true }, { x: 1, flag: false }),
  }),
);

describe("lookups equal the reference evaluator", () => {
  it("on random schemas and relationships", async () => {
    const totals = { lookups: 0, nonEmpty: 0, skipped: 0 };
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ shape, relationships, context }) => {
        const schema = compileSchema(shape.schema);
        const store = createMemoryStore();
        await store.writeSchema(shape.schema);
        await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
        const engine = createLookupEngine({ store, quantizationMs: 0 });
        const now = Date.now();
        const oracle: Oracle = async (pairs, permission, ctx) =>
          pairs.map(({ resource, subject }): Verdict => {
            try {
              return referenceCheck(schema, relationships, resource, permission, subject, ctx ?? {}, now);
            } catch (e) {
              if (e instanceof CycleThroughExclusion) return "error";
              throw e;
            }
          });
        const { problems, stats } = await crossCheck(engine, schema, relationships, oracle, [context], {
          // Recursion through an exclusion has no answer; batching may meet it where the
          // one-at-a-time reference does not.
          tolerate: (code) => code === "check/cycle-through-exclusion",
        });
        totals.lookups += stats.lookupResources + stats.lookupSubjects;
        totals.nonEmpty += stats.nonEmpty;
        totals.skipped += stats.skipped;
        expect(problems, `${shape.schema}\n${JSON.stringify(relationships)}\n${problems.join("\n")}`).toEqual(
          [],
        );
      }),
      { numRuns: 80 },
    );
    // The generator must produce lookups with answers, or the comparison proves little (about one
    // lookup in ten has any; the bound leaves room for unlucky seeds).
    expect(totals.nonEmpty).toBeGreaterThan(totals.lookups / 20);
    expect(totals.skipped).toBeLessThan(totals.lookups / 4);
  });
});
