/**
 * What a test needs to drive the in-memory walk itself over a store's copy: the revision now, its
 * plan, the engine's dependencies with no shared cache (each answer is the walk's own) and the
 * copy's snapshot at that revision.
 */
import { DEFAULT_CONTEXT_LIMITS, type Revision } from "../../src/core/index.js";
import { CheckDeps } from "../../src/engine/check-deps.js";
import { createRevisions } from "../../src/engine/revisions.js";
import type { Store } from "../../src/store/index.js";

export async function walkSetting(store: Store, maxDepth = 50) {
  const revisions = createRevisions(store, 0);
  const revision: Revision = await revisions.resolve({ kind: "fully-consistent" });
  const plan = await revisions.planAt(revision);
  const limits = {
    maxDepth,
    maxBulkItems: 1000,
    maxContextual: 100,
    maxCaveatCost: undefined,
    contextLimits: DEFAULT_CONTEXT_LIMITS,
  };
  const deps = new CheckDeps(store, limits, revisions, undefined, undefined);
  const snapshot = store.at(revision).snapshot?.();
  if (snapshot === undefined) throw new Error("the store offers no snapshot");
  return { revision, plan, deps, snapshot };
}
