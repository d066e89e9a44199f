/**
 * Witnesses by example: which relationships each operator puts in the witness of an ALLOWED or
 * CONDITIONAL answer, the same through the in-memory walk and the batched evaluator.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatRelationship,
  parseObjectRef,
  parseRelationship,
  parseSubjectRef,
} from "../../src/core/index.js";
import {
  type AsAsked,
  type CheckRequest,
  checkNowOf,
  createEngine,
  type Engine,
} from "../../src/engine/index.js";
import { joinProofs, type Proof, ProofJoin, proofRelationships } from "../../src/engine/witness.js";
import { createMemoryStore } from "./memory-store.js";
import { propertyRuns } from "./random-scenarios.js";

const SCHEMA = `
caveat in_office(ip string) { ip == "10.0.0.1" }
definition user {}
definition group {
  relation member: user | group#member
}
definition folder {
  relation viewer: user | group#member
  permission view = viewer
}
definition document {
  relation parent: folder
  relation viewer: user | user:* | group#member | user with in_office
  relation editor: user
  relation banned: user
  relation approved: user
  permission read = viewer + parent->view
  permission edit = editor & approved
  permission open = viewer - banned
}
`;

const DATA = [
  "group:finance#member@user:alice",
  "group:all#member@group:finance#member",
  "document:q3#viewer@group:all#member",
  "folder:f#viewer@user:bob",
  "document:q3#parent@folder:f",
  "document:q3#editor@user:carol",
  "document:q3#approved@user:carol",
  "document:pub#viewer@user:*",
  "document:pub#banned@user:mallory",
  "document:vpn#viewer@user:dave[in_office]",
];

async function engines(): Promise<[string, Engine][]> {
  const out: [string, Engine][] = [];
  for (const snapshots of [true, false]) {
    const store = await createMemoryStore({ snapshots });
    await store.writeSchema(SCHEMA);
    await store.write(DATA.map((d) => ({ operation: "touch", relationship: parseRelationship(d) })));
    out.push([
      snapshots ? "in-memory walk" : "batched evaluator",
      createEngine({ store, quantizationMs: 0 }),
    ]);
  }
  return out;
}

const CASES: [string, string, string, string, readonly string[] | undefined][] = [
  // [resource, permission, subject, state, witness]
  [
    "document:q3",
    "read",
    "user:alice",
    "ALLOWED",
    [
      "document:q3#viewer@group:all#member",
      "group:all#member@group:finance#member",
      "group:finance#member@user:alice",
    ],
  ],
  ["document:q3", "read", "user:bob", "ALLOWED", ["document:q3#parent@folder:f", "folder:f#viewer@user:bob"]],
  [
    "document:q3",
    "edit",
    "user:carol",
    "ALLOWED",
    ["document:q3#editor@user:carol", "document:q3#approved@user:carol"],
  ],
  ["document:pub", "open", "user:eve", "ALLOWED", ["document:pub#viewer@user:*"]],
  ["document:pub", "open", "user:mallory", "DENIED", undefined],
  ["document:vpn", "read", "user:dave", "CONDITIONAL", ["document:vpn#viewer@user:dave[in_office]"]],
  ["group:finance", "member", "group:finance#member", "ALLOWED", []],
];

describe("witnesses by example", () => {
  it("name the relationships each operator relied on, through both walks, for Check and CheckBulk", async () => {
    for (const [walk, engine] of await engines()) {
      for (const [resource, permission, subject, state, witness] of CASES) {
        const request = { resource: parseObjectRef(resource), permission, subject: parseSubjectRef(subject) };
        const label = `${walk}: ${subject} ${permission} ${resource}`;
        const r = await engine.check({ ...request, witness: true });
        expect(r.state, label).toBe(state);
        expect(r.witness?.map(formatRelationship), label).toEqual(witness);
        const bulk = await engine.checkBulk({ items: [request], witness: true });
        const item = bulk.results[0]!;
        expect(item.ok && item.witness?.map(formatRelationship), `bulk ${label}`).toEqual(
          witness ?? undefined,
        );
        // Not asked: no witness.
        expect((await engine.check(request)).witness, label).toBeUndefined();
      }
    }
  });
});

describe("the Check answered at once (checkNow, carried by the engine's check)", () => {
  it("answers as check does, and given asAsked, with the witness and the answer as asked apart", async () => {
    for (const [walk, engine] of await engines()) {
      const now = checkNowOf(engine.check);
      expect(now, walk).toBeDefined();
      for (const [resource, permission, subject] of CASES) {
        const plain = { resource: parseObjectRef(resource), permission, subject: parseSubjectRef(subject) };
        // As it came, asking for a witness, and asking for an explanation (the batched walk).
        for (const request of [
          plain,
          { ...plain, witness: true },
          { ...plain, explain: true },
        ] as CheckRequest[]) {
          const label = `${walk}: ${JSON.stringify(request)}`;
          expect(await now!(request), label).toEqual(await engine.check(request));
          const asAsked: AsAsked = { answer: undefined };
          const witnessed = await now!(request, undefined, asAsked);
          expect(witnessed, label).toEqual(await engine.check({ ...request, witness: true }));
          expect(asAsked.answer, label).toEqual(await engine.check(request));
        }
      }
      // What check refuses (a chain, without the delegation decorator), it throws or rejects.
      const request = {
        resource: parseObjectRef("document:q3"),
        permission: "read",
        subject: parseSubjectRef("agent:a"),
        onBehalfOf: [parseSubjectRef("user:alice")],
      };
      await expect(async () => now!(request)).rejects.toMatchObject({ code: "delegation/not-enabled" });
    }
  });
});

describe("witnessed answers remembered", () => {
  it("answer a repeated witnessing check, and a bulk item asking the same, with no walk", async () => {
    const [, engine] = (await engines())[0]!;
    const request = {
      resource: parseObjectRef("document:q3"),
      permission: "read",
      subject: parseSubjectRef("user:alice"),
      witness: true,
    };
    const first = await engine.check(request);
    const walked = engine.stats().dispatches;
    const again = await engine.check(request);
    expect(engine.stats().dispatches).toBe(walked);
    expect(again.witness).toEqual(first.witness);
    const bulk = await engine.checkBulk({ items: [request], witness: true });
    expect(engine.stats().dispatches).toBe(walked);
    expect(bulk.results[0]).toMatchObject({ ok: true, state: "ALLOWED", witness: first.witness });
  });
});

describe("a subproblem met again in one walk", () => {
  it("keeps its proof: bulk items through one folder, proved by a group or by one row", async () => {
    // One walk serves every item (same subject): the second of each pair meets the folder's view
    // in the walk's memo, proved the first time by a join (folder:f2's row and the group below
    // it) or by one row (folder:f3's).
    const data = [
      "group:finance#member@user:alice",
      "folder:f2#viewer@group:finance#member",
      "document:d1#parent@folder:f2",
      "document:d2#parent@folder:f2",
      "folder:f3#viewer@user:alice",
      "document:d3#parent@folder:f3",
      "document:d4#parent@folder:f3",
    ];
    const subject = parseSubjectRef("user:alice");
    for (const snapshots of [true, false]) {
      const store = await createMemoryStore({ snapshots });
      await store.writeSchema(SCHEMA);
      await store.write(data.map((d) => ({ operation: "touch", relationship: parseRelationship(d) })));
      const engine = createEngine({ store, cache: false });
      const bulk = await engine.checkBulk({
        items: ["document:d1", "document:d2", "document:d3", "document:d4"].map((d) => ({
          resource: parseObjectRef(d),
          permission: "read",
          subject,
        })),
        witness: true,
      });
      const below = ["folder:f2#viewer@group:finance#member", "group:finance#member@user:alice"];
      expect(
        bulk.results.map((r) => (r.ok && r.witness !== undefined ? r.witness.map(formatRelationship) : r)),
        snapshots ? "in-memory walk" : "batched evaluator",
      ).toEqual([
        ["document:d1#parent@folder:f2", ...below],
        ["document:d2#parent@folder:f2", ...below],
        ["document:d3#parent@folder:f3", "folder:f3#viewer@user:alice"],
        ["document:d4#parent@folder:f3", "folder:f3#viewer@user:alice"],
      ]);
    }
  });
});

describe("a proof's relationships", () => {
  it("lists each relationship once, in the order met, however many and however often read", () => {
    const rel = (i: number) => parseRelationship(`document:d${i}#viewer@user:u${i}`);
    for (const n of [3, 40]) {
      let proof: Proof;
      // Each relationship twice, the second time as another object (read again).
      for (let i = 0; i < n; i++) proof = joinProofs(joinProofs(proof, rel(i)), rel(i));
      expect(proofRelationships(proof).map(formatRelationship)).toEqual(
        Array.from({ length: n }, (_, i) => formatRelationship(rel(i))),
      );
    }
    expect(proofRelationships(undefined)).toEqual([]);
  });
  it("lists what a naive walk of the tree keeps, for trees shallow and deep, narrow and wide", () => {
    const pool = Array.from({ length: 24 }, (_, i) =>
      parseRelationship(`document:d${i % 6}#viewer@group:g${i}#member`),
    );
    // A tree of joins over the pool: a leaf is a relationship (or none), read as the pool's own
    // object or as a copy (the same relationship read twice).
    const leaf = fc.oneof(
      fc.constant(undefined),
      fc.tuple(fc.nat(pool.length - 1), fc.boolean()).map(([i, copy]) => {
        const r = pool[i]!;
        return copy ? parseRelationship(formatRelationship(r)) : r;
      }),
    );
    const { tree } = fc.letrec<{ tree: Proof }>((tie) => ({
      tree: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        fc.tuple(tie("tree"), tie("tree")).map(([a, b]) => joinProofs(a, b)),
      ),
    }));
    // Chains past any shortcut's depth: a union's rows joined one after another (nesting to the
    // left), and a path of rows (nesting to the right).
    const chain = fc
      .tuple(fc.array(leaf, { minLength: 60, maxLength: 120 }), fc.boolean())
      .map(([leaves, left]) =>
        leaves.reduce<Proof>((acc, r) => (left ? joinProofs(acc, r) : joinProofs(r, acc)), undefined),
      );
    const naive = (p: Proof): string[] => {
      const out: string[] = [];
      const visit = (q: Proof): void => {
        if (q === undefined) return;
        if (q instanceof ProofJoin) {
          visit(q.left);
          visit(q.right);
          return;
        }
        const text = formatRelationship(q);
        if (!out.includes(text)) out.push(text);
      };
      visit(p);
      return out;
    };
    fc.assert(
      fc.property(fc.oneof(tree, chain), (proof) => {
        expect(proofRelationships(proof).map(formatRelationship)).toEqual(naive(proof));
      }),
      propertyRuns(300),
    );
  });
});
