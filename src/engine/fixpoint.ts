/**
 * Cycles the batched evaluator cannot cut exactly, answered as a fixpoint.
 *
 * The evaluator asks many objects in one frame, so a frame's paths are merged (walk-stack.ts): a
 * subproblem met again can be a cycle on some of the paths through it and not on others. A cut
 * that is a cycle on every path (`exact`) is what a walk one object at a time would cut, and the
 * walk stands. One that is not (`partial`) would deny the paths it is no cycle on, so the walk
 * that met one is done again, as Kleene iteration: each subproblem cut is assumed to have the
 * answers it was found to have in the round before (none in the first), until no assumption
 * grows. Every answer a round computes lies between the least fixpoint's `k`-th step and the least
 * fixpoint itself (the operators are monotone), so when the assumptions stop growing the answers
 * are the least fixpoint: what the path semantics (a subproblem on its own path is "no") answers
 * for the checked object.
 *
 * Exclusions are not monotone in their right-hand side. Recursion through one has no answer
 * (walk-stack.ts, `throughExclusion`), so every cycle of a right-hand side stays inside it: each
 * right-hand side a round evaluates settles its own assumptions first (`settle` at its level, the
 * number of exclusions that enclose it), and the level above only ever sees its final answers.
 *
 * Such a walk keeps nothing that met a cut (its answers rest on assumptions until the end); it
 * reads and keeps the others as any walk does. Walking one object at a time instead was exact but
 * exponential in the paths of sibling cycles; a round here costs what the first walk did, and the
 * rounds are few: a denied check ends after one (nothing was assumed, nothing found).
 */
import { LatchError } from "../core/index.js";
import { type CaveatExpr, type CaveatLeaf, type Member, orMember } from "./membership.js";
import type { Out } from "./traces.js";
import { joinProofs, type Proof } from "./witness.js";

/** What a subproblem cut as a cycle was found to be, with its proof when witnessing. */
interface Assumed {
  readonly m: Member | undefined;
  readonly w: Proof;
}

/** One level's round: what it assumes, which subproblems it cut, and what it found for them. */
interface Level {
  readonly assumed: Map<string, Assumed>;
  cut: Set<string>;
  found: Map<string, Assumed>;
}

/** Nothing found yet: a round's first cuts are a plain "no", as in the walk before. */
const NOTHING: Assumed = { m: undefined, w: undefined };

/**
 * Rounds a level may take before the check fails rather than loop (a few are the rule), unless
 * the walk allows more (`CycleWalk.maxRounds`). Each round carries what was found at least one cut
 * further, so answers without caveats settle within the depth limit's hops plus one: a chain of
 * cycles as long as the limit allows takes that many (measured: about one round per two rings of
 * subject sets).
 */
const MAX_ROUNDS = 64;
/** Distinct caveats two answers with a negation may hold for `implies` to compare them by truth table. */
const MAX_LEAVES = 12;

/** One walk's cycle bookkeeping, shared by every frame of the walk through `Stack.walk`. */
export class CycleWalk {
  /** A cut in this walk was a cycle on some of its paths only: the walk must be done again. */
  partial = false;
  /** When walking again: each exclusion level's round (index: `neg`); undefined otherwise. */
  levels: (Level | undefined)[] | undefined;

  constructor(readonly maxRounds = MAX_ROUNDS) {}
}

/** The rounds a walk under `maxDepth` may take: at least the limit plus two (see MAX_ROUNDS). */
export const roundsFor = (maxDepth: number): number => Math.max(MAX_ROUNDS, maxDepth + 2);

const goal = (label: string, id: string) => `${label}:${id}`;

/** In a fixpoint round: records that `id` of `label` was cut, and returns what it is assumed to be. */
export function assume(walk: CycleWalk, neg: number, label: string, id: string): Assumed {
  const level = walk.levels?.[neg];
  if (level === undefined) return NOTHING;
  const key = goal(label, id);
  level.cut.add(key);
  return level.assumed.get(key) ?? NOTHING;
}

/** In a fixpoint round: keeps what a frame found for the subproblems this round cut. */
export function noteFound(
  walk: CycleWalk,
  neg: number,
  label: string,
  ids: readonly string[],
  out: Out,
): void {
  const level = walk.levels?.[neg];
  if (level === undefined || level.cut.size === 0) return;
  for (const id of ids) {
    const key = goal(label, id);
    const m = out.m.get(id);
    if (m === undefined || !level.cut.has(key)) continue;
    const w = out.w?.get(id);
    const prev = level.found.get(key);
    level.found.set(key, prev === undefined ? { m, w } : join(prev, { m, w }));
  }
}

/** Both answers; a plain yes is proved by its own proof alone (as a union's branch, operators.ts). */
const join = (a: Assumed, b: Assumed): Assumed => ({
  m: orMember(a.m, b.m),
  w: b.m === true ? b.w : a.m === true ? a.w : joinProofs(a.w, b.w),
});

/**
 * `run` (the walk of one level: the checked objects at 0, an exclusion's right-hand side below)
 * done in rounds until its assumptions settle, or until every object in `ids` is a plain yes,
 * which no assumption can raise. Returns the last round's answers.
 */
export async function settle(
  walk: CycleWalk,
  neg: number,
  ids: readonly string[],
  run: () => Promise<Out>,
): Promise<Out> {
  walk.levels ??= [];
  const levels = walk.levels;
  const saved = levels[neg];
  const level: Level = { assumed: new Map(), cut: new Set(), found: new Map() };
  levels[neg] = level;
  try {
    for (let round = 1; ; round++) {
      level.cut = new Set();
      level.found = new Map();
      const out = await run();
      if (ids.every((id) => out.m.get(id) === true) || !widen(level)) return out;
      if (round >= walk.maxRounds) {
        throw new LatchError(
          "check/cycle-unsettled",
          "failed-precondition",
          `the answers of a cycle did not settle in ${walk.maxRounds} rounds: they hold too many caveats to compare (more than ${MAX_LEAVES} under an exclusion, or more than ${MAX_TERMS} ways to hold)`,
          { rounds: walk.maxRounds },
        );
      }
    }
  } finally {
    levels[neg] = saved;
  }
}

/** Adds what the round found to what the next one assumes; whether anything grew. */
function widen(level: Level): boolean {
  let grew = false;
  for (const [key, f] of level.found) {
    const prev = level.assumed.get(key) ?? NOTHING;
    if (implies(f.m, prev.m)) continue;
    const next = join(prev, f);
    level.assumed.set(key, { m: compact(next.m), w: next.w });
    grew = true;
  }
  return grew;
}

/**
 * Whether `a` holds wherever `b` does (undefined: never holds), whatever the caveats decide.
 * Rounds build the same answer in ever new shapes (`x`, then `x | x & y`), so shapes alone would
 * never settle. Compared by minimal terms (see `terms`); with a negation by truth table, and past
 * `MAX_LEAVES` caveats there "no": another round rather than a wrong stop.
 */
export function implies(a: Member | undefined, b: Member | undefined): boolean {
  if (a === undefined || b === true) return true;
  if (b === undefined || a === true) return false;
  const leaves = new Leaves();
  const ta = terms(a, leaves);
  const tb = ta === undefined ? undefined : terms(b, leaves);
  // Each way `a` holds holds `b` too: it contains one of `b`'s.
  if (ta !== undefined && tb !== undefined) return ta.every((x) => tb.some((y) => (x & y) === y));
  leaves.count(a);
  if (leaves.count(b) > MAX_LEAVES) return false;
  for (let bits = 0n; bits < 1n << BigInt(leaves.size); bits++) {
    if (holds(a, leaves, bits) && !holds(b, leaves, bits)) return false;
  }
  return true;
}

/**
 * `m` in its smallest form, for what the next round assumes: the union of its minimal sets of
 * caveats. Each cut a round meets copies the answer assumed for it into what it finds, so found
 * answers grow round after round while meaning no more. An answer with a negation (an exclusion's
 * caveats: not monotone), or of more than `MAX_TERMS` terms, is kept as it is.
 */
export function compact(m: Member | undefined): Member | undefined {
  if (m === undefined || m === true) return m;
  const leaves = new Leaves();
  const t = terms(m, leaves);
  if (t === undefined) return m;
  if (t.includes(0n)) return true;
  const out: CaveatExpr[] = t.map((bits) => {
    const members = leaves.objects.filter((_, i) => ((bits >> BigInt(i)) & 1n) === 1n);
    return members.length === 1 ? members[0]! : { op: "and", children: members };
  });
  return out.length === 1 ? out[0]! : { op: "or", children: out };
}

/** Most terms `terms` keeps before it gives up, and most it compares at once (`minimal` is quadratic). */
const MAX_TERMS = 256;
const MAX_CANDIDATES = 4 * MAX_TERMS;

/**
 * A monotone expression as its minimal terms: sets of leaves (bits, numbered by `leaves`) each of
 * which makes it hold, none containing another. Undefined with a negation or past `MAX_TERMS`.
 */
function terms(e: CaveatExpr, leaves: Leaves): bigint[] | undefined {
  switch (e.op) {
    case "caveat":
      return [1n << BigInt(leaves.of(e))];
    case "not":
      return undefined;
    case "or": {
      const out: bigint[] = [];
      for (const c of e.children) {
        const t = terms(c, leaves);
        if (t === undefined) return undefined;
        for (const x of t) out.push(x);
        if (out.length > MAX_CANDIDATES) return undefined;
      }
      const kept = minimal(out);
      return kept.length > MAX_TERMS ? undefined : kept;
    }
    case "and": {
      let out: bigint[] = [0n];
      for (const c of e.children) {
        const t = terms(c, leaves);
        if (t === undefined || out.length * t.length > MAX_CANDIDATES) return undefined;
        const product: bigint[] = [];
        for (const x of out) for (const y of t) product.push(x | y);
        out = minimal(product);
        if (out.length > MAX_TERMS) return undefined;
      }
      return out;
    }
  }
}

/** `ts` without repeats and without any term that contains another. */
function minimal(ts: readonly bigint[]): bigint[] {
  const sorted = [...new Set(ts)].sort((a, b) => ones(a) - ones(b));
  const out: bigint[] = [];
  for (const t of sorted) if (!out.some((k) => (k & t) === k)) out.push(t);
  return out;
}

const ones = (bits: bigint): number => {
  let n = 0;
  for (let b = bits; b !== 0n; b &= b - 1n) n++;
  return n;
};

/** Caveat leaves numbered as met, one number per name and context. */
class Leaves {
  private readonly index = new Map<string, number>();
  readonly objects: CaveatLeaf[] = [];

  get size(): number {
    return this.objects.length;
  }

  of(e: CaveatLeaf): number {
    const key = `${e.name}\u0000${JSON.stringify(e.context ?? null)}`;
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.objects.length;
      this.index.set(key, i);
      this.objects.push(e);
    }
    return i;
  }

  /** Numbers the leaves of `e`; how many there are now. */
  count(e: CaveatExpr): number {
    if (e.op === "caveat") this.of(e);
    else if (e.op === "not") this.count(e.child);
    else for (const c of e.children) this.count(c);
    return this.size;
  }
}

function holds(e: CaveatExpr, leaves: Leaves, bits: bigint): boolean {
  switch (e.op) {
    case "caveat":
      return ((bits >> BigInt(leaves.of(e))) & 1n) === 1n;
    case "not":
      return !holds(e.child, leaves, bits);
    case "and":
      return e.children.every((c) => holds(c, leaves, bits));
    case "or":
      return e.children.some((c) => holds(c, leaves, bits));
  }
}
