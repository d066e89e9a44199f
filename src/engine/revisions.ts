/**
 * Picks the revision a request reads at, and the compiled plan of the schema at that revision.
 *
 * `minimize-latency` reuses the current revision for `quantizationMs` (default 100 ms): requests
 * inside one window share a revision, hence cache entries, at the cost of seeing writes up to that
 * much later. The other modes never read an older revision than the client asked for.
 */
import { LatchError, type Revision } from "../core/index.js";
import { compileSchema } from "../schema/index.js";
import { compactedError, type Store } from "../store/index.js";
import { buildPlan, type Plan } from "./plan.js";
import type { Consistency } from "./types.js";

export interface Revisions {
  resolve(consistency: Consistency | undefined): Promise<Revision>;
  planAt(revision: Revision): Promise<Plan>;
}

const PLANS_BY_REVISION = 256;
const PLANS_BY_TEXT = 16;

export function createRevisions(store: Store, quantizationMs: number): Revisions {
  let known: { revision: Revision; at: number } | undefined;
  const byRevision = new Map<Revision, Plan>();
  const byText = new Map<string, Plan>();

  const current = async (): Promise<Revision> => {
    const revision = await store.currentRevision();
    if (known === undefined || revision >= known.revision) known = { revision, at: Date.now() };
    return revision;
  };
  const quantized = async (): Promise<Revision> => {
    if (known !== undefined && Date.now() - known.at < quantizationMs) return known.revision;
    return current();
  };
  const decode = (token: string): Revision => {
    try {
      return store.decodeRevision(token);
    } catch (e) {
      if (e instanceof LatchError) throw e;
      throw new LatchError(
        "revision/invalid-token",
        "invalid-argument",
        "the revision token is not valid",
        {},
        {
          cause: e,
        },
      );
    }
  };
  const notReached = (revision: Revision, current: Revision): LatchError =>
    new LatchError(
      "revision/not-reached",
      "failed-precondition",
      `revision ${revision} is not reached yet (current is ${current})`,
      { revision: revision.toString(), current: current.toString() },
    );

  const revisions: Revisions = {
    async resolve(consistency) {
      switch (consistency?.kind ?? "minimize-latency") {
        case "minimize-latency":
          return quantized();
        case "fully-consistent":
          return current();
        case "at-least-as-fresh": {
          const wanted = decode((consistency as { token: string }).token);
          const q = await quantized();
          if (q >= wanted) return q;
          const now = await current();
          if (now < wanted) throw notReached(wanted, now);
          return now;
        }
        case "at-exact-snapshot": {
          const wanted = decode((consistency as { token: string }).token);
          if (known !== undefined && known.revision >= wanted) return wanted;
          const now = await current();
          if (now < wanted) throw notReached(wanted, now);
          return wanted;
        }
      }
      throw new LatchError("request/invalid-consistency", "invalid-argument", "unknown consistency");
    },

    async planAt(revision) {
      const hit = byRevision.get(revision);
      if (hit !== undefined) return hit;
      const stored = await store.at(revision).readSchema();
      if (stored === undefined) {
        throw new LatchError("check/no-schema", "failed-precondition", "no schema has been written yet");
      }
      let plan = byText.get(stored.text);
      if (plan === undefined) {
        plan = buildPlan(compileSchema(stored.text));
        byText.set(stored.text, plan);
        if (byText.size > PLANS_BY_TEXT) byText.delete(byText.keys().next().value!);
      }
      byRevision.set(revision, plan);
      if (byRevision.size > PLANS_BY_REVISION) byRevision.delete(byRevision.keys().next().value!);
      return plan;
    },
  };
  return retained(store, revisions);
}

/**
 * Keeps requests off compacted history (store/history.ts), whatever picked their revision. Only an
 * exact snapshot is refused: every other mode may read any fresher revision, and the current one
 * is never behind the horizon.
 */
function retained(store: Store, revisions: Revisions): Revisions {
  const horizonOf = store.historyHorizon?.bind(store);
  if (horizonOf === undefined) return revisions;
  return {
    async resolve(consistency) {
      const revision = await revisions.resolve(consistency);
      const horizon = await horizonOf();
      if (horizon === undefined || revision >= horizon.revision) return revision;
      if (consistency?.kind === "at-exact-snapshot") throw compactedError(revision, horizon);
      return revisions.resolve({ kind: "fully-consistent" });
    },
    planAt: (revision) => revisions.planAt(revision),
  };
}
