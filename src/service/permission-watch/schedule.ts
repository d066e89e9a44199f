/**
 * How work reaches each kept set: every set has its own queue of at most one waiting item, into
 * which later steps merge (their ids joined, the newest revision kept), so a set that is slow to
 * update (a wide re-check, a whole recomputation) falls behind alone and then catches up in one
 * go, while the others move on. A few sets update at once (`Slots`), whichever they are.
 */
import type { Group, GroupWork } from "./group.js";

/**
 * Two items of work as one, at the later revision. Exact because each item's ids and changes are
 * a superset of what may have changed between its set's revision and its target: the union
 * covers both intervals, every id is re-checked at the later revision, and the changes of both
 * are walked at the later revision (a path from a changed object still exists there, or one of
 * its edges changed in the interval and is itself among the changes walked).
 */
export function mergeWork(earlier: GroupWork | undefined, later: GroupWork): GroupWork {
  if (earlier === undefined) return later;
  const whole = earlier.whole || later.whole;
  if (whole)
    return { whole, ids: new Set(), walk: [], graph: undefined, target: later.target, token: later.token };
  let ids: ReadonlySet<string> = later.ids;
  if (earlier.ids.size > 0) {
    const joined = new Set(earlier.ids);
    for (const id of later.ids) joined.add(id);
    ids = joined;
  }
  const walk = earlier.walk.length === 0 ? later.walk : [...earlier.walk, ...later.walk];
  // A schema change in between makes the item whole: both graphs are the same one otherwise.
  const graph = later.graph ?? earlier.graph;
  return { whole, ids, walk, graph, target: later.target, token: later.token };
}

/** Work that is quick to do: a few re-checks, nothing to walk, no whole lookup. */
export function isCheap(work: GroupWork, floor: number): boolean {
  return !work.whole && work.walk.length === 0 && work.ids.size <= floor;
}

/**
 * At most `size` tasks at once; the others wait, cheap ones first: a set with a few re-checks
 * to do is not kept behind sets walking or looking up thousands of resources. So that a steady
 * stream of cheap work cannot starve the costly, every `FAIR_EVERY`th free slot goes to the
 * costly queue when it has anyone waiting.
 */
export class Slots {
  private free: number;
  private readonly cheap: (() => void)[] = [];
  private readonly costly: (() => void)[] = [];
  private granted = 0;

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async run<T>(task: () => Promise<T>, cheap = true): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => (cheap ? this.cheap : this.costly).push(resolve));
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const fair = ++this.granted % FAIR_EVERY === 0;
    const next = (fair ? this.costly.shift() : undefined) ?? this.cheap.shift() ?? this.costly.shift();
    if (next === undefined) this.free++;
    else next();
  }
}

/** One slot in so many goes to costly work waiting behind cheap work. */
const FAIR_EVERY = 4;

export interface Runner {
  /** Where sets update: at most so many at once. */
  readonly slots: Slots;
  /** Whether an item of work is cheap (goes ahead of costly items waiting for a slot). */
  cheap(work: GroupWork): boolean;
  /** Whether the set is still kept (a dropped set's queue stops). */
  live(group: Group): boolean;
  update(group: Group, work: GroupWork): Promise<void>;
  /** The set could not be updated: its own subscriptions end, not the others'. */
  failed(group: Group, error: unknown): void;
}

/** Hands a set its work: merged into what it already owes, and its queue started if idle. */
export function enqueuer(runner: Runner): (group: Group, work: GroupWork) => void {
  async function run(group: Group): Promise<void> {
    try {
      while (group.owed !== undefined && runner.live(group)) {
        const work = group.owed;
        group.owed = undefined;
        await runner.slots.run(() => runner.update(group, work), runner.cheap(work));
      }
    } catch (error) {
      runner.failed(group, error);
    } finally {
      group.owed = undefined;
      group.busy = false;
    }
  }
  return (group, work) => {
    group.owed = mergeWork(group.owed, work);
    if (group.busy) return;
    group.busy = true;
    void run(group);
  };
}
