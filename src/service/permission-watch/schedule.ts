/**
 * How work reaches each kept set: every set has its own queue of at most one waiting item, into
 * which later steps merge (their ids joined, the newest revision kept), so a set that is slow to
 * update (a wide re-check, a whole recomputation) falls behind alone and then catches up in one
 * go, while the others move on. A few sets update at once (`Slots`), whichever they are.
 */
import type { Group, GroupWork } from "./group.js";

/**
 * Two items of work as one, at the later revision. Exact because each item's ids are a superset
 * of what may have changed between its set's revision and its target: the union covers both
 * intervals, and every id is re-checked at the later revision.
 */
export function mergeWork(earlier: GroupWork | undefined, later: GroupWork): GroupWork {
  if (earlier === undefined) return later;
  const whole = earlier.whole || later.whole;
  let ids: ReadonlySet<string> = later.ids;
  if (!whole && earlier.ids.size > 0) {
    const joined = new Set(earlier.ids);
    for (const id of later.ids) joined.add(id);
    ids = joined;
  }
  return { whole, ids: whole ? new Set() : ids, target: later.target, token: later.token };
}

/** At most `size` tasks at once; the others wait in arrival order. */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.free++;
      else next();
    }
  }
}

export interface Runner {
  /** Where sets update: at most so many at once. */
  readonly slots: Slots;
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
        await runner.slots.run(() => runner.update(group, work));
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
