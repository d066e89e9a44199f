/**
 * Hostile review of the fixpoint (2026-12-06): a CheckBulk whose items' paths all merge, over a
 * few hundred relationships that make rings of subject sets, held the event loop for seconds. The
 * batched walk never yielded (reads from memory answer without a macrotask), and every cut it met
 * followed each of its paths up the whole stack, again in every round of the fixpoint: 280 items
 * over 560 relationships took 1.3 s (nobody's check) to 15 s (a caveated grant). Now the walk
 * yields every few milliseconds through the request's pacer (engine/pacer.ts), and a walk that is
 * to be done again as a fixpoint (or is one) no longer follows paths it has no use for
 * (walk-stack.ts `onStack`).
 *
 * The clock is stepped by the calls that read it, not by time (stepped-clock.ts), so where the
 * walk yields depends on its work only, never on how fast the machine is.
 */
import { describe, expect, it } from "vitest";
import { RINGS_SCHEMA, ringIds, ringRows } from "../../bench/rings.js";
import { uncachedEngineOver } from "../engine/memory-store.js";
import { stepPerformanceClock, turnCounter } from "./stepped-clock.js";

stepPerformanceClock();

const SCHEMA = `definition user {}\n${RINGS_SCHEMA}`;
/** Under the depth limit: the bulk and a check of each item alone must then agree. */
const LEVELS = 20;
const IDS = ringIds(LEVELS);

const bulk = (who: string) => ({
  items: IDS.map((id) => ({
    resource: { type: "node", id },
    permission: "view",
    subject: { type: "user", id: who },
  })),
});

describe.each([
  ["the batched evaluator", false],
  ["the in-memory walk", true],
] as const)("a CheckBulk whose paths all merge, through %s", (_name, snapshots) => {
  // Nobody's bulk is cheap (nothing is found, so no fixpoint round): only the grants walk long.
  it.each(["u", "c"])("lets other calls run, and answers as Check does (user %s)", async (who) => {
    const engine = await uncachedEngineOver(SCHEMA, ringRows(LEVELS), snapshots);
    const turns = turnCounter();
    const result = await engine.checkBulk(bulk(who));
    expect(turns.stop()).toBeGreaterThan(0);
    // Under the depth limit: the bulk answers each item as a check of it alone does.
    const states = result.results.map((r) => (r.ok ? r.state : r.error.code));
    const alone: string[] = [];
    for (const item of bulk(who).items) alone.push((await engine.check(item)).state);
    expect(states).toEqual(alone);
    expect(new Set(states)).toEqual(new Set([who === "u" ? "ALLOWED" : "CONDITIONAL"]));
  });

  it("stops at its deadline while it walks", async () => {
    const engine = await uncachedEngineOver(SCHEMA, ringRows(LEVELS), snapshots);
    // Aborted by another call's turn: only a walk that yields lets that turn come.
    const signal = { aborted: false };
    setImmediate(() => {
      signal.aborted = true;
    });
    await expect(engine.checkBulk(bulk("u"), { signal })).rejects.toMatchObject({
      code: "request/deadline-exceeded",
    });
  });
});
