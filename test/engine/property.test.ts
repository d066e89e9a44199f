/**
 * Random schemas and relationship sets (caveats, wildcards, subject sets, exclusions,
 * intersections, arrows, `.all()`, expiration, cycles): every check the engine answers equals the
 * naive reference evaluator, and CheckBulk equals Check item by item.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isLatchError, type Relationship, type SubjectRef } from "../../src/core/index.js";
import { type CheckBulkItem, createEngine } from "../../src/engine/index.js";
import { compileSchema } from "../../src/schema/index.js";
import { createMemoryStore } from "./memory-store.js";
import { CycleThroughExclusion, referenceCheck } from "./reference.js";

const TYPES = ["typea", "typeb"] as const;
const IDS = ["o0", "o1"] as const;
const USERS = ["u0", "u1", "u2"] as const;

/** Subject-set targets allowed on the `r0`/`r1` relations. */
const SET_TARGETS = ["rel0", "perm0", "perm1"] as const;

type Expr = string;

const leafExpr = (level: 0 | 1): fc.Arbitrary<Expr> =>
  fc.oneof(
    fc.constantFrom("rel0", "rel1", "nil", "par->perm0", "par->rel0", "par.all(rel1)", "par.all(perm0)"),
    level === 1 ? fc.constant("perm0") : fc.constant("rel1"),
  );

const exprArb = (level: 0 | 1): fc.Arbitrary<Expr> =>
  fc.letrec<{ e: Expr }>((tie) => ({
    e: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leafExpr(level),
      fc
        .tuple(tie("e"), fc.constantFrom("+", "+", "&", "-"), tie("e"))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
    ),
  })).e;

interface Shape {
  readonly schema: string;
  readonly setTargets: readonly (readonly [string, string])[];
}

const schemaArb: fc.Arbitrary<Shape> = fc
  .record({
    p0: fc.tuple(exprArb(0), exprArb(0)),
    p1: fc.tuple(exprArb(1), exprArb(1)),
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
    return { schema, setTargets: sets };
  });

const past = new Date(Date.now() - 86_400_000);
const future = new Date(Date.now() + 86_400_000 * 365);

const caveatCtx = fc.oneof(
  fc.constant(undefined),
  fc.constant(undefined),
  fc.constant({ x: 3 }),
  fc.constant({ x: 9 }),
);

function relationshipsArb(shape: Shape): fc.Arbitrary<Relationship[]> {
  const resource = fc.record({ type: fc.constantFrom(...TYPES), id: fc.constantFrom(...IDS) });
  const setSubject = fc
    .tuple(fc.constantFrom(...shape.setTargets), fc.constantFrom(...IDS))
    .map(([[type, relation], id]): SubjectRef => ({ type, id, relation }));
  const r0 = fc
    .record({
      resource,
      subject: fc.oneof(
        fc.constantFrom(...USERS).map((id): SubjectRef => ({ type: "user", id })),
        fc.constant<SubjectRef>({ type: "user", id: "*" }),
        setSubject,
      ),
      mode: fc.constantFrom("plain", "caveat", "caveat", "expired", "expires-later"),
      ctx: caveatCtx,
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
    .record({
      resource,
      subject: fc.oneof(
        fc.constantFrom(...USERS).map((id): SubjectRef => ({ type: "user", id })),
        setSubject,
      ),
      caveated: fc.boolean(),
      ctx: caveatCtx,
    })
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
  const r2 = fc.record({ resource, target: resource, caveated: fc.boolean(), ctx: caveatCtx }).map(
    ({ resource, target, caveated, ctx }): Relationship => ({
      resource,
      relation: "par",
      subject: target,
      ...(caveated && target.type === "typea"
        ? { caveat: { name: "cav1", ...(ctx ? { context: ctx } : {}) } }
        : {}),
    }),
  );
  return fc.array(fc.oneof(r0, r1, r2), { maxLength: 30 }).map((list) => {
    // One relationship per (resource, relation, subject), as a store keeps it.
    const byKey = new Map<string, Relationship>();
    for (const r of list) {
      const s = r.subject;
      byKey.set(`${r.resource.type}:${r.resource.id}#${r.relation}@${s.type}:${s.id}#${s.relation ?? ""}`, r);
    }
    return [...byKey.values()];
  });
}

const scenarioArb = schemaArb.chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    relationships: relationshipsArb(shape),
    context: fc.constantFrom({}, {}, { x: 6 }, { flag: true }, { x: 1, flag: false }),
  }),
);

describe("engine equals the reference evaluator", () => {
  it("on random schemas and relationships", async () => {
    const seen = { ALLOWED: 0, DENIED: 0, CONDITIONAL: 0, unstratified: 0 };
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ shape, relationships, context }) => {
        const schema = compileSchema(shape.schema);
        const store = createMemoryStore();
        await store.writeSchema(shape.schema);
        await store.write(relationships.map((relationship) => ({ operation: "touch", relationship })));
        const engine = createEngine({ store, quantizationMs: 0 });
        const subjects: SubjectRef[] = [
          ...USERS.map((id) => ({ type: "user", id })),
          { type: "typea", id: "o0", relation: "perm0" },
          { type: "typeb", id: "o1", relation: "rel0" },
        ];
        const items: CheckBulkItem[] = [];
        for (const type of TYPES) {
          for (const id of IDS) {
            for (const permission of ["rel0", "rel1", "perm0", "perm1"]) {
              for (const subject of subjects)
                items.push({ resource: { type, id }, permission, subject, context });
            }
          }
        }
        const now = Date.now();
        // Recursion through an exclusion has no defined answer; both sides refuse it, though
        // batching may explore (and so refuse) a little more than the one-at-a-time reference.
        const expectedOf = (item: CheckBulkItem) => {
          try {
            return referenceCheck(
              schema,
              relationships,
              item.resource,
              item.permission,
              item.subject,
              item.context,
              now,
            );
          } catch (e) {
            if (e instanceof CycleThroughExclusion) return "unstratified" as const;
            throw e;
          }
        };
        const expected = items.map(expectedOf);
        for (const [i, item] of items.entries()) {
          const want = expected[i]!;
          let got: string;
          try {
            got = (await engine.check({ ...item, consistency: { kind: "fully-consistent" } })).state;
          } catch (e) {
            if (!(isLatchError(e) && e.code === "check/cycle-through-exclusion")) throw e;
            got = "unstratified";
          }
          seen[want]++;
          if (want === "unstratified" || got === "unstratified") continue;
          expect(got, JSON.stringify(item)).toBe(want);
        }
        // Concurrent checks on a fresh engine share in-flight subproblems: same answers, no deadlock.
        const concurrent = createEngine({ store, quantizationMs: 0 });
        const together = await Promise.all(
          items.map((item) =>
            concurrent.check({ ...item, consistency: { kind: "fully-consistent" } }).then(
              (r) => r.state as string,
              (e) => {
                if (isLatchError(e) && e.code === "check/cycle-through-exclusion") return "unstratified";
                throw e;
              },
            ),
          ),
        );
        for (const [i, item] of items.entries()) {
          const want = expected[i]!;
          if (want === "unstratified" || together[i] === "unstratified") continue;
          expect(together[i], `concurrent ${JSON.stringify(item)}`).toBe(want);
        }
        const bulk = await engine.checkBulk({ items, consistency: { kind: "fully-consistent" } });
        for (const [i, item] of items.entries()) {
          const r = bulk.results[i]!;
          const want = expected[i]!;
          if (!r.ok) {
            expect(r.error.code).toBe("check/cycle-through-exclusion");
            continue;
          }
          if (want === "unstratified") continue;
          expect(r.state, `bulk ${JSON.stringify(item)}`).toBe(want);
        }
      }),
      { numRuns: Number(process.env.LATCH_PROPERTY_RUNS ?? 150) },
    );
    // The generator must exercise every outcome, or the comparison proves little.
    expect(seen.ALLOWED).toBeGreaterThan(0);
    expect(seen.CONDITIONAL).toBeGreaterThan(0);
    expect(seen.DENIED).toBeGreaterThan(0);
    expect(seen.unstratified).toBeLessThan((seen.ALLOWED + seen.DENIED + seen.CONDITIONAL) / 4);
  });
});
