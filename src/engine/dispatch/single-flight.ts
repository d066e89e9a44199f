/**
 * The single-flight decorator: while a request computes some subproblems, others asking the same
 * ones (same key) wait for its answers instead of computing them again. Only requests that share
 * their results take part (`ctx.state` set: not an explanation, no contextual relationships).
 *
 * Waits never deadlock: each request records whom it waits on (`RequestState.waitingOn`), and a
 * request does not wait on a flight whose owner waits, directly or down the chain, on it
 * (`waitsFor`); it computes that subproblem itself instead. A waiter uses an answer only where
 * the owner could have cached it (no cycle cut) and where its height fits the depth left.
 */
import type { Memberships } from "../membership.js";
import type {
  CachedResult,
  DispatchContext,
  Dispatched,
  Dispatcher,
  RequestState,
  Subproblem,
} from "./types.js";
import { answered, narrow } from "./types.js";

/** A flight's answer for one id; `null` tells waiters to compute it themselves (path-dependent result). */
export type FlightResult = CachedResult | null;

/**
 * Subproblems being computed by one dispatch (one entry per key, all pointing here). The promise
 * for an id is made only when someone waits for it: most flights are never waited on.
 */
export interface Flight {
  readonly owner: RequestState;
  wait(id: string): Promise<FlightResult>;
}

/** One object per dispatch (no closures): most flights are never waited on. */
export class OwnFlight implements Flight {
  private waiters: Map<string, ((r: FlightResult) => void)[]> | undefined;
  private m: Memberships | undefined;
  private done: Dispatched | undefined;
  private settled = false;

  constructor(
    readonly owner: RequestState,
    /** The ids the flight was registered for. */
    private readonly ids: readonly string[],
  ) {}

  wait(id: string): Promise<FlightResult> {
    if (this.settled) return Promise.resolve(this.answer(id));
    return new Promise<FlightResult>((resolve) => {
      this.waiters ??= new Map();
      const list = this.waiters.get(id);
      if (list === undefined) this.waiters.set(id, [resolve]);
      else list.push(resolve);
    });
  }

  /** Hands waiters their answers: `done` undefined when the computation failed. */
  settle(m: Memberships, done: Dispatched | undefined): void {
    this.m = m;
    this.done = done;
    this.settled = true;
    if (this.waiters === undefined) return;
    for (const [id, list] of this.waiters) {
      const r = this.answer(id);
      for (const resolve of list) resolve(r);
    }
    this.waiters = undefined;
  }

  private answer(id: string): FlightResult {
    const done = this.done;
    if (done === undefined || !done.cacheable) return null;
    // Only what this flight's computation answered itself is handed on.
    if (done.ids !== this.ids && !done.ids.includes(id)) return null;
    return { m: this.m!.get(id), until: done.until, height: done.height };
  }
}

/** Whether `owner` is `me` or waits, down its chain of waits, on `me`. */
export function waitsFor(owner: RequestState, me: RequestState): boolean {
  for (let o: RequestState | undefined = owner; o !== undefined; o = o.waitingOn) if (o === me) return true;
  return false;
}

export class SingleFlightDispatcher<C extends DispatchContext> implements Dispatcher<C> {
  /** Subproblems in flight in any request, by key. */
  private readonly flights = new Map<string, Flight>();

  constructor(private readonly next: Dispatcher<C>) {}

  dispatch(p: Subproblem<C>): Promise<Dispatched> {
    const state = p.ctx.state;
    if (state === undefined || p.keys.length === 0) return this.next.dispatch(p);
    // Most dispatches find no flight to join: they make no promise for the search.
    for (const key of p.keys) {
      const flight = this.flights.get(key);
      if (flight !== undefined && !waitsFor(flight.owner, state)) return this.joining(p, state);
    }
    return this.flying(p, state);
  }

  /** Waits for the flights of others, then computes what they could not answer. */
  private async joining(p: Subproblem<C>, state: RequestState): Promise<Dispatched> {
    const room = p.ctx.maxDepth - p.hops + 1;
    const all = p.ids;
    const keys = p.keys;
    let ids: string[] | undefined;
    let left: string[] | undefined;
    for (let i = 0; i < all.length; i++) {
      const id = all[i]!;
      const flight = this.flights.get(keys[i]!);
      let shared: FlightResult = null;
      if (flight !== undefined && !waitsFor(flight.owner, state)) {
        state.waitingOn = flight.owner;
        try {
          shared = await flight.wait(id);
        } finally {
          state.waitingOn = undefined;
        }
      }
      if (shared === null || shared.height > room) {
        if (ids !== undefined) {
          ids.push(id);
          left!.push(keys[i]!);
        }
        continue;
      }
      if (ids === undefined) {
        ids = all.slice(0, i);
        left = keys.slice(0, i);
      }
      if (shared.m !== undefined) p.m.set(id, shared.m);
      const acc = p.acc;
      if (shared.until < acc.validUntil) acc.validUntil = shared.until;
      if (acc.deepest < p.hops + shared.height - 1) acc.deepest = p.hops + shared.height - 1;
    }
    if (ids === undefined) return this.flying(p, state);
    if (ids.length === 0) return answered(p);
    return this.flying(narrow(p, ids, left!), state);
  }

  /** Computes `p` under a flight of its own, which others asking the same keys meanwhile join. */
  private async flying(p: Subproblem<C>, state: RequestState): Promise<Dispatched> {
    const flights = this.flights;
    const flight = new OwnFlight(state, p.ids);
    // A key already in flight is one this request may not wait on (see `waitsFor`): leave it be.
    for (const key of p.keys) if (!flights.has(key)) flights.set(key, flight);
    let done: Dispatched | undefined;
    try {
      done = await this.next.dispatch(p);
      return done;
    } finally {
      for (const key of p.keys) if (flights.get(key) === flight) flights.delete(key);
      flight.settle(p.m, done);
    }
  }
}
