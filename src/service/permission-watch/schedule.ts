/**
 * How work reaches each kept set: every set has its own queue of at most one waiting item, into
 * which later steps merge (their ids joined, the newest revision kept), so a set that is slow to
 * update (a wide re-check, a whole recomputation) falls behind alone and then catches up in one
 * go, while the others move on. A few sets update at once (`Slots`), whichever they are.
 */
import type { Revision } from "../../core/index.js";

/** What one set owes: re-check `ids` (or recompute it whole) at `target`. */
export interface GroupWork {
  readonly whole: boolean;
  readonly ids: ReadonlySet<string>;
  readonly target: Revision;
  readonly token: string;
}

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
