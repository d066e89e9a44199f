/**
 * Stall review (requests whose work grows with the data), finding 1: a posture report read every
 * relationship, walked reach for every identity and read the decision log without ever giving the
 * event loop a turn (the store and the in-memory copy answer without a macrotask), so on the
 * scale-m corpus one report held the server 0.9-2.6 s and every other call waited behind it
 * (`npx tsx bench/stall-data.ts`). Now its passes share one pacer (engine/pacer.ts): it yields
 * every few milliseconds and stops at its next turn once its call is aborted.
 *
 * The clock is stepped by the calls that read it, not by time, so where the report yields depends
 * on the work it does only, and no assertion here depends on how fast the machine is.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import { createPostureReport } from "../../src/posture/index.js";
import type { RelationshipUpdate, Store } from "../../src/store/index.js";
import { createMirroredStore } from "../../src/store/mirror/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { turnCounter } from "./stepped-clock.js";

const SCHEMA = `definition user {}
definition agent {
  relation owner: user
}
definition folder {
  relation parent: folder
  relation viewer: user | agent
  permission view = viewer + parent->view
}
definition document {
  relation parent: folder
  relation viewer: user | agent
  permission view = viewer + parent->view
}`;

const CONFIG = `identities:
  agent: { owner: owner }
reach: [document#view, folder#view]
owner_access: { document: view, folder: view }
`;

const NOW = new Date("2030-01-01T00:00:00Z");
const FOLDERS = 100;
const DOCUMENTS = 6_000;
const AGENTS = 60;

function corpus(): string[] {
  const out: string[] = [];
  for (let f = 1; f < FOLDERS; f++) out.push(`folder:f${f}#parent@folder:f${(f - 1) >> 1}`);
  for (let d = 0; d < DOCUMENTS; d++) {
    out.push(`document:d${d}#parent@folder:f${d % FOLDERS}`);
    out.push(`document:d${d}#viewer@user:u${d % 500}`);
  }
  for (let a = 0; a < AGENTS; a++) {
    out.push(`agent:a${a}#owner@user:u${a}`);
    out.push(`folder:f${(a * 7) % FOLDERS}#viewer@agent:a${a}`);
    out.push(`document:d${(a * 97) % DOCUMENTS}#viewer@agent:a${a}`);
  }
  return out;
}

const touch = (text: string): RelationshipUpdate => ({
  operation: "touch",
  relationship: parseRelationship(text),
});

/** The report reads SQLite directly (the CLI) or the in-memory copy in front of it (`latch serve`). */
const SETUPS: Record<string, (sqlite: Store) => Promise<Store>> = {
  "SQLite reads": async (sqlite) => sqlite,
  "the in-memory copy": async (sqlite) => {
    const mirror = createMirroredStore(sqlite);
    if (!(await mirror.ready())) throw new Error("the in-memory copy did not load");
    return mirror;
  },
};

beforeEach(() => {
  // Each read of the clock is a millisecond later: the pacer's slice passes after a fixed amount of work.
  let t = 0;
  vi.spyOn(performance, "now").mockImplementation(() => ++t);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(Object.entries(SETUPS))("a posture report over many relationships, %s", (_, open) => {
  let store: Store;
  let engine: Engine;
  let loaded: bigint;
  beforeAll(async () => {
    const sqlite = await createSqliteStore({ path: ":memory:" });
    await sqlite.writeSchema(SCHEMA);
    loaded = (await sqlite.importRelationships(corpus().map(parseRelationship))).revision;
    store = await open(sqlite);
    engine = createEngine({ store });
  });
  afterAll(() => store.close());

  const report = (signal?: { readonly aborted: boolean }) =>
    createPostureReport({ store, engine, config: CONFIG, revision: loaded, now: NOW, signal });

  it("lets other calls run while it reads, walks and checks", async () => {
    let finished = false;
    let answeredDuring: boolean | undefined;
    // Another call, arriving just after the report started: it must not wait for the whole report.
    setImmediate(async () => {
      const r = await engine.check({
        resource: { type: "document", id: "d1" },
        permission: "view",
        subject: { type: "user", id: "u1" },
      });
      expect(r.state).toBe("ALLOWED");
      answeredDuring = !finished;
    });
    const turns = turnCounter();
    const { report: r } = await report();
    finished = true;
    expect(r.summary.relationships).toBe(corpus().length);
    expect(answeredDuring).toBe(true);
    // Many turns, not one: every pass yields, not only the bulk checks at the end.
    expect(turns.stop()).toBeGreaterThan(20);
  });

  it("answers at its revision whatever is written between its turns", async () => {
    const { report: quiet } = await report();
    let writes = 0;
    let stopped = false;
    const writer = async () => {
      if (stopped) return;
      // New grants and deletions of the agents' own: all after the report's revision.
      const a = writes % AGENTS;
      await store.write([touch(`document:d${writes % DOCUMENTS}#viewer@agent:a${a}`)]);
      await store.deleteRelationships({ resourceType: "folder", subject: { type: "agent", id: `a${a}` } });
      writes++;
      setImmediate(writer);
    };
    setImmediate(writer);
    const { report: busy } = await report();
    stopped = true;
    expect(writes).toBeGreaterThan(0);
    expect(busy).toEqual(quiet);
  });

  it("stops at its next turn once its call is aborted, with request/deadline-exceeded", async () => {
    const call = { aborted: false };
    setImmediate(() => {
      call.aborted = true;
    });
    const error = await report(call).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLatchError(error) && error.code).toBe("request/deadline-exceeded");
  });
});
