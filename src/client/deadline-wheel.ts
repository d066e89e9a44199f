/**
 * Deadlines of many calls on a few timers.
 *
 * Why: a timer per call (setTimeout, then clearTimeout when the answer comes) cost the client a
 * measurable share of a check; almost every call carries the default deadline and ends long before
 * it. Calls with the same timeout expire in the order they started, so each timeout keeps its calls
 * in one FIFO list (a call is its own list node: adding and removing are O(1)) under one timer armed
 * for its oldest call. A call that ends only unlinks itself; the timer, when it fires, expires what
 * is due and re-arms for the next, or goes away with an empty list. Timeouts are grouped by value:
 * exact below 128 ms, else to within 1/128 of it, so a call sharing a list with a slightly longer
 * timeout may expire up to that much late (never early); the server, which gets the deadline as
 * `grpc-timeout`, ends the call on time regardless.
 */

/** A call with a deadline: the wheel links it into its list and calls `expire()` when due. */
export interface Expiring {
  /** `Date.now()` at which it expires; set by `add`. */
  deadlineAt: number;
  /** Set while linked; managed by the wheel. */
  lane: Lane | undefined;
  prev: Expiring | undefined;
  next: Expiring | undefined;
  expire(): void;
}

export interface Lane {
  readonly key: number;
  head: Expiring | undefined;
  tail: Expiring | undefined;
  timer: NodeJS.Timeout | undefined;
}

function laneKey(timeoutMs: number): number {
  if (timeoutMs < 128) return timeoutMs;
  const step = 2 ** (Math.floor(Math.log2(timeoutMs)) - 7);
  return Math.ceil(timeoutMs / step) * step;
}

export class DeadlineWheel {
  private readonly lanes = new Map<number, Lane>();
  /**
   * The lane of the last timeout added: almost every call has the default one, so `add` mostly
   * skips laneKey (a Math.pow, which callgrind showed in every call) and the Map lookup.
   */
  private lastMs = 0;
  private lastLane: Lane | undefined = undefined;

  /** Starts `entry`'s deadline, `timeoutMs` (at least 1) from now. */
  add(entry: Expiring, timeoutMs: number): void {
    const ms = Math.max(1, Math.ceil(timeoutMs));
    let lane = ms === this.lastMs ? this.lastLane : undefined;
    if (lane === undefined) lane = this.laneOf(ms);
    entry.deadlineAt = Date.now() + ms;
    entry.lane = lane;
    entry.next = undefined;
    entry.prev = lane.tail;
    if (lane.tail === undefined) lane.head = entry;
    else lane.tail.next = entry;
    lane.tail = entry;
    if (lane.timer === undefined) this.arm(lane, ms);
  }

  private laneOf(ms: number): Lane {
    const key = laneKey(ms);
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = { key, head: undefined, tail: undefined, timer: undefined };
      this.lanes.set(key, lane);
    }
    this.lastMs = ms;
    this.lastLane = lane;
    return lane;
  }

  /** Stops `entry`'s deadline (it ended); nothing when it is not linked. */
  remove(entry: Expiring): void {
    const lane = entry.lane;
    if (lane === undefined) return;
    const { prev, next } = entry;
    if (prev === undefined) lane.head = next;
    else prev.next = next;
    if (next === undefined) lane.tail = prev;
    else next.prev = prev;
    entry.lane = undefined;
    entry.prev = undefined;
    entry.next = undefined;
  }

  private arm(lane: Lane, ms: number): void {
    lane.timer = setTimeout(() => this.fire(lane), Math.max(1, ms));
    // In-flight calls keep the process alive through their connection, not through this timer.
    lane.timer.unref();
  }

  private fire(lane: Lane): void {
    lane.timer = undefined;
    const now = Date.now();
    for (let e = lane.head; e !== undefined && e.deadlineAt <= now; e = lane.head) {
      this.remove(e);
      e.expire();
    }
    if (lane.head !== undefined) this.arm(lane, lane.head.deadlineAt - now);
    else if (this.lanes.get(lane.key) === lane) {
      this.lanes.delete(lane.key);
      if (this.lastLane === lane) this.lastLane = undefined;
    }
  }
}

/** The one wheel of the process: every transport and batcher shares its timers. */
export const deadlines = new DeadlineWheel();
