/**
 * Issue 23, finding 4: one depth limit, counted the same way on every path. A `parent->` chain
 * gives the same answer at limit-1, limit, limit+1 and 100 hops through the in-memory walk, the
 * batched evaluator, explain, CheckBulk and gRPC, whatever was asked before; an explanation at the
 * limit decodes over gRPC and through `latch check --explain`.
 *
 * Checking `folder:fN#view` needs N+1 dispatches (f_N#view, f_(N-1)#view ... f0#view, where
 * alice is a viewer): fN with N = limit-1 is exactly at the limit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkCommand } from "../../src/cli/commands/check.js";
import { createClient } from "../../src/client/index.js";
import { isLatchError, type Relationship } from "../../src/core/index.js";
import { type CheckBulkItem, createEngine, type Engine, type ExplainNode } from "../../src/engine/index.js";
import { runCommand } from "../cli/run-command.js";
import { createMemoryStore } from "../engine/memory-store.js";
import { type Harness, startHarness, TOKEN } from "../server/harness.js";

const LIMIT = 50;
const SCHEMA = `definition user {}

definition folder {
  relation parent: folder
  relation viewer: user
  permission view = viewer + parent->view
}
`;
const CHAIN: Relationship[] = [
  { resource: { type: "folder", id: "f0" }, relation: "viewer", subject: { type: "user", id: "alice" } },
  ...Array.from({ length: 100 }, (_, i) => ({
    resource: { type: "folder", id: `f${i + 1}` },
    relation: "parent",
    subject: { type: "folder", id: `f${i}` },
  })),
];
// Folders checked, by dispatches needed: limit-1, limit, limit+1, 101.
const CASES = [
  { id: `f${LIMIT - 2}`, want: "ALLOWED" },
  { id: `f${LIMIT - 1}`, want: "ALLOWED" },
  { id: `f${LIMIT}`, want: "check/max-depth-exceeded" },
  { id: "f100", want: "check/max-depth-exceeded" },
] as const;
const consistency = { kind: "fully-consistent" } as const;
const item = (id: string): CheckBulkItem => ({
  resource: { type: "folder", id },
  permission: "view",
  subject: { type: "user", id: "alice" },
});

async function outcome(run: () => Promise<{ state: string }>): Promise<string> {
  try {
    return (await run()).state;
  } catch (e) {
    if (isLatchError(e)) return e.code;
    throw e;
  }
}

async function engineOver(snapshots: boolean): Promise<Engine> {
  const store = await createMemoryStore({ snapshots });
  await store.writeSchema(SCHEMA);
  await store.write(CHAIN.map((relationship) => ({ operation: "touch", relationship })));
  return createEngine({ store, quantizationMs: 0, maxDepth: LIMIT });
}

/** Hops of the longest path in an explanation that goes through `folder:...#view` steps. */
function viewSteps(node: ExplainNode): number {
  let most = 0;
  const stack: { node: ExplainNode; seen: number }[] = [{ node, seen: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const seen = top.seen + (/^folder:f\d+#view$/.test(top.node.label) ? 1 : 0);
    if (seen > most) most = seen;
    for (const child of top.node.children ?? []) stack.push({ node: child, seen });
  }
  return most;
}

describe("the depth limit is the same on every path", () => {
  for (const [name, snapshots] of [
    ["the in-memory walk", true],
    ["the batched evaluator", false],
  ] as const) {
    for (const order of ["shallow first", "deep first"] as const) {
      it(`${name}, explain and CheckBulk agree (${order}, on one engine with its cache)`, async () => {
        const engine = await engineOver(snapshots);
        const cases = order === "shallow first" ? [...CASES] : [...CASES].reverse();
        for (const c of cases) {
          const check = await outcome(() => engine.check({ ...item(c.id), consistency }));
          const explained = await outcome(() => engine.check({ ...item(c.id), consistency, explain: true }));
          expect([c.id, check, explained]).toEqual([c.id, c.want, c.want]);
        }
        const bulk = await engine.checkBulk({ items: cases.map((c) => item(c.id)), consistency });
        expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual(cases.map((c) => c.want));
      });
    }
  }

  it("an explanation at the limit shows every hop", async () => {
    const engine = await engineOver(false);
    const answer = await engine.check({ ...item(`f${LIMIT - 1}`), consistency, explain: true });
    expect(answer.state).toBe("ALLOWED");
    expect(viewSteps(answer.explain!)).toBe(LIMIT);
  });

  describe("over gRPC", () => {
    let h: Harness;

    beforeAll(async () => {
      h = await startHarness();
      const client = createClient({ address: h.server.address, token: TOKEN });
      await client.writeSchema(SCHEMA);
      await client.writeRelationships({
        updates: CHAIN.map((relationship) => ({ operation: "touch" as const, relationship })),
      });
      await client.close();
    });

    afterAll(async () => {
      await h.close();
    });

    afterEach(() => {
      process.exitCode = undefined;
    });

    it("Check, Check with explain and CheckBulk agree, and explanations at the limit decode", async () => {
      const client = createClient({ address: h.server.address, token: TOKEN });
      try {
        for (const c of CASES) {
          const check = await outcome(() => client.check({ ...item(c.id), consistency }));
          const explained = await outcome(() => client.check({ ...item(c.id), consistency, explain: true }));
          expect([c.id, check, explained]).toEqual([c.id, c.want, c.want]);
        }
        const bulk = await client.checkBulk({ items: CASES.map((c) => item(c.id)), consistency });
        expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual(CASES.map((c) => c.want));
        const atLimit = await client.check({ ...item(`f${LIMIT - 1}`), consistency, explain: true });
        expect(atLimit.state).toBe("ALLOWED");
        expect(viewSteps(atLimit.explain!)).toBe(LIMIT);
      } finally {
        await client.close();
      }
    });

    it("latch check --explain prints an explanation at the limit", async () => {
      const target = ["--address", h.server.address, "--token", TOKEN];
      const result = await runCommand(checkCommand(), [
        `folder:f${LIMIT - 1}`,
        "view",
        "user:alice",
        "--explain",
        "--consistency",
        "fully-consistent",
        ...target,
      ]);
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const lines = result.stdout.trimEnd().split("\n");
      expect(lines[0]).toBe("allowed");
      for (let i = 0; i < LIMIT; i++) expect(result.stdout).toContain(`folder:f${i}#view → allowed`);
    });
  });
});
