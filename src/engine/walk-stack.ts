/**
 * The path a check walks: one frame per dispatch, so that a subproblem met again on its own path
 * is recognised as a cycle (see `onStack`), plus the facts a frame gathers while it is computed.
 *
 * Depth, the one definition both walks (evaluator.ts, snapshot-walk.ts), explain and the lookups
 * use: the number of dispatch hops from the checked resource. The resource's own permission is
 * depth 1; each step to another object (an arrow, a subject set) and each step to another
 * permission of the same object adds one; reading the object's own relation (`viewer` in
 * `view = viewer + parent->view`) does not. A check that needs a subproblem deeper than the
 * engine's `maxDepth` (`--max-depth`, default 50) fails with `check/max-depth-exceeded`, on every
 * path: a remembered answer (cache, memo, single-flight) keeps the height it needed and is only
 * used where the depth left covers it, and the subject's memberships found upwards
 * (membership-index.ts) only where all of their levels fit.
 */
import { LatchError } from "../core/index.js";
import type { CycleWalk } from "./fixpoint.js";

/** The ids of one dispatch frame on the current path. */
export interface Stack {
  readonly parent: Stack | undefined;
  readonly label: string;
  readonly ids: ReadonlySet<string>;
  /** The frame's place on the path (1, 2, 3 ...): cycle cuts point at it. */
  readonly depth: number;
  /** Dispatch hops from the resource, as the depth limit counts them (see above). */
  readonly hops: number;
  /** How many exclusion right-hand sides enclose this frame. */
  readonly neg: number;
  /** For each id, the ids of the parent frame it was reached from; absent: the same ids. */
  readonly origin: Origin | undefined;
  /** The walk this frame belongs to (fixpoint.ts): how it answers cycles. */
  readonly walk: CycleWalk;
}

/** Callee id -> the caller frame's ids that led to it. */
export type Origin = ReadonlyMap<string, readonly string[]>;

/** Facts gathered while computing a frame. */
export interface Acc {
  /** Shallowest frame depth a cycle cut pointed to (Infinity: none). */
  minCut: number;
  /** Earliest expiration among relationships read (ms since epoch; Infinity: none). */
  validUntil: number;
  /** Deepest depth the frame's answer needed (itself, its callees, the heights of answers reused). */
  deepest: number;
}

/** The frame above a walk's checked objects: holds nothing, carries `walk` to every frame. */
export function baseFrame(walk: CycleWalk): Stack {
  return { parent: undefined, label: "", ids: new Set(), depth: 0, hops: 0, neg: 0, origin: undefined, walk };
}

/** A frame's facts before anything is gathered. */
export const freshAcc = (): Acc => ({
  minCut: Number.POSITIVE_INFINITY,
  validUntil: Number.POSITIVE_INFINITY,
  deepest: 0,
});

/** A cycle `onStack` found: the frame it points at, and whether it passes through an exclusion. */
export interface CycleCut {
  /** The shallowest frame where the subproblem is already being computed on a path through it. */
  readonly depth: number;
  /**
   * The path from the nearest such frame to here enters the right-hand side of an exclusion (or
   * leaves one): recursion that is not stratified, which has no defined answer. The walk carries
   * it as the `UNSTRATIFIED` leaf (membership.ts), an error only when the check's answer depends
   * on it.
   */
  readonly throughExclusion: boolean;
  /**
   * Every path through the subproblem meets it again: a cycle wherever its answer is used, so "no"
   * is exact. Otherwise the cut is a cycle on some paths only (a sibling's path merged into its
   * own), and the walk is done again as a fixpoint (fixpoint.ts).
   */
  readonly exact: boolean;
}

/**
 * Paths `onStack` follows up for one id, counted by id and frame, before it gives up. A batch of
 * a thousand items whose paths all merge (hostile data, or a CheckBulk over a cyclic graph) would
 * otherwise cost a thousand ids at every frame of the path, for every id at every dispatch.
 */
const PATH_BUDGET = 1_024;

/**
 * The cut `onStack` answers without following paths: partial, which is sound (the walk is done
 * again as a fixpoint, whose rounds find the answer of the frame that holds the id, cycle or not),
 * pointing at the shallowest frame holding the id (caching less, never more). Where every frame
 * holding the id is on this side of every exclusion (`neg` only grows down the path), that is all.
 * Otherwise the cut is taken as through one, which can turn an id an ancestor merely holds into
 * `check/cycle-through-exclusion` where its answer depends on it: only past `PATH_BUDGET`, on data
 * built to get there, an error rather than a guess.
 */
function unfollowed(top: Stack, neg: number): CycleCut {
  return { depth: top.depth, throughExclusion: top.neg !== neg, exact: false };
}

/**
 * Where `id` of `label` is already being computed on a path to here, or undefined. Batches merge
 * paths: a frame holding the id as a mere sibling (two documents in one folder chain) is not a
 * cycle, so the walk follows `origin` upwards, path by path, and only a frame reached through the
 * id itself counts; the paths that met it there end, and the others go on up. Paths follow each
 * id's recorded callers, so they can over-approximate, never miss one: an exact cut is exact. Past
 * `PATH_BUDGET` it stops following them (see `unfollowed`).
 */
export function onStack(
  stack: Stack,
  label: string,
  id: string,
  neg: number,
  origin: Origin | undefined,
): CycleCut | undefined {
  // The shallowest frame holding the id: the walk below need not go past it.
  let top: Stack | undefined;
  for (let s: Stack | undefined = stack; s !== undefined; s = s.parent)
    if (s.label === label && s.ids.has(id)) top = s;
  if (top === undefined) return undefined;
  // A walk to be done again as a fixpoint, or being one, has no use for knowing that a cut is
  // exact (a round assumes every cut alike), so its paths are followed only where an exclusion
  // lies between here and a frame holding the id (whether the id's cycle crosses it decides).
  if (top.neg === neg && (stack.walk.partial || stack.walk.levels !== undefined)) return unfollowed(top, neg);
  let budget = PATH_BUDGET;
  // The ids, at the frame reached, of the paths still open (most often one: no copy made then).
  let open: readonly string[] = origin?.get(id) ?? [id];
  let depth = Number.POSITIVE_INFINITY;
  let throughExclusion = false;
  for (let s: Stack | undefined = stack; s !== undefined; s = s.parent) {
    if (s.label === label && s.ids.has(id) && open.includes(id)) {
      if (depth === Number.POSITIVE_INFINITY) throughExclusion = s.neg !== neg;
      depth = s.depth;
      // Cycles are rare: a copy only for them.
      open = open.filter((x) => x !== id);
      if (open.length === 0) return { depth, throughExclusion, exact: true };
    }
    if (s === top) break;
    const o = s.origin;
    if (o === undefined) continue;
    budget -= open.length;
    if (budget < 0) return unfollowed(top, neg);
    open = callers(o, open, s.parent);
    if (open.length === 0) break;
  }
  return depth === Number.POSITIVE_INFINITY ? undefined : { depth, throughExclusion, exact: false };
}

/** The ids of `parent` that `ids` were reached from (all of them for an id of unknown provenance). */
function callers(o: Origin, ids: readonly string[], parent: Stack | undefined): readonly string[] {
  if (ids.length === 1) return o.get(ids[0]!) ?? [...(parent?.ids ?? [])];
  const up = new Set<string>();
  for (const x of ids) {
    const from = o.get(x);
    for (const y of from ?? parent?.ids ?? []) up.add(y);
  }
  return [...up];
}

/**
 * The error for a check whose answer depends on a cycle through an exclusion: `label`
 * (`type#relation`) met again at `at` (`type:id#relation`).
 */
export function cycleThroughExclusion(label: string, at: string): LatchError {
  return new LatchError(
    "check/cycle-through-exclusion",
    "failed-precondition",
    `${label} depends on itself through the right-hand side of an exclusion`,
    { at },
  );
}

/**
 * A check or lookup whose answer depends on a subproblem deeper than `maxDepth` (at `at`): what
 * it lists or decides depends on what lies down there, so it fails rather than guess.
 */
export function maxDepthExceeded(operation: "check" | "lookup", maxDepth: number, at: string): LatchError {
  return new LatchError(
    "check/max-depth-exceeded",
    "failed-precondition",
    `${operation} exceeded the maximum depth of ${maxDepth} at ${at}; the data nests too deep (raise --max-depth, or flatten the hierarchy)`,
    { maxDepth, at },
  );
}
